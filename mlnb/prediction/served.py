"""What a serving process answered, per version: requests, the failed
ones, and their times to answer, kept in the metadata store whichever
server answered, whether or not the model logs its requests.

A request costs one append to a list; a thread sums the requests of each
version every second (``flush_s``) into one row of counts, with the times
by bucket (four buckets an octave from 0.05 ms, so a quantile read back is
within a fifth of the true one), and sends the rows in one write. Readers
(a rollout watching its canary) sum the rows of every server since a time.

A row a second from every serving process would be some 86,000 a day a
process and version, read back in full by a day's figures: so the writers
merge the rows older than two minutes by version and minute (one row a
minute a version, whatever the number of servers), one writer at a time,
and drop the rows older than a day. A read that starts further back than
two minutes may then count up to a minute from before its start.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mlnb.errors import MlnbError
from mlnb.runtime.batches import BatchSender

if TYPE_CHECKING:
    from mlnb.store import Database
    from mlnb.store.served_counts_tx import ServedCountsLine

__all__ = ["KEEP", "ServedCounts", "Tally"]

log = logging.getLogger("mlnb.served")

_BASE_MS = 0.05
_PER_OCTAVE = 4
_LAST_BUCKET = 120  # 0.05 ms * 2**30: past any request's time
# How long the counts are kept: the longest span they can be read for.
KEEP = timedelta(days=1)
_PRUNE_EVERY = timedelta(minutes=10)
# Rows older than this are merged by the minute, once a minute, looking
# this far back (a row that came late, from a machine whose clock lags,
# is merged with its minute's row).
_COMPACT_AFTER = timedelta(minutes=2)
_COMPACT_EVERY = timedelta(minutes=1)
_COMPACT_WINDOW = timedelta(minutes=15)
_COMPACTION_LOCK = "served-counts-compaction"

# (project, model, version, seconds to answer, failed)
_Served = tuple[str, str, str, float, bool]


def bucket_of(ms: float) -> int:
    """The latency bucket of ``ms`` milliseconds: bucket ``i`` holds times
    from ``edge(i)`` up to ``edge(i + 1)``; the first one, all below."""
    if ms <= _BASE_MS:
        return 0
    return min(int(math.log2(ms / _BASE_MS) * _PER_OCTAVE), _LAST_BUCKET)


def edge(index: int) -> float:
    """The lower bound of bucket ``index``, in milliseconds (0 for the first)."""
    return 0.0 if index <= 0 else _BASE_MS * 2 ** (index / _PER_OCTAVE)


@dataclass
class Tally:
    """Requests answered, the failed ones and their times by bucket."""

    requests: int = 0
    errors: int = 0
    latency: Counter[int] = field(default_factory=Counter)

    def add(self, requests: int, errors: int, latency: dict[Any, int]) -> None:
        self.requests += requests
        self.errors += errors
        for index, count in latency.items():
            self.latency[int(index)] += int(count)

    @classmethod
    def summed(cls, tallies: Iterable[Tally]) -> Tally:
        """One tally of several (each left as it was)."""
        total = cls()
        for tally in tallies:
            total.add(tally.requests, tally.errors, tally.latency)
        return total

    def quantile_ms(self, q: float) -> float | None:
        """The ``q`` quantile of the times, interpolated within its bucket
        (as Prometheus's ``histogram_quantile``); ``None`` with no time."""
        total = sum(self.latency.values())
        if not total:
            return None
        rank, seen = q * total, 0
        for index in sorted(self.latency):
            count = self.latency[index]
            if seen + count >= rank:
                low, high = edge(index), edge(index + 1)
                return low + (high - low) * (rank - seen) / count
            seen += count
        return edge(max(self.latency) + 1)

    def figures(self) -> dict[str, Any]:
        """``requests``, ``errors``, ``errorRate`` and ``latencyP99Ms``."""
        p99 = self.quantile_ms(0.99)
        return {
            "requests": self.requests,
            "errors": self.errors,
            "errorRate": self.errors / self.requests if self.requests else 0.0,
            "latencyP99Ms": round(p99, 3) if p99 is not None else None,
        }


class ServedCounts:
    """The served counts of one metadata store: noted by this process,
    read summed over every process that serves from the store."""

    def __init__(self, db: Database, flush_s: float = 1.0) -> None:
        self._db = db
        self._flush_s = flush_s
        self._batches: BatchSender[_Served] | None = None
        self._started = threading.Lock()
        self._last_prune = datetime.min.replace(tzinfo=UTC)
        # The first merge a minute in: a short-lived process (a notebook's
        # few predictions, one `mlnb predict`) leaves it to the servers.
        self._last_compaction = datetime.now(UTC)

    def note(self, project: str, model: str, version: str, seconds: float, failed: bool) -> None:
        """Count one request a version answered (or failed) in ``seconds``."""
        self._sender().add((project, model, version, seconds, failed))

    def tallies(self, project: str, model: str, since: datetime) -> dict[str, Tally]:
        """Each version's requests of the periods that ended after
        ``since``, summed over every server (this process's pending ones
        sent first). A period is at most ``flush_s`` long, and a minute
        once merged (past two minutes), so up to that much from before
        ``since`` may be counted."""
        from mlnb.store import ServedCountsTx

        self.flush()
        with self._db.session() as session:
            lines = ServedCountsTx(session).since(project, model, since)
        found: dict[str, Tally] = {}
        for _, _, version, _, requests, errors, latency in lines:
            found.setdefault(version, Tally()).add(requests, errors, latency)
        return found

    def flush(self) -> None:
        """Send what this process noted now (kept for the next try when
        the store is away)."""
        if self._batches is not None:
            try:
                self._batches.flush()
            except MlnbError as e:
                self._lagging(e)

    def close(self) -> None:
        """Send what is pending (a last try)."""
        if self._batches is not None:
            try:
                self._batches.close()
            except MlnbError as e:
                log.warning("Could not store the last served counts: %s", e.message)

    def _sender(self) -> BatchSender[_Served]:
        # Started on the first request: an Engine that never serves starts no thread.
        if self._batches is None:
            with self._started:
                if self._batches is None:
                    self._batches = BatchSender(
                        self._store, flush_s=self._flush_s, on_error=self._lagging, name="served-counts-flush"
                    )
        return self._batches

    def _store(self, served: list[_Served]) -> None:
        from mlnb.store import ServedCountsTx

        tallies: dict[tuple[str, str, str], Tally] = {}
        for project, model, version, seconds, failed in served:
            tally = tallies.setdefault((project, model, version), Tally())
            tally.requests += 1
            tally.errors += failed
            tally.latency[bucket_of(seconds * 1000)] += 1
        end = datetime.now(UTC)
        lines = [_line(key, end, tally) for key, tally in tallies.items()]
        with self._db.session(write=True, serialize=False) as session:
            tx = ServedCountsTx(session)
            tx.append(lines)
            if end - self._last_prune > _PRUNE_EVERY:
                tx.prune(end - KEEP)
                self._last_prune = end
        if end - self._last_compaction >= _COMPACT_EVERY:
            self._last_compaction = end
            try:
                self.compact(end)
            except MlnbError as e:  # the counts are stored: a failed merge is tried again later
                log.warning("Merging served counts by the minute failed: %s", e.message)

    def compact(self, at: datetime, window: timedelta = _COMPACT_WINDOW) -> int:
        """Merge the rows that ended more than two minutes before ``at``
        (and within ``window`` before that) into one a version and minute;
        the rows removed. One writer at a time: two merging the same rows
        would count them twice."""
        from mlnb.store import ServedCountsTx

        # Whole minutes only: a row ends in the minute (M - 1 min, M].
        before = (at - _COMPACT_AFTER).replace(second=0, microsecond=0)
        with self._db.session(write=True, serialize=False) as session:
            self._db.lock_name(session, _COMPACTION_LOCK)
            tx = ServedCountsTx(session)
            # Each version's minute: its rows' ids, and their counts summed.
            minutes: dict[tuple[tuple[str, str, str], datetime], tuple[list[int], Tally]] = {}
            for row_id, line in tx.lines_between(before - window, before):
                p, m, v, end, requests, errors, latency = line
                ids, tally = minutes.setdefault(((p, m, v), _minute_end(end)), ([], Tally()))
                ids.append(row_id)
                tally.add(requests, errors, latency)
            # A minute merged already, or of one row, is left as it is (a
            # row that comes late to it is merged with it next time).
            several = {minute: found for minute, found in minutes.items() if len(found[0]) > 1}
            gone = [row_id for ids, _ in several.values() for row_id in ids]
            merged = [_line(key, end, tally) for (key, end), (_, tally) in several.items()]
            tx.replace(gone, merged)
            return len(gone) - len(merged)

    @staticmethod
    def _lagging(error: MlnbError) -> None:
        log.warning("Storing served counts failed, retrying: %s", error.message)


def _line(key: tuple[str, str, str], end: datetime, tally: Tally) -> ServedCountsLine:
    """A row of counts: a version's tally of the period ending at ``end``."""
    project, model, version = key
    latency = {str(index): count for index, count in tally.latency.items()}
    return (project, model, version, end, tally.requests, tally.errors, latency)


def _minute_end(at: datetime) -> datetime:
    """The end of the minute ``at`` falls in: ``at`` itself when it is on one."""
    floor = at.replace(second=0, microsecond=0)
    return floor if floor == at else floor + timedelta(minutes=1)
