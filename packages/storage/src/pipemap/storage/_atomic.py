"""Atomic file writes and tolerant element reads (the element encoding is in ``_serialize.py``).

Every file pipemap writes goes through :func:`atomic_write_bytes`: the bytes land in a
temporary file in the destination folder which is then renamed over the target with
``os.replace``. A process killed at any instant leaves the old file (or none) or the new one,
never a torn file. By default the bytes are also synced (``fsync``) before the rename, so a power loss
cannot leave a named but empty file: run metadata, inputs, single values and ``chunked`` packs
(one per write batch and chunk, and every merge) are written that way. Per-element files
(``file_array`` through :func:`atomic_write_many`, ``zarr_file_array`` chunks) are not: one
``fsync`` per element would cost ~0.3 ms each; after a power loss such a file may be empty, reads
then treat it as missing with a :class:`CorruptElementWarning`.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "x.pickle"
>>> atomic_write_bytes(path, serialize(41 + 1))
>>> deserialize(path.read_bytes())
42
"""

from __future__ import annotations

import itertools
import os
import stat
import warnings
from pathlib import Path
from typing import Any, Self

import numpy as np

from ._serialize import (  # noqa: F401 - re-exported: the storage modules import them from here
    PARQUET_MAGIC,
    deserialize,
    serialize,
    serialize_named,
    unpicklable_error,
    unpicklable_part,
)

_counter = itertools.count()
_TMP_MARK = ".tmp-"


class CorruptElementWarning(UserWarning):
    """Warning emitted when a stored element cannot be decoded and is treated as missing.

    The damaged file is moved aside (its bytes kept under a hidden name), so the next resume
    recomputes the element.

    Examples
    --------
    >>> issubclass(CorruptElementWarning, UserWarning)
    True
    """


def temporary_name(target: str) -> str:
    """Return a unique hidden temporary file name next to ``target`` (same folder).

    >>> temporary_name("/a/__1__.pickle").startswith("/a/.__1__.pickle.tmp-")
    True
    """
    folder, _, name = target.rpartition(os.sep)
    return f"{folder}{os.sep}.{name}{_TMP_MARK}{os.getpid()}-{next(_counter)}"


def is_temporary(name: str) -> bool:
    """Return whether a file name is one of our temporary files.

    >>> is_temporary(".__1__.pickle.tmp-12-0")
    True
    """
    return name.startswith(".") and _TMP_MARK in name


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + ``os.replace``).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (its folder must exist).
    data : bytes
        The new content.
    durable : bool, default True
        ``fsync`` the bytes before the name appears, so even a power loss leaves the old file or
        the complete new one (about 0.3 ms per file here).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f"
    >>> atomic_write_bytes(p, b"abc"); p.read_bytes()
    b'abc'
    """
    target = os.fspath(path)
    tmp = temporary_name(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def atomic_write_many(folder: str, names: list[str], payloads: list[bytes]) -> None:
    """Atomically write ``payloads[k]`` to ``folder/names[k]`` (the bulk form of
    :func:`atomic_write_bytes`, with the per-file Python overhead kept to a minimum).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); atomic_write_many(d, ["a", "b"], [b"1", b"22"]); sorted(os.listdir(d))
    ['a', 'b']
    """
    prefix = folder + os.sep
    tmp_prefix = f"{prefix}."
    tmp_mark = f"{_TMP_MARK}{os.getpid()}-"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    open_, write, close, replace = os.open, os.write, os.close, os.replace
    counter = _counter
    done = 0
    try:
        for name, data in zip(names, payloads):
            tmp = f"{tmp_prefix}{name}{tmp_mark}{next(counter)}"
            fd = open_(tmp, flags, 0o644)
            try:
                written = write(fd, data)
                if written != len(data):  # short write (rare): finish it
                    view = memoryview(data)[written:]
                    while view:
                        view = view[write(fd, view) :]
            except BaseException:
                close(fd)
                _unlink_quietly(tmp)
                raise
            close(fd)
            try:
                replace(tmp, prefix + name)
            except BaseException:
                _unlink_quietly(tmp)
                raise
            done += 1
    except BaseException as exc:
        exc.pipemap_files_written = done  # type: ignore[attr-defined] # the first `done` files are complete
        raise


def mark_stored(exc: BaseException, indices: Any) -> None:
    """Record on ``exc`` the linear indices that a failing bulk write stored before it failed.

    Read back with :func:`stored_before_failure`; writers then retry only the others.

    Parameters
    ----------
    exc : BaseException
        The exception the bulk write raises.
    indices : array-like of int
        The linear indices stored completely before the failure.

    Examples
    --------
    >>> e = OSError(28, "No space left on device"); mark_stored(e, [0, 1]); stored_before_failure(e).tolist()
    [0, 1]
    """
    try:
        exc.pipemap_stored = np.asarray(indices, dtype=np.int64)  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # pragma: no cover - an exception type without __dict__
        pass


def stored_before_failure(exc: BaseException) -> np.ndarray | None:
    """The linear indices a failed ``dump_many``/``_put_many`` stored before raising ``exc``.

    Parameters
    ----------
    exc : BaseException
        The exception of a failed bulk write.

    Returns
    -------
    numpy.ndarray or None
        An int64 array (maybe empty), or None when the backend does not say (then any of the
        indices may or may not be stored). Writers retry only the others.

    Examples
    --------
    >>> stored_before_failure(OSError("disk full")) is None
    True
    >>> e = OSError("disk full"); mark_stored(e, [3]); stored_before_failure(e).tolist()
    [3]
    """
    stored = getattr(exc, "pipemap_stored", None)
    return stored if isinstance(stored, np.ndarray) else None


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class _Missing:
    """Sentinel for an absent element (distinct from any stored value, including None)."""

    _instance: _Missing | None = None

    def __new__(cls) -> Self:
        instance = cls._instance
        if not isinstance(instance, cls):  # first call (None before)
            instance = super().__new__(cls)
            cls._instance = instance
        return instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


_FIRST_READ = 1 << 16


def _read_fd(fd: int) -> bytes:
    """All bytes of an open descriptor (one ``os.read`` for small files)."""
    data = os.read(fd, _FIRST_READ)
    if len(data) < _FIRST_READ:
        return data
    parts = [data]
    while more := os.read(fd, 1 << 20):
        parts.append(more)
    return b"".join(parts)


def read_files(folder: str, names: list[str]) -> list[bytes | None]:
    """The bytes of ``folder/names[k]`` each (``None`` where absent), read in bulk.

    Raw descriptors opened relative to the folder: no buffered file object and no path walk per
    file, which for small element files costs more than the read itself.

    >>> import tempfile
    >>> d = tempfile.mkdtemp(); atomic_write_many(d, ["a"], [b"1"]); read_files(d, ["a", "b"])
    [b'1', None]
    """
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        return [None] * len(names)
    open_, close, flags = os.open, os.close, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    out: list[bytes | None] = []
    append = out.append
    try:
        for name in names:
            try:
                fd = open_(name, flags, dir_fd=dir_fd)
            except FileNotFoundError:
                append(None)
                continue
            try:
                append(_read_fd(fd))
            finally:
                close(fd)
    finally:
        close(dir_fd)
    return out


def read_element_file(path: str, owner: str) -> Any:
    """Read and decode one element file; return :data:`MISSING` if absent or corrupt.

    A corrupt or truncated file triggers a :class:`CorruptElementWarning` naming the file and
    ``owner`` (the storage's description); it is never returned as data.

    >>> read_element_file("/nonexistent/__0__.pickle", "FileArray")
    MISSING
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return MISSING
    try:
        data = _read_fd(fd)
    finally:
        os.close(fd)
    return decode_or_missing(data, path, owner)


def quarantine(path: str) -> str | None:
    """Move a corrupt file aside (same folder, hidden name, bytes kept); None if that failed.

    Listings ignore hidden names, so the element counts as missing and the next resume
    recomputes it.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp(); open(os.path.join(d, "__1__.pickle"), "wb").close()
    >>> os.path.basename(quarantine(os.path.join(d, "__1__.pickle"))).startswith(".corrupt-__1__.pickle")
    True
    >>> os.listdir(d)[0].startswith(".corrupt-")
    True
    """
    folder, _, name = path.rpartition(os.sep)
    target = f"{folder}{os.sep}.corrupt-{name}-{os.getpid()}-{next(_counter)}"
    try:
        os.replace(path, target)
    except OSError:  # read-only folder, or already moved by another reader
        return None
    return target


def decode_or_missing(data: bytes, path: str, owner: str) -> Any:
    """Decode ``data``; on failure warn (naming ``path``), move the file aside (so a resume
    recomputes the element) and return :data:`MISSING`.

    >>> decode_or_missing(b"garbage", "f", "X") is MISSING  # doctest: +SKIP
    True
    """
    try:
        return deserialize(data)
    except Exception as exc:  # noqa: BLE001 - any decoding failure means "not a valid element"
        moved = quarantine(path)
        aside = f" It was moved aside to `{moved}`; a resume recomputes it." if moved else ""
        warnings.warn(
            f"{owner}: element file `{path}` is corrupt or truncated ({type(exc).__name__}: {exc});"
            f" treating it as missing.{aside}",
            CorruptElementWarning,
            stacklevel=3,
        )
        return MISSING


def vanished_folder_error(folder: str | os.PathLike[str]) -> FileNotFoundError:
    """The error of a write into a storage folder that no longer exists (deleted mid-run).

    Writers never re-create such a folder (that would leave a half output folder, without its
    metadata and earlier elements, looking like a valid one): the write fails instead.

    >>> print(vanished_folder_error("/r/outputs/y"))
    Cannot write output `y`: its folder `/r/outputs/y` no longer exists (was the run folder `/r` deleted while the run was writing to it?); it is not re-created, nothing was written
    """
    path = Path(folder)
    run = f"run folder `{path.parent.parent}`" if path.parent.name == "outputs" else f"folder `{path.parent}`"
    return FileNotFoundError(
        f"Cannot write output `{path.name}`: its folder `{path}` no longer exists (was the {run} deleted"
        " while the run was writing to it?); it is not re-created, nothing was written"
    )


def folder_for_reading(folder: str | os.PathLike[str], owner: str) -> Path:
    """Return ``folder`` as an absolute path without creating it (a reader's view: a missing
    folder holds nothing yet); ``NotADirectoryError`` naming it if it is a file.

    >>> folder_for_reading("/nonexistent/y", "FileArray").as_posix()
    '/nonexistent/y'
    """
    path = Path(folder).absolute()
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        return path
    except NotADirectoryError:
        msg = f"{owner}: cannot read `{path}`: one of its parent folders is not a directory (a file is in its place)"
        raise NotADirectoryError(msg) from None
    if not is_dir:
        msg = f"{owner}: `{path}` is not a directory (a file is in its place)"
        raise NotADirectoryError(msg)
    return path


def ensure_own_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` and its parent if needed, but nothing further up: the first write of a
    memory storage into ``<run_folder>/outputs/<name>`` must not re-create a run folder that
    was deleted mid-run (:func:`vanished_folder_error` instead).

    >>> import tempfile, pathlib
    >>> ensure_own_folder(pathlib.Path(tempfile.mkdtemp()) / "outputs" / "y").is_dir()
    True
    """
    path = Path(folder).absolute()
    try:
        path.parent.mkdir(exist_ok=True)
        path.mkdir(exist_ok=True)
    except FileNotFoundError:
        raise vanished_folder_error(path) from None
    return path


def ensure_folder(folder: str | os.PathLike[str]) -> Path:
    """Return ``folder`` as an absolute path, creating it if needed.

    >>> import tempfile
    >>> ensure_folder(tempfile.mkdtemp()).is_dir()
    True
    """
    path = Path(folder).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def list_output_folder(folder: str | os.PathLike[str], read_only: bool) -> list[str]:
    """The names in a storage's ``folder``; a reader (``read_only``) of an output whose folder
    does not exist yet sees an empty folder, a writer gets the ``FileNotFoundError``.

    >>> list_output_folder("/nonexistent-pipemap-folder", read_only=True)
    []
    """
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        if not read_only:
            raise
        return []
