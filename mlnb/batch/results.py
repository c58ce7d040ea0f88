"""The output folder of a batch prediction job, as ML Engine lays it out:
``prediction.results-00000-of-0000N`` (one per shard, predictions in input
order) and ``prediction.errors_stats-00000-of-00001``, plus mlnb's own
bookkeeping under ``.mlnb/``: the shard plan, and each finished shard's
counts and errors.

A shard is written to a temporary name and renamed when complete; its
counts and errors are written before its results, so a results file that
exists is a shard that is done, and a resumed job redoes exactly the rest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

import fsspec
import orjson

from mlnb.runtime.tfrecord import write_record

__all__ = ["ERRORS_NAME", "OutputFolder", "ShardWriter"]

ERRORS_NAME = "prediction.errors_stats-00000-of-00001"
_STATE = ".mlnb"
_MAX_INPUT_SHOWN = 1000


def results_name(index: int, count: int) -> str:
    return f"prediction.results-{index:05d}-of-{count:05d}"


class OutputFolder:
    """A job's output path, local or any fsspec URL."""

    def __init__(self, output_path: str) -> None:
        self.url = output_path
        self.fs, self.root = fsspec.core.url_to_fs(output_path)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def _fresh(self) -> None:
        # Other processes (the workers) write here: an object store's cached
        # listing would never show their files.
        for folder in (self.root, self.path(_STATE)):
            self.fs.invalidate_cache(folder)

    def temporary(self, *parts: str) -> TemporaryFile:
        """A file open for writing under a temporary name, for ``commit`` to
        rename into place or ``discard`` to remove."""
        return TemporaryFile(self, *parts)

    @contextmanager
    def atomic(self, *parts: str) -> Iterator[IO[bytes]]:
        """Write a file under a temporary name; rename it into place when the
        block ends without an error, remove it otherwise."""
        file = self.temporary(*parts)
        try:
            yield file.stream
        except BaseException:
            file.discard()
            raise
        file.commit()

    def read_plan(self) -> dict[str, Any] | None:
        path = self.path(_STATE, "plan.json")
        self._fresh()
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "rb") as stream:
            plan: dict[str, Any] = orjson.loads(stream.read())
            return plan

    def write_plan(self, plan: dict[str, Any]) -> None:
        with self.atomic(_STATE, "plan.json") as stream:
            stream.write(orjson.dumps(plan, option=orjson.OPT_INDENT_2))

    def results_present(self) -> list[str]:
        """Names of the results files in the folder."""
        self._fresh()
        if not self.fs.exists(self.root):
            return []
        names = (str(p).rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False))
        return sorted(n for n in names if n.startswith("prediction.results-"))

    def remove_leftovers(self) -> int:
        """Delete the temporary files of shards whose worker died; the count."""
        removed = 0
        self._fresh()
        for folder in (self.root, self.path(_STATE)):
            if not self.fs.exists(folder):
                continue
            for path in self.fs.ls(folder, detail=False):
                name = str(path).rsplit("/", 1)[-1]
                if name.startswith(".") and name.endswith(".tmp"):
                    self.fs.rm(path)
                    removed += 1
        return removed

    def done_shards(self, count: int) -> set[int]:
        """Indices of the shards whose results file is in place."""
        wanted = {results_name(i, count): i for i in range(count)}
        return {wanted[name] for name in self.results_present() if name in wanted}

    def shard_stats(
        self, count: int, known: Mapping[int, dict[str, Any]] | None = None
    ) -> dict[int, dict[str, Any]]:
        """The counts of every finished shard; those in ``known`` are not
        read again (a finished shard's counts never change)."""
        stats = dict(known or {})
        for index in sorted(self.done_shards(count) - set(stats)):  # done_shards lists afresh
            path = self.path(_STATE, f"shard-{index:05d}.json")
            if self.fs.exists(path):
                with self.fs.open(path, "rb") as stream:
                    stats[index] = orjson.loads(stream.read())
        return stats

    def scored_rows(self, count: int) -> Iterator[bytes]:
        """The scored rows of a labelled run's shards, in shard order."""
        self._fresh()
        for index in range(count):
            path = self.path(_STATE, f"scored-{index:05d}.jsonl")
            if self.fs.exists(path):
                with self.fs.open(path, "rb") as stream:
                    yield from (line for line in stream.read().splitlines() if line)

    def merge_errors(self, count: int) -> None:
        """Gather the finished shards' errors, in shard order, into
        ``prediction.errors_stats-00000-of-00001``."""
        self._fresh()
        with self.atomic(ERRORS_NAME) as out:
            for index in range(count):
                path = self.path(_STATE, f"errors-{index:05d}.jsonl")
                if self.fs.exists(path):
                    with self.fs.open(path, "rb") as part:
                        out.write(part.read())


class TemporaryFile:
    """A file written under a hidden temporary name (``.NAME.XXXX.tmp``,
    what ``remove_leftovers`` looks for) next to where it belongs."""

    def __init__(self, folder: OutputFolder, *parts: str) -> None:
        self.fs = folder.fs
        self.final = folder.path(*parts)
        self.name = folder.path(*parts[:-1], f".{parts[-1]}.{uuid.uuid4().hex[:8]}.tmp")
        self.fs.makedirs(folder.path(*parts[:-1]) if len(parts) > 1 else folder.root, exist_ok=True)
        self.stream: IO[bytes] = self.fs.open(self.name, "wb")

    def commit(self) -> None:
        self.stream.close()
        self.fs.mv(self.name, self.final)

    def discard(self) -> None:
        self.stream.close()
        if self.fs.exists(self.name):
            self.fs.rm(self.name)


class ShardWriter:
    """The results of one shard in the job's output format, streamed to a
    temporary file; its failed instances and counts; ``commit`` puts them
    in place, and leaving the block without a commit removes the file."""

    def __init__(self, folder: OutputFolder, index: int, count: int, output_format: str) -> None:
        self.folder = folder
        self.index = index
        self.count = count
        self.output_format = output_format
        self.predictions = 0
        self._errors: list[bytes] = []
        self._columns: list[str] | None = None
        self._results = folder.temporary(results_name(index, count))
        self._stream = self._results.stream
        self._committed = False
        # A labelled run's (target, prediction, probabilities) rows, and
        # what its counts file keeps of them.
        self.scored: list[bytes] | None = None
        self.stats: dict[str, Any] = {}

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self._committed:
            self._results.discard()

    def add_predictions(self, predictions: list[Any]) -> None:
        self.predictions += len(predictions)
        if self.output_format == "JSON" and all(type(p) in (int, float) for p in predictions):
            # Plain numbers (most scikit-learn and XGBoost models): one dump for the batch.
            numbers = orjson.dumps(predictions)[1:-1].split(b",")
            self._stream.write(b"".join(b'{"prediction":' + n + b"}\n" for n in numbers if n))
            return
        bodies = [p if isinstance(p, dict) else {"prediction": p} for p in predictions]
        if self.output_format == "CSV":
            self._stream.write(b"".join(self._csv_row(b) + b"\n" for b in bodies))
        elif self.output_format == "TF_RECORD":
            for body in bodies:
                write_record(self._stream, orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
        else:
            self._stream.write(
                b"".join(orjson.dumps(b, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for b in bodies)
            )

    def add_error(self, source: str, message: str, raw: bytes) -> None:
        shown = raw[:_MAX_INPUT_SHOWN].decode("utf-8", "replace")
        self._errors.append(orjson.dumps({"source": source, "error": message, "input": shown}))

    @property
    def errors(self) -> int:
        return len(self._errors)

    def _csv_row(self, body: dict[str, Any]) -> bytes:
        import csv
        import io

        flat = _flatten(body)
        if self._columns is None:
            self._columns = list(flat)
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow([flat.get(c, "") for c in self._columns])
        return out.getvalue().encode()

    def commit(self, seconds: float) -> None:
        """Errors and counts first, the results file last: a results file in
        place is a shard that is done."""
        if self._errors:
            with self.folder.atomic(_STATE, f"errors-{self.index:05d}.jsonl") as stream:
                stream.write(b"\n".join(self._errors) + b"\n")
        if self.scored is not None:
            with self.folder.atomic(_STATE, f"scored-{self.index:05d}.jsonl") as stream:
                stream.write(b"".join(row + b"\n" for row in self.scored))
        with self.folder.atomic(_STATE, f"shard-{self.index:05d}.json") as stream:
            counts = {"predictions": self.predictions, "errors": len(self._errors), "seconds": seconds}
            stream.write(orjson.dumps(counts | self.stats))
        if self.output_format == "CSV" and self._columns is not None and self.index == 0:
            with self.folder.atomic("prediction.results.keys") as stream:
                stream.write(",".join(self._columns).encode() + b"\n")
        self._results.commit()
        self._committed = True


def _flatten(body: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": [1, 2], "b": {"c": 3}}`` to ``{"a_0": 1, "a_1": 2, "b_c": 3}``."""
    flat: dict[str, Any] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}_"))
        elif isinstance(value, list):
            flat.update(_flatten({str(i): v for i, v in enumerate(value)}, f"{name}_"))
        else:
            flat[name] = value
    return flat
