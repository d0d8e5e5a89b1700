"""s2block: CRC-32C and S2 block decoding (the reference's snapshots are S2-compressed)."""

from __future__ import annotations

import os

import cramjam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pynatsd.jetstream.s2block import CorruptBlock, crc32c, crc32c_slow, decode_block


def test_crc32c_check_value_and_fast_path() -> None:
    assert crc32c_slow(b"123456789") == 0xE3069283  # the standard check value
    for n in (0, 1, 255, 256, 4097, 65535, 65536, 65537, 300_000, (1 << 20) + 7):
        data = os.urandom(n)
        assert crc32c(data) == crc32c_slow(data), n
    assert crc32c(b"ab" * 200_000) == crc32c_slow(b"ab" * 200_000)


def test_snappy_blocks_decode() -> None:
    for data in (b"", b"x", os.urandom(5000), b"abc" * 30_000, b"a" * 70_000 + os.urandom(100)):
        assert decode_block(bytes(cramjam.snappy.compress_raw(data))) == data


def test_s2_repeat_copies() -> None:
    # "abcd" literal, a copy at offset 4 of length 8 (copy2), then two S2 repeats of that
    # offset: length code 0 (4 bytes) and length code 5 (one more byte: 10 + 4 + 4 = 18)
    block = bytes(
        [4 + 8 + 4 + 18, 3 << 2, *b"abcd", ((8 - 1) << 2) | 2, 4, 0, 0x01, 0x00, (5 << 2) | 1, 0, 10]
    )
    assert decode_block(block) == b"abcd" * 8 + b"ab"


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"\x05",
        b"\x04\x01\x00",
        b"\x04\x00\x00\x01\x00",
        b"\x02\xfc\xff\xff\xff\xff",
        b"\xff\xff\xff\xff\xff\xff",
    ],
)
def test_corrupt_blocks(block: bytes) -> None:
    with pytest.raises(CorruptBlock):
        decode_block(block)


@given(st.binary(max_size=200))
def test_garbage_is_only_ever_corrupt(block: bytes) -> None:
    try:
        decode_block(block)
    except CorruptBlock:
        pass
