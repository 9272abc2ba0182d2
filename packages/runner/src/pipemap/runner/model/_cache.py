"""Result caches for ``cache=True`` functions, with the names and behaviour of pipefunc's
(``pipefunc.cache``): `LRUCache`, `HybridCache`, `SimpleCache`, `DiskCache`, and
`create_cache` for ``Pipeline(cache_type=..., cache_kwargs=...)``.

pipemap's memory caches live in the process that runs the pipeline (a thread pool shares
them). A process pool's workers get a copy of the cache as it was when their chunk was sent:
what they compute there is not added to the parent's cache, as with pipefunc (whose "shared"
caches are copied into a new manager in each worker). `DiskCache` works across processes.

>>> c = LRUCache(max_size=2)
>>> c.put("a", 1); c.put("b", 2); _ = c.get("a"); c.put("c", 3)
>>> sorted(c.cache), len(c)
(['a', 'c'], 2)
"""

from __future__ import annotations

import copy as _copy
import hashlib
import os
import pickle
import tempfile
import threading
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cloudpickle

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["DiskCache", "HybridCache", "LRUCache", "SimpleCache", "cache_of", "create_cache"]

CACHE_TYPES = ("lru", "hybrid", "disk", "simple")


def _copied(value: Any) -> Any:
    """A deep copy (the original when it cannot be copied: a warning says mutations then leak)."""
    try:
        return _copy.deepcopy(value)
    except Exception as e:  # noqa: BLE001
        warnings.warn(
            f"Cannot deepcopy cached value of type `{type(value).__name__}` ({e!r});"
            " using the original object instead. Mutating it will affect the cache.",
            UserWarning,
            stacklevel=3,
        )
        return value


class _CacheBase:
    """``get``/``put``/``in``/``len``/``clear`` under a lock (thread pools share a cache)."""

    _copy: bool

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cache_dict: dict[Hashable, Any] = {}

    def _in(self, value: Any) -> Any:
        return _copied(value) if self._copy else value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._cache_dict

    def __len__(self) -> int:
        return len(self._cache_dict)

    @property
    def cache(self) -> dict[Hashable, Any]:
        """The entries (the cache's own dict)."""
        return self._cache_dict

    def get(self, key: Hashable) -> Any:  # pragma: no cover - every cache overrides it
        raise NotImplementedError

    def put(self, key: Hashable, value: Any) -> None:  # pragma: no cover - every cache overrides it
        raise NotImplementedError

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._cache_dict.clear()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


class SimpleCache(_CacheBase):
    """A cache that keeps every entry (no eviction).

    Parameters
    ----------
    copy : bool, default True
        Store and return deep copies of the values.

    Examples
    --------
    >>> cache = SimpleCache()
    >>> value = [1]
    >>> cache.put("k", value); cache.get("k"), cache.get("k") is value
    ([1], False)
    """

    def __init__(self, *, copy: bool = True) -> None:
        super().__init__()
        self._copy = copy

    def get(self, key: Hashable) -> Any:
        """The value stored for ``key`` (None when absent)."""
        if key not in self._cache_dict:
            return None
        return self._in(self._cache_dict[key])

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` for ``key``."""
        with self._lock:
            self._cache_dict[key] = self._in(value)


class LRUCache(_CacheBase):
    """A cache of at most ``max_size`` entries; the least recently used one is evicted first.

    Values are kept in this process (see the module docstring).

    Parameters
    ----------
    max_size : int, default 128
        At most this many entries.
    allow_cloudpickle : bool, default True
        Accepted for pipefunc compatibility (values stay in this process).
    shared : bool, default True
        Accepted for pipefunc compatibility; like ``copy``, stores and returns copies.
    copy : bool, default True
        Store and return copies of the values (a caller changing a value does not change the cache).

    Examples
    --------
    >>> cache = LRUCache(max_size=2)
    >>> cache.put("a", 1); cache.put("b", 2); cache.put("c", 3)
    >>> "a" in cache, cache.get("c"), len(cache)
    (False, 3, 2)
    """

    def __init__(
        self, *, max_size: int = 128, allow_cloudpickle: bool = True, shared: bool = True, copy: bool = True
    ) -> None:
        if max_size <= 0:
            msg = "max_size must be greater than 0"
            raise ValueError(msg)
        super().__init__()
        self.max_size = max_size
        self.shared = shared
        self._allow_cloudpickle = allow_cloudpickle
        self._copy = copy or shared
        self._cache_queue: list[Hashable] = []

    def get(self, key: Hashable) -> Any:
        """The value for ``key`` (None when absent); it becomes the most recently used."""
        with self._lock:
            if key not in self._cache_dict:
                return None
            value = self._cache_dict[key]
            self._cache_queue.remove(key)
            self._cache_queue.append(key)
        return self._in(value)

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` for ``key``, evicting the least recently used entry when full."""
        value = self._in(value)
        with self._lock:
            if key in self._cache_dict:
                self._cache_queue.remove(key)
            elif len(self._cache_queue) >= self.max_size:
                self._cache_dict.pop(self._cache_queue.pop(0), None)
            self._cache_dict[key] = value
            self._cache_queue.append(key)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._cache_dict.clear()
            self._cache_queue.clear()


class HybridCache(_CacheBase):
    """A cache that evicts by a score of access frequency and computation time.

    When full, the entry with the lowest score
    ``access_weight * share of accesses + duration_weight * share of computation time`` goes.
    ``put`` takes the computation's duration.

    Parameters
    ----------
    max_size : int, default 128
        At most this many entries.
    access_weight : float, default 0.5
        The weight of an entry's share of all accesses in its score.
    duration_weight : float, default 0.5
        The weight of an entry's share of all computation time in its score.
    allow_cloudpickle : bool, default True
        Accepted for pipefunc compatibility (values stay in this process).
    shared : bool, default True
        Accepted for pipefunc compatibility; like ``copy``, stores and returns copies.
    copy : bool, default True
        Store and return copies of the values (a caller changing a value does not change the cache).

    Examples
    --------
    >>> cache = HybridCache(max_size=2)
    >>> cache.put("slow", 1, duration=5.0); cache.put("quick", 2, duration=0.1)
    >>> cache.put("another", 3, duration=0.1)  # full: the cheap, rarely used entry goes
    >>> sorted(cache.cache)
    ['another', 'slow']
    """

    def __init__(
        self,
        max_size: int = 128,
        access_weight: float = 0.5,
        duration_weight: float = 0.5,
        *,
        allow_cloudpickle: bool = True,
        shared: bool = True,
        copy: bool = True,
    ) -> None:
        super().__init__()
        self.max_size = max_size
        self.access_weight = access_weight
        self.duration_weight = duration_weight
        self.shared = shared
        self._allow_cloudpickle = allow_cloudpickle
        self._copy = copy or shared
        self._access_counts: dict[Hashable, int] = {}
        self._computation_durations: dict[Hashable, float] = {}

    @property
    def access_counts(self) -> dict[Hashable, int]:
        """{key: number of accesses (the put counts as one)}."""
        return self._access_counts

    @property
    def computation_durations(self) -> dict[Hashable, float]:
        """{key: seconds its computation took}."""
        return self._computation_durations

    def get(self, key: Hashable) -> Any:
        """The value for ``key`` (None when absent); counts an access."""
        with self._lock:
            if key not in self._cache_dict:
                return None
            self._access_counts[key] += 1
            value = self._cache_dict[key]
        return self._in(value)

    def put(self, key: Hashable, value: Any, duration: float = 0.0) -> None:
        """Store ``value`` (computed in ``duration`` seconds), evicting the lowest score when full."""
        value = self._in(value)
        with self._lock:
            if key not in self._cache_dict and len(self._cache_dict) >= self.max_size:
                self._expire()
            self._cache_dict[key] = value
            self._access_counts[key] = 1
            self._computation_durations[key] = duration

    def _expire(self) -> None:
        accesses = sum(self._access_counts.values()) or 1
        durations = sum(self._computation_durations.values()) or 1.0
        scores = {
            k: self.access_weight * n / accesses + self.duration_weight * self._computation_durations[k] / durations
            for k, n in self._access_counts.items()
        }
        lowest = min(scores, key=scores.__getitem__)
        del self._cache_dict[lowest], self._access_counts[lowest], self._computation_durations[lowest]

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._cache_dict.clear()
            self._access_counts.clear()
            self._computation_durations.clear()


class DiskCache(_CacheBase):
    """A cache with one pickle file per entry in ``cache_dir`` (named by a hash of the key).

    Files are written atomically and shared by every process that uses the folder.

    Parameters
    ----------
    cache_dir : str or Path
        The folder of the cache files.
    max_size : int, optional
        At most this many files; the oldest go first (None: no limit).
    use_cloudpickle : bool, default True
        Pickle values with cloudpickle (lambdas, local classes), else with pickle.
    with_lru_cache : bool, default True
        Keep an in-memory ``LRUCache`` in front of the files.
    lru_cache_size : int, default 128
        The size of that in-memory cache.
    lru_shared : bool, default True
        Accepted for pipefunc compatibility (the in-memory cache stays in this process).
    permissions : int, optional
        The file mode of the cache files (e.g. ``0o660``).

    Examples
    --------
    >>> import tempfile
    >>> cache = DiskCache(tempfile.mkdtemp(), max_size=10)
    >>> cache.put(("f", 1), [1, 2]); cache.get(("f", 1)), len(cache)
    ([1, 2], 1)
    """

    def __init__(
        self,
        cache_dir: str | Path,
        max_size: int | None = None,
        *,
        use_cloudpickle: bool = True,
        with_lru_cache: bool = True,
        lru_cache_size: int = 128,
        lru_shared: bool = True,
        permissions: int | None = None,
    ) -> None:
        super().__init__()
        self.cache_dir = Path(cache_dir)
        self.max_size = max_size
        self.use_cloudpickle = use_cloudpickle
        self.with_lru_cache = with_lru_cache
        self.permissions = permissions
        self._copy = False
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.lru_cache = LRUCache(max_size=lru_cache_size, shared=lru_shared) if with_lru_cache else None

    def _path(self, key: Hashable) -> Path:
        digest = hashlib.md5(pickle.dumps(key, protocol=pickle.HIGHEST_PROTOCOL)).hexdigest()  # noqa: S324
        return self.cache_dir / f"{digest}.pkl"

    def get(self, key: Hashable) -> Any:
        """The value for ``key`` (None when absent), from memory or from its file."""
        if self.lru_cache is not None and key in self.lru_cache:
            return self.lru_cache.get(key)
        path = self._path(key)
        try:
            with path.open("rb") as f:
                value = cloudpickle.load(f) if self.use_cloudpickle else pickle.load(f)  # noqa: S301
        except FileNotFoundError:
            return None
        if self.lru_cache is not None:
            self.lru_cache.put(key, value)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Write ``value``'s file (a temporary file renamed into place), then evict if needed."""
        path = self._path(key)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                (cloudpickle if self.use_cloudpickle else pickle).dump(value, f)
            if self.permissions is not None:
                os.chmod(tmp, self.permissions)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        if self.lru_cache is not None:
            self.lru_cache.put(key, value)
        self._evict()

    def _files(self) -> list[Path]:
        return list(self.cache_dir.glob("*.pkl"))

    def _evict(self) -> None:
        if self.max_size is None:
            return
        files = self._files()
        if len(files) <= self.max_size:
            return
        files.sort(key=lambda p: p.stat().st_ctime_ns)
        for path in files[: len(files) - self.max_size]:
            path.unlink(missing_ok=True)

    def __contains__(self, key: Hashable) -> bool:
        if self.lru_cache is not None and key in self.lru_cache:
            return True
        return self._path(key).exists()

    def __len__(self) -> int:
        return len(self._files())

    @property
    def cache(self) -> dict[Hashable, Any]:
        """The in-memory entries (needs ``with_lru_cache``)."""
        if self.lru_cache is None:
            msg = "LRU cache is not enabled."
            raise AttributeError(msg)
        return self.lru_cache.cache

    @property
    def shared(self) -> bool:
        """Whether the entries are visible to other processes (the files are)."""
        return True

    def clear(self) -> None:
        """Delete every cache file (and the in-memory entries)."""
        for path in self._files():
            path.unlink(missing_ok=True)
        if self.lru_cache is not None:
            self.lru_cache.clear()


def create_cache(
    cache_type: str | None, lazy: bool = False, cache_kwargs: dict[str, Any] | None = None
) -> LRUCache | HybridCache | DiskCache | SimpleCache | None:
    """The cache for ``Pipeline(cache_type=..., cache_kwargs=...)``, as pipefunc creates it.

    >>> type(create_cache("simple")).__name__, create_cache(None)
    ('SimpleCache', None)
    """
    if cache_type is None:
        return None
    kwargs = dict(cache_kwargs or {})
    if cache_type == "lru":
        kwargs.setdefault("shared", not lazy)
        return LRUCache(**kwargs)
    if cache_type == "hybrid":
        kwargs.setdefault("shared", not lazy)
        return HybridCache(**kwargs)
    if cache_type == "disk":
        kwargs.setdefault("lru_shared", not lazy)
        kwargs.setdefault("cache_dir", Path(tempfile.gettempdir()) / "pipemap-cache")  # (pipefunc: the temp dir itself)
        return DiskCache(**kwargs)
    if cache_type == "simple":
        return SimpleCache()  # (pipefunc passes no cache_kwargs to it either)
    msg = f"Invalid cache type: {cache_type}. Choose one of {', '.join(map(repr, CACHE_TYPES))}."
    raise ValueError(msg)


_SHARED: weakref.WeakKeyDictionary[object, Any] = weakref.WeakKeyDictionary()


def cache_of(owner: object, make: Callable[[], Any]) -> Any:
    """The cache kept for ``owner`` (a pipefunc pipeline converted on each ``run_map``: its runs
    share one cache, as pipefunc's share ``pipeline.cache``), made with ``make`` the first time."""
    try:
        cache = _SHARED.get(owner)
        if cache is None:  # (also: no function cached when it was first converted)
            cache = _SHARED[owner] = make()
    except TypeError:  # not weak-referenceable: a cache per conversion
        return make()
    return cache
