"""The full pipemap API in one namespace: ``import pipemap.api as pm``.

Re-exports the public names of ``pipemap.mapspec``, ``pipemap.storage``,
``pipemap.runner`` and ``pipemap.io``.

>>> import pipemap.api as pm
>>> str(pm.MapSpec.from_string("x[i] -> y[i]"))
'x[i] -> y[i]'
"""

from __future__ import annotations

from pipemap.io import *  # noqa: F403
from pipemap.io import __all__ as _io_all
from pipemap.mapspec import *  # noqa: F403
from pipemap.mapspec import __all__ as _mapspec_all
from pipemap.runner import *  # noqa: F403
from pipemap.runner import __all__ as _runner_all
from pipemap.storage import *  # noqa: F403
from pipemap.storage import __all__ as _storage_all

__all__ = [*_mapspec_all, *_storage_all, *_runner_all, *_io_all, "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipemap`` command line (see ``pipemap --help``).

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.

    Examples
    --------
    >>> import pipemap.io as pio
    >>> main(["status", str(pio.example_run_folder())])  # doctest: +ELLIPSIS
    run folder : ...
    status: complete
    0
    """
    from pipemap.cli import main as cli_main

    return cli_main(argv)
