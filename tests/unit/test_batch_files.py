"""Batch prediction's file handling: the TFRecord format with its CRCs,
shards that split lines exactly, and predictionInput checks."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest

from mlnb.batch.inputs import Batch, Shard, list_inputs, plan_shards, read_batches
from mlnb.batch.spec import PredictionSpec, normalize_format
from mlnb.errors import InvalidArgument
from mlnb.runtime.tfrecord import TFRecordError, masked_crc, read_records, write_record


def test_tfrecords_round_trip_with_the_format_of_tensorflow() -> None:
    out = io.BytesIO()
    for data in (b"", b"hello", b"x" * 70_000):
        write_record(out, data)
    assert list(read_records(io.BytesIO(out.getvalue()))) == [b"", b"hello", b"x" * 70_000]
    # Bytes as TensorFlow's writer lays them out: length, masked CRC32C of it, data, masked CRC32C.
    assert out.getvalue()[:8] == (0).to_bytes(8, "little")
    assert masked_crc(b"") == 0xA282EAD8  # CRC32C of nothing is 0; masking adds the delta


def test_a_corrupt_or_cut_tfrecord_is_refused_naming_the_offset() -> None:
    out = io.BytesIO()
    write_record(out, b"first")
    write_record(out, b"second")
    data = bytearray(out.getvalue())
    data[len(b"first") + 16 + 13] ^= 0xFF  # a byte of the second record's data
    with pytest.raises(TFRecordError, match="the data of the record at byte 21 fails its checksum"):
        list(read_records(io.BytesIO(bytes(data))))
    with pytest.raises(TFRecordError, match="the record at byte 21 is cut short"):
        list(read_records(io.BytesIO(out.getvalue()[:-3])))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_byte_range_shards_hold_every_line_once(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    lines = [
        ("[" + ",".join(str(rng.random()) for _ in range(rng.randint(1, 400))) + "]") for _ in range(6000)
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    shards = plan_shards(list_inputs([str(path)]), "JSON", workers=4)
    assert len(shards) > 4 and all(s.end is not None for s in shards)
    read = [
        raw.decode() for shard in shards for batch in read_batches(shard, "JSON", 100) for raw in batch.raws
    ]
    assert read == lines


def instances(shard: Shard, data_format: str) -> list[object]:
    return [i for batch in read_batches(shard, data_format, 1) for i in batch.instances]


def test_a_batch_with_a_bad_line_keeps_the_good_ones_in_order(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("[1]\n{oops\n[2]\n")
    (shard,) = plan_shards(list_inputs([str(tmp_path / "in.jsonl")]), "JSON", workers=1)
    (batch,) = read_batches(shard, "JSON", 10)
    assert isinstance(batch, Batch) and batch.instances == [[1], [2]]
    assert batch.source(1) == f"{shard.path} at byte 10"
    assert batch.bad[0].source == f"{shard.path} at byte 4" and batch.bad[0].raw == b"{oops"


def test_gzip_files_are_found_by_their_bytes_and_are_one_shard(tmp_path: Path) -> None:
    path = tmp_path / "no_suffix"
    path.write_bytes(gzip.compress(b"[1, 2]\n\n[3, 4]\n"))
    (shard,) = plan_shards(list_inputs([str(path)]), "JSON", workers=4)
    assert instances(shard, "JSON") == [[1, 2], [3, 4]]


def test_csv_rows_become_lists_or_named_instances(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("1,2.5,x\n3,4,y\n")
    (tmp_path / "named.csv").write_text("a,b\n1,2\n3\n")
    plain, named = plan_shards(list_inputs([str(tmp_path / "*.csv")]), "CSV", workers=1)[::-1]
    assert instances(plain, "CSV") == [[1, 2.5, "x"], [3, 4, "y"]]
    (batch,) = read_batches(named, "CSV", 10)
    assert batch.instances == [{"a": 1, "b": 2}]
    assert [r.error for r in batch.bad] == ["The row has 1 fields; the header names 2"]
    assert batch.bad[0].source == f"{named.path} at byte 8"


def test_inputs_that_match_nothing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="matches no file"):
        list_inputs([str(tmp_path / "*.jsonl")])


@pytest.mark.parametrize(
    ("given", "expected"),
    [("text", "TEXT"), ("tf-record", "TF_RECORD"), ("TF_RECORD_GZIP", "TF_RECORD_GZIP"), ("Json", "JSON")],
)
def test_data_formats_take_gcloud_and_api_names(given: str, expected: str) -> None:
    assert normalize_format(given, ("JSON", "TEXT", "CSV", "TF_RECORD", "TF_RECORD_GZIP"), "x") == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"outputPath": "o", "dataFormat": "JSON", "modelName": "m"}, "inputPaths needs one or more"),
        ({"inputPaths": ["i"], "dataFormat": "JSON", "modelName": "m"}, "outputPath is required"),
        ({"inputPaths": ["i"], "outputPath": "o", "modelName": "m"}, "dataFormat is required"),
        (
            {"inputPaths": ["i"], "outputPath": "o", "dataFormat": "PARQUET", "modelName": "m"},
            "'PARQUET' is not",
        ),
        ({"inputPaths": ["i"], "outputPath": "o", "dataFormat": "JSON"}, "Say which model"),
        (
            {"inputPaths": ["i"], "outputPath": "o", "dataFormat": "JSON", "modelName": "m", "uri": "u"},
            "not both",
        ),
        (
            {"inputPaths": ["i"], "outputPath": "o", "dataFormat": "JSON", "modelName": "m", "batchSize": 0},
            None,
        ),
        (
            {
                "inputPaths": ["i"],
                "outputPath": "o",
                "dataFormat": "JSON",
                "modelName": "m",
                "maxWorkerCount": -1,
            },
            "maxWorkerCount must be from 1",
        ),
        (
            {"inputPaths": ["i"], "outputPath": "o", "dataFormat": "JSON", "versionName": "v1"},
            "versionName 'v1' must be projects/PROJECT/models/MODEL/versions/VERSION",
        ),
        (
            {
                "inputPaths": ["i"],
                "outputPath": "o",
                "dataFormat": "JSON",
                "uri": "u",
                "outputDataFormat": "TEXT",
            },
            "outputDataFormat 'TEXT' is not",
        ),
    ],
)
def test_prediction_input_checks(body: dict[str, object], message: str | None) -> None:
    if message is None:
        assert PredictionSpec.from_api(body).batch_size is None  # 0 means the default
        return
    with pytest.raises(InvalidArgument, match=message):
        PredictionSpec.from_api(body)


def test_version_names_come_back_as_the_api_writes_them() -> None:
    body = {
        "inputPaths": "in.jsonl",
        "outputPath": "out",
        "dataFormat": "text",
        "versionName": "projects/p/models/census/versions/v2",
    }
    spec = PredictionSpec.from_api(body)
    assert (spec.model_name, spec.version_name, spec.data_format) == ("census", "v2", "TEXT")
    assert spec.to_api("p")["versionName"] == "projects/p/models/census/versions/v2"
