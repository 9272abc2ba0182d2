"""Vectorised 128-bit hashing for element keys: numpy arrays of shape ``(..., 2)`` uint64.

Every operation works on whole arrays (no Python loop per element): :func:`combine` mixes two
key arrays (broadcasting), :func:`fold` mixes all keys along an axis in order (a reduction),
:func:`positions_of_numeric` hashes the values of a numeric array once per axis position, and
:func:`from_digest` turns a 16-byte digest into one key. The mixing is murmur3's 64-bit finalizer
on two lanes, each lane fed by both lanes of the state; it is not cryptographic (keys identify
values computed by the user's own code, not adversarial data). ``(0, 0)`` means "no key".

>>> a, b = from_digest(b"a" * 16), from_digest(b"b" * 16)
>>> bool((combine(a, b) != combine(b, a)).any())
True
>>> k = positions_of_numeric(np.arange(6.0).reshape(2, 3), 1)
>>> k.shape, bool((k[0] != k[1]).any())
((2, 2), True)
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["NO_KEY", "combine", "fold", "from_digest", "from_text", "index_keys", "positions_of_numeric"]

_C1 = np.uint64(0xFF51AFD7ED558CCD)
_C2 = np.uint64(0xC4CEB9FE1A85EC53)
_P0 = np.uint64(0x9E3779B97F4A7C15)
_P1 = np.uint64(0xD6E8FEB86659FD93)
_S33 = np.uint64(33)
_S29 = np.uint64(29)
_S35 = np.uint64(35)

#: the "no key" marker: elements with this key are never looked up nor served
NO_KEY = np.zeros(2, dtype=np.uint64)


def _fmix(x: np.ndarray) -> np.ndarray:
    """murmur3's 64-bit finalizer (a bijection with full avalanche), on a fresh array."""
    x = x ^ (x >> _S33)
    x *= _C1
    x ^= x >> _S33
    x *= _C2
    x ^= x >> _S33
    return x


def _rotl29(x: np.ndarray) -> np.ndarray:
    return (x << _S29) | (x >> _S35)


def combine(state: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Mix ``value`` into ``state`` (both ``(..., 2)`` uint64, broadcast); order matters."""
    with np.errstate(over="ignore"):
        s0, s1 = state[..., 0], state[..., 1]
        v0, v1 = value[..., 0], value[..., 1]
        h0 = _fmix(s0 * _P0 + v0 + _rotl29(s1))
        h1 = _fmix((s1 ^ v1) * _P1 + h0 + _rotl29(v0))
        out = np.empty(h0.shape + (2,), dtype=np.uint64)
        out[..., 0] = h0
        out[..., 1] = h1
    return out


def index_keys(n: int) -> np.ndarray:
    """Keys of the positions ``0 .. n-1`` (shape ``(n, 2)``), for internal axes and ordered folds."""
    idx = np.arange(n, dtype=np.uint64)
    out = np.empty((n, 2), dtype=np.uint64)
    with np.errstate(over="ignore"):
        out[:, 0] = _fmix(idx * _P0 + _C1)
        out[:, 1] = _fmix(idx * _P1 + _C2)
    return out


def fold(keys: np.ndarray, axis: int) -> np.ndarray:
    """Mix every key along ``axis`` (of the key array without its last dim) into one, in order.

    Each key is first combined with its position (so the order matters), then the lanes are
    summed (wrapping) and mixed with the length: a change of any key changes the result.
    """
    n = keys.shape[axis]
    moved = np.moveaxis(keys, axis, -2)  # (..., n, 2)
    positioned = combine(index_keys(n), moved)
    with np.errstate(over="ignore"):
        total = positioned.sum(axis=-2, dtype=np.uint64)
    return combine(total, index_keys(n + 1)[n])


def from_digest(digest: bytes) -> np.ndarray:
    """A key (shape ``(2,)``) from 16 digest bytes."""
    return np.frombuffer(digest[:16], dtype="<u8").astype(np.uint64)


def from_text(text: str) -> np.ndarray:
    """A key for a name (a parameter, an output, a dtype)."""
    return from_digest(hashlib.blake2b(text.encode(), digest_size=16).digest())


def positions_of_numeric(values: np.ndarray, n_axes: int) -> np.ndarray:
    """Keys of ``values`` per position of its first ``n_axes`` axes (the rest is the element).

    The bytes of each element (with the dtype and the element's shape) are read as 64-bit words and
    folded: vectorised over the positions, a Python loop only over the words of one element.
    """
    values = np.ascontiguousarray(values)
    lead = values.shape[:n_axes]
    n = int(np.prod(lead)) if lead else 1
    raw = values.reshape(n, -1).view(np.uint8) if values.size else np.zeros((n, 0), dtype=np.uint8)
    width = raw.shape[1]
    pad = (-width) % 8
    if pad:
        raw = np.concatenate([raw, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(raw).view("<u8").astype(np.uint64, copy=False)
    seed = from_text(f"numeric:{values.dtype.str}:{values.shape[n_axes:]}")
    state = np.broadcast_to(seed, (n, 2))
    n_words = words.shape[1]
    for k in range(0, n_words, 2):
        pair = np.zeros((n, 2), dtype=np.uint64)
        pair[:, 0] = words[:, k]
        if k + 1 < n_words:
            pair[:, 1] = words[:, k + 1]
        state = combine(state, pair)
    if n_words == 0:
        state = np.array(state)
    return state.reshape((*lead, 2))
