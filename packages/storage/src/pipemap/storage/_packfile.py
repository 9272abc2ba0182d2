"""The pack file: many elements of one chunk in one immutable file.

Layout (all integers little-endian)::

    magic      8 bytes  b"PMPACK01"
    n          u64      number of elements
    n_segments u64      number of payload segments
    indices    int64[n]            linear indices, in write order
    counts     int64[n_segments]   elements per segment
    kinds      int64[n_segments]   0: pickled list, 1: pickled ndarray of numpy scalars
    lengths    int64[n_segments]   byte length of each segment
    segments   ...                 concatenated payloads

A file whose size disagrees with its header is corrupt. Merging packs concatenates indices and
segments without unpickling anything.

>>> blob = encode_pack(np.array([3, 1]), [encode_segment(["a", "b"])])
>>> idx, values = decode_pack(blob)
>>> idx.tolist(), values
([3, 1], ['a', 'b'])
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

from ._serialize import pickle_like_cloudpickle

__all__ = ["MAGIC", "Segment", "decode_pack", "encode_pack", "encode_segment", "merge_packs", "read_indices"]

MAGIC = b"PMPACK01"
_HEADER = struct.Struct("<8sQQ")
Segment = tuple[int, int, bytes]  # (count, kind, payload)


class PackError(ValueError):
    """A pack file is truncated or malformed."""


def encode_segment(values: list[Any]) -> Segment:
    """Serialize ``values`` into one segment (typed array when all are numeric numpy scalars of one type).

    >>> encode_segment([1.0, 2.0])[:2]
    (2, 0)
    """
    first = type(values[0]) if values else None
    if (
        first is not None
        and issubclass(first, (np.number, np.bool_))  # fixed-size numeric: the type fixes the dtype
        and all(type(v) is first for v in values)
    ):
        arr = np.array(values, dtype=values[0].dtype)
        return len(values), 1, pickle.dumps(arr, protocol=5)
    return len(values), 0, pickle_like_cloudpickle(values)  # (cloudpickle's bytes, faster where it can)


def encode_pack(indices: np.ndarray, segments: list[Segment]) -> bytes:
    """Build the bytes of a pack file."""
    indices = np.ascontiguousarray(indices, dtype="<i8")
    counts = np.array([s[0] for s in segments], dtype="<i8")
    kinds = np.array([s[1] for s in segments], dtype="<i8")
    lengths = np.array([len(s[2]) for s in segments], dtype="<i8")
    if int(counts.sum()) != len(indices):
        msg = "segment counts do not add up to the number of indices"
        raise ValueError(msg)
    parts = [
        _HEADER.pack(MAGIC, len(indices), len(segments)),
        indices.tobytes(),
        counts.tobytes(),
        kinds.tobytes(),
        lengths.tobytes(),
    ]
    parts.extend(s[2] for s in segments)
    return b"".join(parts)


def _parse_header(head: bytes, total_size: int) -> tuple[int, int]:
    if len(head) < _HEADER.size:
        msg = f"truncated header ({len(head)} bytes)"
        raise PackError(msg)
    magic, n, nseg = _HEADER.unpack_from(head)
    if magic != MAGIC:
        msg = f"bad magic {magic!r}"
        raise PackError(msg)
    if _HEADER.size + 8 * n + 24 * nseg > total_size:
        msg = f"header announces {n} elements in {nseg} segments but the file has {total_size} bytes"
        raise PackError(msg)
    return n, nseg


def _split(blob: bytes | memoryview) -> tuple[np.ndarray, list[Segment]]:
    n, nseg = _parse_header(bytes(blob[: _HEADER.size]), len(blob))
    offset = _HEADER.size
    indices = np.frombuffer(blob, dtype="<i8", count=n, offset=offset)
    offset += 8 * n
    table = np.frombuffer(blob, dtype="<i8", count=3 * nseg, offset=offset).reshape(3, nseg)
    offset += 24 * nseg
    counts, kinds, lengths = table
    if int(counts.sum()) != n or offset + int(lengths.sum()) != len(blob):
        msg = f"size mismatch: header says {offset + int(lengths.sum())} bytes, file has {len(blob)}"
        raise PackError(msg)
    segments: list[Segment] = []
    for count, kind, length in zip(counts.tolist(), kinds.tolist(), lengths.tolist()):
        segments.append((count, kind, bytes(blob[offset : offset + length])))
        offset += length
    return indices, segments


def decode_pack(blob: bytes) -> tuple[np.ndarray, list[Any]]:
    """Return (indices, values) of a pack; raises on any corruption."""
    indices, segments = _split(memoryview(blob))
    values: list[Any] = []
    for count, kind, payload in segments:
        decoded = pickle.loads(payload)
        part = list(decoded)
        if len(part) != count:
            msg = f"segment holds {len(part)} values, header says {count}"
            raise PackError(msg)
        values.extend(part)
    return indices, values


def merge_packs(blobs: list[bytes]) -> bytes:
    """Concatenate packs (in order) into one, without unpickling values."""
    all_indices = []
    all_segments: list[Segment] = []
    for blob in blobs:
        indices, segments = _split(memoryview(blob))
        all_indices.append(indices)
        all_segments.extend(segments)
    return encode_pack(np.concatenate(all_indices) if all_indices else np.empty(0, np.int64), all_segments)


def read_indices(path: str) -> np.ndarray:
    """Read only the indices of the pack at ``path`` (header-checked against the file size)."""
    with open(path, "rb") as handle:
        import os

        size = os.fstat(handle.fileno()).st_size
        head = handle.read(_HEADER.size)
        n, nseg = _parse_header(head, size)
        data = handle.read(8 * n + 24 * nseg)
    if len(data) != 8 * n + 24 * nseg:
        msg = "truncated index table"
        raise PackError(msg)
    table = np.frombuffer(data, dtype="<i8", count=3 * nseg, offset=8 * n).reshape(3, nseg)
    expected = _HEADER.size + 8 * n + 24 * nseg + int(table[2].sum())
    if expected != size or int(table[0].sum()) != n:
        msg = f"size mismatch: header says {expected} bytes, file has {size}"
        raise PackError(msg)
    return np.frombuffer(data, dtype="<i8", count=n)
