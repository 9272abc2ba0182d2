"""The append-only element log of a ``chunked`` chunk: single ``dump`` calls land here.

Layout of one log file ``c<k>/<time_ns>-<pid>-<n>.log`` (all integers little-endian)::

    magic    8 bytes  b"PMLOG001"
    records  ...      one per dumped element, each
        length  u32   payload bytes
        index   i64   linear index of the element
        payload       pickle of the value (readable by ``pickle.loads``)
        crc     u32   zlib.crc32 of length + index + payload

A reader stops at the first record that is incomplete or whose checksum disagrees: a torn tail
(a writer killed mid-write, or one still writing) is ignored, never served. One process writes
each log (:class:`LogWriter`, one per storage object and process), buffering records in memory;
the buffer is written on ``flush()`` (``persist()``, ``close()``, every ``dump_many``, pickling the
storage) and at least every :data:`FLUSH_SECONDS` by a background thread. The writer holds an
exclusive ``flock`` on each of its open logs; compaction folds a log into a pack only when it can
take that lock itself (the writer closed it or died).

>>> import tempfile, os
>>> d = tempfile.mkdtemp(); w = LogWriter(d)
>>> w.append(0, 7, encode_value({"a": 1})); w.flush()
>>> path = os.path.join(d, "c0", w.log_names()[0])
>>> parse_log(open(path, "rb").read())
([7], [{'a': 1}])
>>> w.close()
"""

from __future__ import annotations

import atexit
import fcntl
import itertools
import os
import pickle
import struct
import threading
import time
import zlib
from typing import Any

from ._serialize import pickle_like_cloudpickle

__all__ = ["FLUSH_SECONDS", "LOG_MAGIC", "LOG_SUFFIX", "LogWriter", "encode_value", "parse_indices", "parse_log"]

LOG_MAGIC = b"PMLOG001"
LOG_SUFFIX = ".log"
#: the longest time a dumped record stays in memory only (the background flusher's period)
FLUSH_SECONDS = 0.2
_MAX_BUFFER = 1 << 20  # a chunk's buffer is written as soon as it holds this many bytes
_HEAD = struct.Struct("<Iq")
_CRC = struct.Struct("<I")
_counter = itertools.count()


def encode_value(value: Any) -> bytes:
    """Pickle one value as ``serialize`` would (the bytes cloudpickle writes, see
    :func:`~pipemap.storage._serialize.pickle_like_cloudpickle`).

    >>> import pickle
    >>> pickle.loads(encode_value([1, "a"])), pickle.loads(encode_value(lambda: 3))()
    ([1, 'a'], 3)
    """
    return pickle_like_cloudpickle(value)


def _frame(index: int, payload: bytes) -> tuple[bytes, bytes]:
    head = _HEAD.pack(len(payload), index)
    return head, _CRC.pack(zlib.crc32(payload, zlib.crc32(head)))


def _records(blob: bytes | memoryview) -> list[tuple[int, int, int]]:
    """(index, start, stop) of each intact record's payload, up to the first torn or corrupt one."""
    out: list[tuple[int, int, int]] = []
    if bytes(blob[: len(LOG_MAGIC)]) != LOG_MAGIC:
        return out
    view = memoryview(blob)
    pos, end = len(LOG_MAGIC), len(blob)
    head_size, crc_size = _HEAD.size, _CRC.size
    unpack, crc32 = _HEAD.unpack_from, zlib.crc32
    while pos + head_size + crc_size <= end:
        length, index = unpack(view, pos)
        start = pos + head_size
        stop = start + length
        if stop + crc_size > end:
            break
        if crc32(view[start:stop], crc32(view[pos:start])) != _CRC.unpack_from(view, stop)[0]:
            break
        out.append((index, start, stop))
        pos = stop + crc_size
    return out


def parse_indices(blob: bytes) -> list[int]:
    """The linear indices of the intact records of a log (values are not unpickled)."""
    return [index for index, _, _ in _records(blob)]


def parse_log(blob: bytes, *, strict: bool = False) -> tuple[list[int], list[Any]]:
    """(indices, values) of the intact records, in write order; a record whose payload does not
    unpickle is left out (its index too), or with ``strict`` raises.

    >>> head, crc = _frame(3, b"junk")
    >>> parse_log(LOG_MAGIC + head + b"junk" + crc), parse_indices(LOG_MAGIC + head + b"junk" + crc)
    (([], []), [3])
    """
    view = memoryview(blob)
    indices: list[int] = []
    values: list[Any] = []
    for index, start, stop in _records(blob):
        try:
            value = pickle.loads(view[start:stop])
        except Exception:
            if strict:
                raise
            continue
        indices.append(index)
        values.append(value)
    return indices, values


class LogWriter:
    """The open logs of one storage object in one process, one per chunk (see the module doc).

    Thread-safe; after a ``fork`` the child starts with no open logs (the parent's buffered
    records stay the parent's).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self._reset()

    def _reset(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.fds: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.buffers: dict[int, bytearray] = {}
        self.unsynced_dirs: set[str] = set()
        self.dirty = False
        self.error: BaseException | None = None

    def log_names(self) -> list[str]:
        """Names of the logs this writer has open (one per chunk), for tests and tools."""
        return [self.names[c] for c in sorted(self.names)]

    def _check_fork(self) -> None:
        if self.pid != os.getpid():  # a forked child: the fds and buffers belong to the parent
            self._reset()

    # ----------------------------------------------------------------- appends
    def append(self, chunk: int, index: int, payload: bytes) -> None:
        """Buffer one record for ``chunk`` (opening that chunk's log on first use)."""
        if self.pid != os.getpid():
            self._reset()
        head, crc = _frame(index, payload)
        with self.lock:
            if self.error is not None:
                self._raise_error()
            buf = self.buffers.get(chunk)
            if buf is None:
                self._open(chunk)
                buf = self.buffers[chunk]
            buf += head
            buf += payload
            buf += crc
            if len(buf) > _MAX_BUFFER:
                self._write(chunk)
            if not self.dirty:
                self.dirty = True
                _FLUSHER.add(self)

    def _raise_error(self) -> None:
        error, self.error = self.error, None
        msg = f"writing the element log of the chunked storage at `{self.folder}` failed earlier ({error}); the unwritten records are kept and retried"
        raise OSError(msg) from error

    def _open(self, chunk: int) -> None:
        directory = f"{self.folder}{os.sep}c{chunk}"
        try:
            os.mkdir(directory)
            self.unsynced_dirs.add(self.folder)  # the new chunk folder's entry
        except FileExistsError:
            pass
        name = f"{time.time_ns():020d}-{os.getpid():08d}-{next(_counter):08d}{LOG_SUFFIX}"
        hidden = f"{directory}{os.sep}.{name}.tmp-{os.getpid()}"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held while the log is open: no compaction
            _write_all(fd, LOG_MAGIC)
            os.rename(hidden, f"{directory}{os.sep}{name}")  # locked before any reader can see it
        except BaseException:
            os.close(fd)
            try:
                os.unlink(hidden)
            except OSError:
                pass
            raise
        self.fds[chunk] = fd
        self.names[chunk] = name
        self.buffers.setdefault(chunk, bytearray())
        self.unsynced_dirs.add(directory)

    def _write(self, chunk: int) -> None:
        buf = self.buffers[chunk]
        if not buf:
            return
        fd = self.fds[chunk]
        if os.fstat(fd).st_nlink == 0:  # the log (or its chunk folder) was deleted behind our back
            os.close(fd)
            del self.fds[chunk]
            self._open(chunk)  # a new log in a re-created chunk folder (the output folder must exist)
            fd = self.fds[chunk]
        before = os.lseek(fd, 0, os.SEEK_END)
        try:
            _write_all(fd, buf)
        except OSError:
            try:  # never leave half a record followed by later ones
                os.ftruncate(fd, before)
            except OSError:
                pass
            raise
        buf.clear()

    # ----------------------------------------------------------------- flushing
    def flush(self, *, sync: bool = False, chunks: list[int] | None = None) -> None:
        """Write the buffered records (and with ``sync`` make them durable with ``fsync``)."""
        if self.pid != os.getpid():
            self._reset()
            return
        with self.lock:
            if self.error is not None:
                self._raise_error()
            try:
                for chunk in list(self.buffers) if chunks is None else [c for c in chunks if c in self.buffers]:
                    self._write(chunk)
                    if sync:
                        os.fsync(self.fds[chunk])
                if sync:
                    for directory in self.unsynced_dirs:
                        _fsync_dir(directory)
                    self.unsynced_dirs.clear()
            finally:
                self.dirty = any(self.buffers.values())

    def background_flush(self) -> None:
        """The flusher thread's call: like :meth:`flush`, an error is kept for the next caller."""
        if self.pid != os.getpid():
            return
        try:
            self.flush()
        except OSError as exc:
            with self.lock:
                self.error = exc

    def close(self, chunks: list[int] | None = None) -> None:
        """Flush, ``fsync`` and close the logs (of ``chunks``, default all): they become compactable."""
        if self.pid != os.getpid():
            self._reset()
            return
        self.flush(sync=True, chunks=chunks)
        with self.lock:
            for chunk in list(self.fds) if chunks is None else [c for c in chunks if c in self.fds]:
                os.close(self.fds.pop(chunk))  # releases the flock
                self.names.pop(chunk, None)
                self.buffers.pop(chunk, None)


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Flusher:
    """One daemon thread per process writing dirty logs every :data:`FLUSH_SECONDS`."""

    def __init__(self) -> None:
        self._start_state()
        atexit.register(self.flush_all)

    def _start_state(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.dirty: set[LogWriter] = set()
        self.thread: threading.Thread | None = None

    def add(self, writer: LogWriter) -> None:
        if self.pid != os.getpid():
            self._start_state()
        with self.lock:
            self.dirty.add(writer)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, name="pipemap-log-flusher", daemon=True)
                self.thread.start()
                _register_worker_exit(self.flush_all)
        self.wake.set()

    def _loop(self) -> None:
        while True:
            self.wake.wait()
            time.sleep(FLUSH_SECONDS)
            self.wake.clear()
            self.flush_all()

    def flush_all(self) -> None:
        if self.pid != os.getpid():
            return
        with self.lock:
            writers, self.dirty = self.dirty, set()
        for writer in writers:
            writer.background_flush()
        with self.lock:
            if any(w.dirty for w in writers):  # written to meanwhile: again next period
                self.dirty.update(w for w in writers if w.dirty)
                self.wake.set()


def _register_worker_exit(callback: Any) -> None:
    """multiprocessing children leave through ``os._exit`` (no atexit): flush in its finalizers."""
    try:
        from multiprocessing import util

        util.Finalize(None, callback, exitpriority=100)
    except Exception:  # noqa: BLE001 - pragma: no cover
        pass


_FLUSHER = _Flusher()
