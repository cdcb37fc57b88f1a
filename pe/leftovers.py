"""What a killed pe leaves running or locked, found and cleared by the next one.

kill -9 of pe cannot take its children along: each is in a session of its own
(see pe/proc.py), so its agents, installs and git commands live on. Every child
carries PE_OWNER (proc.claim), naming the repository and the pe that started
it; the next pe to take that repository's lock stops the ones whose pe is dead
(reap_orphans), and all else in their agents' run cgroups (pe/reap.py). And a
git killed mid-write leaves a lock file that no process holds open any more
(file_in_use tells a stale one from a live one).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from pe.proc import KILL_GRACE_S, OWNER_VAR, group_alive, process_start_ticks


def _proc_pids() -> list[int] | None:
    from pe import reap  # on first use: status and read-only commands never list /proc

    return reap.proc_pids()


def file_in_use(path: Path) -> bool:
    """True if a live process holds `path` open (Linux: /proc/<pid>/fd).

    git keeps a lock file (index.lock) open from creating it until the rename that
    ends the update: a lock nobody holds open was left by a git that was killed.
    Without /proc there is no way to tell, and the answer is False.
    """
    want = os.path.realpath(path)
    pids = _proc_pids()
    if pids is None:
        return False
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    return True
            except OSError:
                continue
    return False


def _owned_by_the_dead(scope: str) -> dict[int, str]:
    """pid -> kind ('finish' or 'kill') of live processes a dead pe started in `scope`."""
    needle = f"{OWNER_VAR}={scope}|".encode()
    found: dict[int, str] = {}
    for pid in _proc_pids() or []:
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # gone, or another user's
        for var in environ.split(b"\0"):
            if var.startswith(needle):
                owner, _, kind = var[len(needle):].decode(errors="replace").partition("|")
                owner_pid, _, ticks = owner.partition(":")
                alive = owner_pid.isdigit() and str(process_start_ticks(int(owner_pid))) == ticks
                if not alive and process_start_ticks(pid) is not None:
                    found[pid] = kind
                break
    return found


def _run_cgroups(pids: dict[int, str]) -> set[Path]:
    """The run cgroups (pe/reap.py) of these agents: all they started, also what dropped PE_OWNER."""
    from pe import reap

    found = {reap.cgroup_dir(pid) for pid, kind in pids.items() if kind == "kill"}
    return {c for c in found if c is not None and c.name.startswith(reap.CGROUP_PREFIX)}


def _sweep_run_cgroups() -> None:
    """Remove the empty run cgroups of pes that are gone (kill -9 leaves them), whatever their repository."""
    from pe import reap

    if (base := reap.cgroup_dir()) is None:
        return
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        pid, ticks, *_ = [*name.removeprefix(reap.CGROUP_PREFIX).split("-"), "", ""]
        if name.startswith(reap.CGROUP_PREFIX) and pid.isdigit() and str(process_start_ticks(int(pid))) != ticks:
            reap.remove_cgroup(base / name)


def reap_orphans(scope: str, finish_wait: float = 30.0) -> int:
    """Stop what a killed pe left running in `scope`; how many processes there were.

    Agents, installs and checks are killed, whole groups: nobody would record
    their result, and a new run would otherwise work beside them in the same tree.
    pe's own git commands are let finish first (up to `finish_wait`), for the
    reason they are on an interrupt (see the module doc).
    """
    from pe import reap

    _sweep_run_cgroups()
    found = _owned_by_the_dead(scope)
    cgroups = _run_cgroups(found)
    for cgroup in cgroups:
        found.update(dict.fromkeys(reap.cgroup_members(cgroup) - {os.getpid()}, "kill"))
    if not found:
        return 0
    deadline = time.monotonic() + finish_wait
    while any(kind == "finish" for kind in found.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
        found = {pid: kind for pid, kind in found.items() if process_start_ticks(pid) is not None}
    groups = set()
    for pid in found:
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:
            continue
    groups.discard(os.getpgrp())  # never our own group, whatever a child did with its own
    _signal(groups, signal.SIGTERM)
    grace_end = time.monotonic() + KILL_GRACE_S
    while any(group_alive(g) for g in groups) and time.monotonic() < grace_end:
        time.sleep(0.05)
    _signal(groups, signal.SIGKILL)
    for cgroup in cgroups:
        while reap.cgroup_members(cgroup) and time.monotonic() < grace_end + 1:
            time.sleep(0.05)
        reap.remove_cgroup(cgroup)
    return len(found)


def _signal(groups: set[int], sig: int) -> None:
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def git_running_under(path: Path) -> bool:
    """True if a git process works in `path` or below it (its working directory).

    git writes a ref's lock, closes it, and renames it only later (after the
    reference-transaction hook, say): an unopened lock is stale only if no git runs there.
    """
    want = os.path.realpath(path)
    pids = _proc_pids()
    if pids is None:
        return False
    for pid in pids:
        try:
            if not Path(f"/proc/{pid}/comm").read_text().startswith("git"):
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == want or cwd.startswith(want + os.sep):
            return True
    return False
