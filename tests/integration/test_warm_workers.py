"""Warm children of the job host (``mlnb.runtime.warm``): real forks of a
real warm parent, their output, environment, folder and exit statuses, and
a host killed with -9 that takes them with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support.waiting import wait_for

from mlnb.runtime.processes import process_alive
from mlnb.runtime.warm import WarmProcess, warm_up

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm children are Linux's"),
]

CHILD = """
import os, sys, time
print("warned", file=sys.stderr)
print("argv", sys.argv[1:], "cwd", os.getcwd(), "flag", os.environ.get("WARM_FLAG"))
print("group leader", os.getpgid(0) == os.getpid())
if sys.argv[1] == "raise":
    raise ValueError("bad input")
if sys.argv[1] == "sleep":
    time.sleep(120)
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "warm_child.py").write_text(CHILD)
    return tmp_path


def start(folder: Path, *arguments: str) -> WarmProcess:
    return WarmProcess("warm_child", arguments, {"WARM_FLAG": "on", "PATH": os.environ["PATH"]}, folder)


def output(child: WarmProcess) -> tuple[str, str]:
    """What the child wrote to stdout and stderr (both read to the end and closed)."""
    with child.stdout, child.stderr:
        return child.stdout.read().decode(), child.stderr.read().decode()


def test_a_warm_child_runs_as_python_dash_m_would(folder: Path) -> None:
    warm_up(["a_library_that_is_not_installed", "json"])
    child = start(folder, "3")
    assert child.wait() == 3 and child.poll() == 3
    out, err = output(child)
    assert out.splitlines() == [f"argv ['3'] cwd {folder} flag on", "group leader True"]
    assert err == "warned\n"


def test_an_exception_is_status_1_with_its_traceback(folder: Path) -> None:
    child = start(folder, "raise")
    assert child.wait() == 1
    assert "ValueError: bad input" in output(child)[1]


def test_a_killed_child_reports_the_signal(folder: Path) -> None:
    child = start(folder, "sleep")
    child.stdout.readline(), child.stdout.readline()  # it runs, and sleeps
    assert child.poll() is None
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert output(child)[1] == "warned\n"


def test_a_host_killed_with_9_takes_its_warm_children(folder: Path) -> None:
    # A host of its own, so that this test's process may live on.
    host_code = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from mlnb.runtime.warm import WarmProcess
        child = WarmProcess("warm_child", ["sleep"], dict(os.environ), Path({str(folder)!r}))
        child.stdout.readline(), child.stdout.readline()  # it runs, and sleeps
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    with subprocess.Popen([sys.executable, "-c", host_code], stdout=subprocess.PIPE, text=True) as host:
        assert host.stdout is not None
        child = int(host.stdout.readline())
        parent = int(Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[1])
        assert parent != host.pid and process_alive(parent) and process_alive(child)
        host.kill()
        host.wait()
        # The warm parent sees the host's end of the socket close and leaves;
        # its children get SIGKILL with it (the child itself prints nothing
        # more: no broken pipe ends it).
        wait_for(lambda: not process_alive(parent) and not process_alive(child), "the warm child to end")
