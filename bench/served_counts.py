"""A busy model's served counts over a day: how many rows the store holds
and how long a day's figures take to read, with a row a second from every
serving process (as written) against the rows merged by the minute (as
the servers keep them past two minutes).

A fresh SQLite store gets ``--hours`` of rows from ``--servers`` serving
processes for ``--versions`` versions (one row a second each, as each
process flushes), the day's figures are read (``ServedCounts.tallies``,
what ``mlnb models served M --since 1d`` reads), the rows are merged by
the minute in one go (the servers do it a minute at a time, as they go),
and the figures are read again; the totals must match.

    .venv/bin/python bench/served_counts.py [--servers 4] [--versions 2] [--hours 24]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlnb.prediction import ServedCounts
from mlnb.store import Database, ServedCountsTx

_CHUNK = 50_000  # rows a write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=4)
    parser.add_argument("--versions", type=int, default=2)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mlnb-bench-served-"))
    database = Database(f"sqlite:///{root / 'mlnb.db'}")
    try:
        at = datetime.now(UTC)
        span = timedelta(hours=args.hours)
        lines = [  # each server's row ends a microsecond apart, as real clocks would
            ("default", "busy", f"v{v}", at - timedelta(seconds=s, microseconds=server), 10, 1, {"9": 10})
            for s in range(int(span.total_seconds()))
            for server in range(args.servers)
            for v in range(args.versions)
        ]  # fmt: skip
        for start in range(0, len(lines), _CHUNK):
            with database.session(write=True) as session:
                ServedCountsTx(session).append(lines[start : start + _CHUNK])
        counts = ServedCounts(database)
        since = at - span - timedelta(minutes=1)  # the whole span, and the minute its first row merges into

        def read() -> tuple[float, int, int]:
            started = time.perf_counter()
            tallies = counts.tallies("default", "busy", since)
            spent = time.perf_counter() - started
            with database.session() as session:
                rows = len(ServedCountsTx(session).since("default", "busy", since))
            return spent, rows, sum(tally.requests for tally in tallies.values())

        raw_s, raw_rows, raw_total = read()
        started = time.perf_counter()
        counts.compact(at, window=span + timedelta(minutes=2))
        merge_s = time.perf_counter() - started
        merged_s, merged_rows, merged_total = read()
        if merged_total != raw_total:
            raise SystemExit(f"the merge changed the totals: {raw_total} requests, then {merged_total}")
        print(f"{args.servers} servers, {args.versions} versions, {args.hours:g} h, a row a second each:\n")
        print(f"{'store':>22}  {'rows':>9}  {'read the span (s)':>17}")
        print(f"{'a row a second':>22}  {raw_rows:>9}  {raw_s:>17.3f}")
        print(f"{'merged by the minute':>22}  {merged_rows:>9}  {merged_s:>17.3f}")
        print(f"\nthe span merged in one go in {merge_s:.1f} s; {raw_total} requests counted either way")
    finally:
        database.dispose()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
