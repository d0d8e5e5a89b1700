"""Decoding S2 blocks and checking their CRC-32C, to read the reference's snapshots.

The reference compresses snapshots with S2, Snappy's extension: the same block format plus
"repeat" copies (a 1-byte-offset copy with offset 0 reuses the previous offset, with longer
lengths). No Python package decodes S2, so blocks are decoded here in pure Python (used
only for archives the reference made; pynatsd writes plain Snappy, decoded natively). The
frames' CRC-32C comes from cramjam's Snappy framing, which checksums every 64 KiB of its
input, combined with zlib's crc32_combine method.
"""

from __future__ import annotations

import functools

import cramjam

_IDENT = b"\xff\x06\x00\x00sNaPpY"
_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


class CorruptBlock(Exception):
    pass


def _mask(c: int) -> int:
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _unmask(m: int) -> int:
    c = (m - 0xA282EAD8) & 0xFFFFFFFF
    return ((c << 15) | (c >> 17)) & 0xFFFFFFFF


def crc32c_slow(data: bytes) -> int:
    """CRC-32C a byte at a time (the reference for :func:`crc32c`, and short inputs)."""
    t = _TABLE
    c = 0xFFFFFFFF
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _times(mat: list[int], vec: int) -> int:
    s = i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _square(mat: list[int]) -> list[int]:
    return [_times(mat, mat[n]) for n in range(32)]


@functools.lru_cache(maxsize=64)
def _shift(nbytes: int) -> tuple[int, ...]:
    """The operator that appends ``nbytes`` zero bytes to a CRC (zlib's crc32_combine)."""
    result = [1 << n for n in range(32)]
    odd = [_POLY] + [1 << n for n in range(31)]
    even = _square(odd)
    odd = _square(even)
    n = nbytes
    while n:
        even = _square(odd)
        if n & 1:
            result = [_times(even, r) for r in result]
        n >>= 1
        if not n:
            break
        odd = _square(even)
        if n & 1:
            result = [_times(odd, r) for r in result]
        n >>= 1
    return tuple(result)


def crc32c(data: bytes) -> int:
    """CRC-32C at native speed: the Snappy framing cramjam writes carries the CRC of each
    64 KiB of its input; those are combined into the CRC of the whole."""
    if len(data) < 256:
        return crc32c_slow(data)
    framed = bytes(cramjam.snappy.compress(data))
    pos, crc, left = len(_IDENT), 0, len(data)
    while pos < len(framed):
        n = int.from_bytes(framed[pos + 1 : pos + 4], "little")
        part = _unmask(int.from_bytes(framed[pos + 4 : pos + 8], "little"))
        size = min(left, 1 << 16)
        crc = _times(list(_shift(size)), crc) ^ part if crc else part
        left -= size
        pos += 4 + n
    return crc


def masked_crc32c(data: bytes) -> int:
    """The framing format's checksum: CRC-32C, rotated and offset."""
    return _mask(crc32c(data))


def decode_block(src: bytes, max_len: int = 4 << 20) -> bytes:
    """One S2 (or Snappy) block: a uvarint length, then literals and copies."""
    n = length = shift = 0
    s = 0
    while True:
        if s >= len(src) or s >= 5:
            raise CorruptBlock
        b = src[s]
        s += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
    if n > max_len:
        raise CorruptBlock
    dst = bytearray()
    offset = 0
    end = len(src)
    try:
        while s < end:
            tag = src[s]
            kind = tag & 3
            if kind == 0:  # literal
                x = tag >> 2
                if x < 60:
                    s += 1
                else:
                    k = x - 59
                    x = int.from_bytes(src[s + 1 : s + 1 + k], "little")
                    if s + 1 + k > end:
                        raise CorruptBlock
                    s += 1 + k
                length = x + 1
                if s + length > end:
                    raise CorruptBlock
                dst += src[s : s + length]
                s += length
                continue
            if kind == 1:  # copy, 1-byte offset; offset 0 repeats the last one (S2)
                if s + 2 > end:
                    raise CorruptBlock
                length = (tag >> 2) & 7
                toffset = ((tag & 0xE0) << 3) | src[s + 1]
                s += 2
                if toffset == 0:
                    if length == 5:
                        length = src[s] + 4
                        s += 1
                    elif length == 6:
                        length = int.from_bytes(src[s : s + 2], "little") + (1 << 8)
                        s += 2
                    elif length == 7:
                        length = int.from_bytes(src[s : s + 3], "little") + (1 << 16)
                        s += 3
                    if s > end:
                        raise CorruptBlock
                else:
                    offset = toffset
                length += 4
            elif kind == 2:
                if s + 3 > end:
                    raise CorruptBlock
                offset = int.from_bytes(src[s + 1 : s + 3], "little")
                length = 1 + (tag >> 2)
                s += 3
            else:
                if s + 5 > end:
                    raise CorruptBlock
                offset = int.from_bytes(src[s + 1 : s + 5], "little")
                length = 1 + (tag >> 2)
                s += 5
            d = len(dst)
            if offset <= 0 or d < offset or d + length > n:
                raise CorruptBlock
            if offset >= length:
                dst += dst[d - offset : d - offset + length]
            else:  # overlapping: the pattern of `offset` bytes repeats
                pattern = dst[d - offset :]
                dst += (pattern * (length // offset + 1))[:length]
    except IndexError:
        raise CorruptBlock from None
    if len(dst) != n:
        raise CorruptBlock
    return bytes(dst)
