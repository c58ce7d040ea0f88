"""Batch prediction inputs: paths and wildcards expanded through fsspec,
split into shards, and each shard read back as instances, streamed.

Line formats (JSON, TEXT, CSV) that are not compressed are split by byte
ranges, so that workers parse in parallel without shipping rows between
processes: a shard owns the lines that start inside its range. Gzip files
(found by their magic bytes, whatever their name) and TFRecord files are
one shard each."""

from __future__ import annotations

import base64
import csv
import gzip
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import fsspec
import orjson

from mlnb.errors import InputMissing
from mlnb.runtime.tfrecord import TFRecordError, read_records

__all__ = ["Batch", "Record", "Shard", "list_inputs", "plan_shards", "read_batches"]

_GZIP_MAGIC = b"\x1f\x8b"
_LINE_FORMATS = ("JSON", "TEXT", "CSV")
_MIN_SHARD_BYTES = 1 << 20
_MAX_SHARD_BYTES = 64 << 20


@dataclass(frozen=True)
class Shard:
    """A part of the input that one worker predicts and writes as one
    results file. ``end`` is ``None`` for a whole file."""

    index: int
    path: str
    start: int = 0
    end: int | None = None
    header: tuple[str, ...] | None = None  # a CSV file's column names

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Shard:
        header = body.get("header")
        return cls(body["index"], body["path"], body["start"], body["end"], tuple(header) if header else None)


@dataclass(frozen=True)
class Record:
    """One input record: the instance, or why it is not one, and where it
    came from (``path at byte N`` or ``path record N``)."""

    instance: Any
    source: str
    raw: bytes
    error: str | None = None


def list_inputs(patterns: Sequence[str]) -> list[tuple[str, int]]:
    """Every file the patterns name, as (URL or path, size), in a stable order.

    Raises:
        InputMissing: A pattern that matches no file.
    """
    found: dict[str, int] = {}
    for pattern in patterns:
        fs, _, paths = fsspec.get_fs_token_paths(pattern)
        matched = [p for p in paths if fs.isfile(p)]
        if not matched:
            raise InputMissing(f"inputPaths {pattern!r} matches no file")
        for path in matched:
            found[fs.unstrip_protocol(path) if "://" in pattern else path] = int(fs.size(path))
    return sorted(found.items())


def _open(path: str) -> IO[bytes]:
    stream: IO[bytes] = fsspec.open(path, "rb").open()
    return stream


def _is_gzip(path: str) -> bool:
    with _open(path) as stream:
        return stream.read(2) == _GZIP_MAGIC


def _csv_header(path: str) -> tuple[str, ...] | None:
    """A CSV file's column names: its first row when none of its fields is a number."""
    with _open(path) as raw:
        stream = gzip.GzipFile(fileobj=raw) if _is_gzip(path) else raw
        first = stream.readline().decode("utf-8-sig").strip()
    if not first:
        return None
    fields = next(csv.reader([first]))
    if any(_number(f) is not None for f in fields):
        return None
    return tuple(f.strip() for f in fields)


def plan_shards(files: Sequence[tuple[str, int]], data_format: str, workers: int) -> list[Shard]:
    """Split the input into shards: about four per worker, each between
    1 and 64 MB where the file can be split."""
    total = sum(size for _, size in files)
    target = min(max(total // max(1, workers * 4), _MIN_SHARD_BYTES), _MAX_SHARD_BYTES)
    shards: list[Shard] = []
    for path, size in files:
        header = _csv_header(path) if data_format == "CSV" else None
        if data_format not in _LINE_FORMATS or _is_gzip(path) or size <= target:
            shards.append(Shard(len(shards), path, 0, None, header))
            continue
        pieces = math.ceil(size / target)
        step = math.ceil(size / pieces)
        for start in range(0, size, step):
            shards.append(Shard(len(shards), path, start, min(start + step, size), header))
    return shards


@dataclass
class Batch:
    """Up to a batch size of good instances of a shard, in input order, and
    the records among them that are not instances."""

    instances: list[Any] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    sources: list[str | int] = field(default_factory=list)  # a byte offset, or a description
    bad: list[Record] = field(default_factory=list)
    path: str = ""

    def source(self, index: int) -> str:
        where = self.sources[index]
        return f"{self.path} at byte {where}" if isinstance(where, int) else where


# Without a batchSize, a batch is about this much input, within these counts:
# small instances go many to a model call (whose fixed cost is what limits
# scikit-learn and XGBoost), large ones (images) few.
AUTO_BATCH_BYTES = 4 << 20
AUTO_BATCH_MIN = 64
AUTO_BATCH_MAX = 4096


def _full(count: int, nbytes: int, size: int | None) -> bool:
    if size is not None:
        return count >= size
    return count >= AUTO_BATCH_MAX or (count >= AUTO_BATCH_MIN and nbytes >= AUTO_BATCH_BYTES)


def read_batches(shard: Shard, data_format: str, size: int | None) -> Iterator[Batch]:
    """The shard's instances in input order, ``size`` at a time (``None``:
    sized by their bytes)."""
    nbytes = 0
    if data_format in ("TF_RECORD", "TF_RECORD_GZIP"):
        batch = Batch(path=shard.path)
        for record in _tfrecords(shard):
            if record.error is not None:
                batch.bad.append(record)
                continue
            batch.instances.append(record.instance)
            batch.raws.append(record.raw)
            batch.sources.append(record.source)
            nbytes += len(record.raw)
            if _full(len(batch.instances), nbytes, size):
                yield batch
                batch, nbytes = Batch(path=shard.path), 0
        if batch.instances or batch.bad:
            yield batch
        return
    offsets: list[int] = []
    lines: list[bytes] = []
    for offset, line in _lines(shard):
        offsets.append(offset)
        lines.append(line)
        nbytes += len(line)
        if _full(len(lines), nbytes, size):
            yield _parsed(shard, data_format, offsets, lines)
            offsets, lines, nbytes = [], [], 0
    if lines:
        yield _parsed(shard, data_format, offsets, lines)


def _parsed(shard: Shard, data_format: str, offsets: list[int], lines: list[bytes]) -> Batch:
    if data_format != "CSV":
        try:
            # One parse for the whole batch; line by line only when some line is not JSON.
            instances = orjson.loads(b"[" + b",".join(lines) + b"]")
            return Batch(instances, lines, list(offsets), [], shard.path)
        except orjson.JSONDecodeError:
            pass
    batch = Batch(path=shard.path)
    for offset, line in zip(offsets, lines, strict=True):
        source = f"{shard.path} at byte {offset}"
        record = (
            _csv_record(line, source, shard.header) if data_format == "CSV" else _json_record(line, source)
        )
        if record.error is not None:
            batch.bad.append(record)
        else:
            batch.instances.append(record.instance)
            batch.raws.append(line)
            batch.sources.append(offset)
    return batch


def _lines(shard: Shard) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of the non-empty lines that start in the shard's range."""
    with _open(shard.path) as raw:
        compressed = shard.end is None and _is_gzip(shard.path)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw  # type: ignore[assignment]
        position = shard.start
        if shard.start > 0:
            # The line that crosses into the range belongs to the shard before.
            stream.seek(shard.start - 1)
            position = shard.start - 1 + len(stream.readline())
        skip_header = shard.header is not None and shard.start == 0
        for line in _raw_lines(stream):
            if shard.end is not None and position >= shard.end:
                return
            offset, position = position, position + len(line)
            if skip_header:
                skip_header = False
                continue
            text = line.rstrip(b"\r\n")
            if text.strip():
                yield offset, text


def _raw_lines(stream: IO[bytes], block: int = 1 << 20) -> Iterator[bytes]:
    """The stream's lines with their newlines, read a block at a time:
    ``readlines(hint)`` is not on every file object (fsspec's remote files
    take no hint), ``read(n)`` is."""
    pending = b""
    while True:
        chunk = stream.read(block)
        if not chunk:
            if pending:
                yield pending
            return
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield line + b"\n"


def _json_record(line: bytes, source: str) -> Record:
    try:
        return Record(orjson.loads(line), source, line)
    except orjson.JSONDecodeError as e:
        return Record(None, source, line, f"Not valid JSON: {e}")


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _csv_record(line: bytes, source: str, header: tuple[str, ...] | None) -> Record:
    try:
        fields = next(csv.reader([line.decode("utf-8")]))
    except (UnicodeDecodeError, csv.Error, StopIteration) as e:
        return Record(None, source, line, f"Not a CSV row: {e}")
    values = [v if (n := _number(v)) is None else n for v in fields]
    if header is None:
        return Record(values, source, line)
    if len(values) != len(header):
        return Record(None, source, line, f"The row has {len(values)} fields; the header names {len(header)}")
    return Record(dict(zip(header, values, strict=True)), source, line)


def _tfrecords(shard: Shard) -> Iterator[Record]:
    """Each record as the JSON it holds, else as ``{"b64": ...}`` bytes (a
    serialized tf.train.Example, an image)."""
    with _open(shard.path) as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if _is_gzip(shard.path) else raw  # type: ignore[assignment]
        number = 0
        try:
            for data in read_records(stream, shard.path):
                source = f"{shard.path} record {number}"
                number += 1
                try:
                    yield Record(orjson.loads(data), source, data)
                except orjson.JSONDecodeError:
                    yield Record({"b64": base64.b64encode(data).decode("ascii")}, source, data)
        except TFRecordError as e:
            yield Record(None, f"{shard.path} record {number}", b"", str(e))
