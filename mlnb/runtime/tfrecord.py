"""The TFRecord file format without TensorFlow: each record is its length
(uint64, little-endian), the masked CRC32C of those 8 bytes, the data, and
the masked CRC32C of the data. scikit-learn and XGBoost users read and
write these files with no TensorFlow installed."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

import google_crc32c

__all__ = ["TFRecordError", "masked_crc", "read_records", "write_record"]

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


class TFRecordError(ValueError):
    """A TFRecord file that is cut short or whose checksums do not match."""


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data``."""
    crc = int(google_crc32c.value(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(stream: IO[bytes], name: str = "the file") -> Iterator[bytes]:
    """Every record's data, checksums verified.

    Raises:
        TFRecordError: A record cut short or a checksum mismatch, naming
            the byte offset of the record.
    """
    offset = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        if len(header) < 12:
            raise TFRecordError(f"{name}: the record at byte {offset} is cut short")
        length_bytes = header[:8]
        if _CRC.unpack(header[8:])[0] != masked_crc(length_bytes):
            raise TFRecordError(f"{name}: the length of the record at byte {offset} fails its checksum")
        (length,) = _LENGTH.unpack(length_bytes)
        data = stream.read(length)
        footer = stream.read(4)
        if len(data) < length or len(footer) < 4:
            raise TFRecordError(f"{name}: the record at byte {offset} is cut short")
        if _CRC.unpack(footer)[0] != masked_crc(data):
            raise TFRecordError(f"{name}: the data of the record at byte {offset} fails its checksum")
        offset += 16 + length
        yield data


def write_record(stream: IO[bytes], data: bytes) -> None:
    """Append one record."""
    length = _LENGTH.pack(len(data))
    stream.write(length + _CRC.pack(masked_crc(length)) + data + _CRC.pack(masked_crc(data)))
