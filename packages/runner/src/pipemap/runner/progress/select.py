"""Choose a display from ``show_progress`` (docs/behaviour.md §4.9).

``False`` off; ``True`` ipywidgets inside Jupyter, else rich; ``"rich"``; ``"ipywidgets"``;
``"headless"`` tracked but not shown; ``None`` ipywidgets only inside Jupyter (else off).

>>> resolve_mode(True, in_notebook=False), resolve_mode(None, in_notebook=False), resolve_mode(None, in_notebook=True)
('rich', None, 'ipywidgets')
>>> resolve_mode("bar")
Traceback (most recent call last):
...
ValueError: Invalid `show_progress='bar'`: use True, False, None, 'rich', 'ipywidgets' or 'headless'.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

from pipemap.runner.engine._events import HeadlessTracker

if TYPE_CHECKING:
    from .rich_display import RichDisplay
    from .widgets_display import WidgetsDisplay

Mode = Literal["rich", "ipywidgets", "headless"]


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (an IPython ``ZMQInteractiveShell``)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def resolve_mode(show_progress: bool | Mode | None, in_notebook: bool | None = None) -> Mode | None:
    """The display kind for ``show_progress`` (None: no progress at all)."""
    valid = show_progress is None or isinstance(show_progress, bool) or show_progress in ("rich", "ipywidgets", "headless")
    if not valid:
        msg = f"Invalid `show_progress={show_progress!r}`: use True, False, None, 'rich', 'ipywidgets' or 'headless'."
        raise ValueError(msg)
    if show_progress is False:
        return None
    notebook = in_jupyter() if in_notebook is None else in_notebook
    if show_progress is None:
        return "ipywidgets" if notebook else None
    if show_progress is True:
        return "ipywidgets" if notebook else "rich"
    return show_progress


def make_display(mode: Mode | None, tracker: HeadlessTracker) -> RichDisplay | WidgetsDisplay | None:
    """The display listener for ``mode`` (None for ``"headless"`` or off)."""
    if mode == "rich":
        from .rich_display import RichDisplay

        return RichDisplay(tracker)
    if mode == "ipywidgets":
        from .widgets_display import WidgetsDisplay

        return WidgetsDisplay(tracker)
    return None
