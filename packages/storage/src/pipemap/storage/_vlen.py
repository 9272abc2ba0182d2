"""Object codec and the ``vlen-bytes`` chunk layout used by the zarr backends (no zarr import).

>>> decode_vlen(encode_vlen([b"x", b""]))
[b'x', b'']
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from typing import Any

import cloudpickle

from ._serialize import pickle_like_cloudpickle

__all__ = ["CloudPickleCodec", "decode_vlen", "encode_vlen"]

_U32 = struct.Struct("<I")


class CloudPickleCodec:
    """Default object codec: ``encode(obj) -> bytes`` with cloudpickle, ``decode(bytes) -> obj``.

    >>> CloudPickleCodec().decode(CloudPickleCodec().encode([1, "a"]))
    [1, 'a']
    """

    codec_id = "cloudpickle"

    def __init__(self, protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        self.protocol = protocol

    def encode(self, value: Any) -> bytes:
        """Pickle ``value`` (cloudpickle's bytes; the standard pickler where it writes the same)."""
        if self.protocol == pickle.HIGHEST_PROTOCOL:
            return pickle_like_cloudpickle(value)
        return cloudpickle.dumps(value, protocol=self.protocol)

    def decode(self, data: Any) -> Any:
        """Unpickle ``data`` (bytes or a uint8 buffer)."""
        return pickle.loads(data if isinstance(data, (bytes, bytearray)) else bytes(data))

    def __repr__(self) -> str:
        return f"CloudPickleCodec(protocol={self.protocol})"


def encode_vlen(items: Sequence[bytes]) -> bytes:
    """The ``vlen-bytes`` chunk layout: u32 count, then u32 length + bytes per item.

    >>> encode_vlen([b"ab", b"c"])
    b'\\x02\\x00\\x00\\x00\\x02\\x00\\x00\\x00ab\\x01\\x00\\x00\\x00c'
    """
    parts = [_U32.pack(len(items))]
    for item in items:
        parts.append(_U32.pack(len(item)))
        parts.append(item)
    return b"".join(parts)


def decode_vlen(data: bytes) -> list[bytes]:
    """Inverse of :func:`encode_vlen` (raises ``ValueError`` on truncated data)."""
    if len(data) < 4:
        msg = "truncated vlen-bytes chunk"
        raise ValueError(msg)
    (count,) = _U32.unpack_from(data, 0)
    offset = 4
    items = []
    for _ in range(count):
        if offset + 4 > len(data):
            msg = "truncated vlen-bytes chunk"
            raise ValueError(msg)
        (length,) = _U32.unpack_from(data, offset)
        offset += 4
        if offset + length > len(data):
            msg = "truncated vlen-bytes chunk"
            raise ValueError(msg)
        items.append(data[offset : offset + length])
        offset += length
    if offset != len(data):
        msg = "trailing bytes in vlen-bytes chunk"
        raise ValueError(msg)
    return items
