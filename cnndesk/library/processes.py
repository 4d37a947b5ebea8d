"""Which process owns a training run, and whether that process is still alive.

A run is recorded as ``running`` before training starts; if the process is killed (``kill -9``,
a crash, a power cut, a CI timeout) nothing ever closes it. So each run stores its owner: the
process id, the host, the boot and the process's start time. A run is *stale* only when its
owner was on this host and is provably gone: the boot changed, the pid no longer exists, or the
pid now belongs to a process that started at another time (the pid was reused). A run owned by
another host, or whose owner cannot be checked, is never called stale.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def current_owner() -> dict[str, Any]:
    """This process, as a run stores its owner."""
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "boot": _boot_id(),
        "start": _start_ticks(pid),
    }


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    except OSError:
        return True
    return True


def owner_is_gone(owner: Any) -> bool:
    """Whether the process that ``owner`` (from :func:`current_owner`) describes has ended."""
    if not isinstance(owner, dict):
        return False
    pid = owner.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if owner.get("host") != socket.gethostname():
        return False  # another machine's run (a shared PostgreSQL library): cannot tell
    boot = _boot_id()
    if owner.get("boot") and boot and owner["boot"] != boot:
        return True  # the machine restarted since: every process of then is gone
    if pid == os.getpid():
        return owner.get("start") not in (None, _start_ticks(pid))
    if not _pid_exists(pid):
        return True
    started = owner.get("start")
    now = _start_ticks(pid)
    return started is not None and now is not None and started != now


def describe(owner: Any) -> str:
    if isinstance(owner, dict):
        return f"process {owner.get('pid')} on {owner.get('host')}"
    return "its process"
