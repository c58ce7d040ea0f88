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
