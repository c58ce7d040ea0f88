"""Reading a job's log a piece at a time, and going on from a position."""

from __future__ import annotations

from pathlib import Path

from mlnb.runtime.logs import LogTail, LogWriter


def test_a_tail_goes_on_from_where_an_earlier_one_stopped(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "log.jsonl")
    writer.write("master-replica-0", "stdout", "one")
    writer.write("master-replica-0", "stdout", "two")
    with open(writer.path, "ab") as f:  # a line still being written
        f.write(b'{"time": "t", "replica": "r"')
    first = LogTail(writer.path)
    assert [e.message for e in first.read()] == ["one", "two"]
    assert first.position == len(b"".join(writer.path.read_bytes().splitlines(keepends=True)[:2]))
    with open(writer.path, "ab") as f:
        f.write(b', "stream": "stdout", "message": "three"}\n')
    later = LogTail(writer.path, first.position)
    assert [e.message for e in later.read()] == ["three"]
    assert [e.message for e in first.read()] == ["three"]
    assert later.position == first.position == writer.path.stat().st_size
    writer.close()


def test_a_limited_read_leaves_the_rest_for_the_next(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "log.jsonl")
    for word in ("one", "two", "three", "four", "five"):
        writer.write("master-replica-0", "stdout", word)
    writer.close()
    tail = LogTail(writer.path)
    assert [e.message for e in tail.read(limit=2)] == ["one", "two"]
    resumed = LogTail(writer.path, tail.position)
    assert [e.message for e in tail.read(limit=2)] == ["three", "four"]
    assert [e.message for e in resumed.read()] == ["three", "four", "five"]
    assert [e.message for e in tail.read()] == ["five"]
    assert tail.position == resumed.position == writer.path.stat().st_size


def test_a_stored_log_keeps_lines_in_order_across_writers_and_cuts_huge_ones(tmp_path: Path) -> None:
    from mlnb.runtime.logs import MAX_MESSAGE_CHARS, StoredLog
    from mlnb.store import Database

    log = StoredLog(Database(f"sqlite:///{tmp_path / 'mlnb.db'}"), "default", "job_1")
    first = LogWriter(tmp_path / "a.jsonl", store=log, flush_s=60)
    first.write("service", "service", "first host")
    first.write("master-replica-0", "stdout", "x" * (MAX_MESSAGE_CHARS + 10))
    assert log.tail().read() == []  # nothing sent until a flush
    first.close()
    second = LogWriter(tmp_path / "b.jsonl", store=log)  # a resumed job's next host
    second.write("service", "service", "second host")
    second.close()
    entries = log.tail().read()
    assert [e.message[:11] for e in entries] == ["first host", "x" * 11, "second host"]
    assert len(entries[1].message) == MAX_MESSAGE_CHARS
    assert [e.message for e in log.tail(2).read(limit=5)] == ["second host"]
