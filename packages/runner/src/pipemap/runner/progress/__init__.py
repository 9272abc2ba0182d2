"""Progress displays fed by the run's typed events (``show_progress``, docs/behaviour.md §4.9).

>>> from pipemap.runner.progress import resolve_mode
>>> resolve_mode("headless")
'headless'
"""

from .base import MAX_FPS, ThrottledDisplay, format_seconds, rate_and_eta
from .select import in_jupyter, make_display, resolve_mode
from .status_file import STATUS_FILE, StatusFileWriter

__all__ = [
    "MAX_FPS",
    "STATUS_FILE",
    "StatusFileWriter",
    "ThrottledDisplay",
    "format_seconds",
    "in_jupyter",
    "make_display",
    "rate_and_eta",
    "resolve_mode",
]
