"""Process helpers for runners and replicas (Linux and macOS)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path


def process_alive(pid: int, tokens: Sequence[str] = ()) -> bool:
    """Whether ``pid`` runs, and (on Linux, given ``tokens``) whether its
    command line holds one of them (arguments are NUL-separated there), so
    that a reused pid is not taken for the process it once was."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if _zombie(pid):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if tokens and cmdline.exists():
        try:
            held = cmdline.read_bytes()
        except OSError:
            return False
        return any(t.encode() in held for t in tokens)
    return True


def _zombie(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"


def session_members(session_id: int) -> list[int]:
    """Pids of the processes in a session (Linux: read from /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After the command: state, ppid, pgrp, session.
        if len(fields) > 3 and int(fields[3]) == session_id:
            members.append(int(stat.parent.name))
    return members


def kill_session(session_id: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process left in a dead runner's session (its replicas)."""
    for pid in session_members(session_id):
        if pid == os.getpid():
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def signal_group(pgid: int, sig: int) -> bool:
    """Signal a process group; whether there was one to signal."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# Run by a bare interpreter (-S: no site, a few milliseconds): arm the
# parent-death signal, check the parent did not already go, then become
# the real command (the signal survives exec).
_LIFELINE = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def arm_parent_death_signal(parent: int) -> None:
    """Have this process get SIGKILL when its parent ``parent`` ends
    (Linux); end it now when that parent is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def with_lifeline(command: list[str]) -> list[str]:
    """``command`` made to get SIGKILL when the thread that starts it ends
    (Linux's parent-death signal; elsewhere ``command`` as it is).

    Replicas are started by their job's runner thread, which lives until the
    job ends: so a job host killed with -9, on a machine that stays up, takes
    its replicas with it instead of leaving them running for a job that
    another host has since ended.
    """
    if not sys.platform.startswith("linux"):
        return command
    return [sys.executable, "-S", "-c", _LIFELINE, str(os.getpid()), *command]
