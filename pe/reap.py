"""What did an agent's run start, and how is all of it stopped when the run ends?"""

# `setsid` dev servers, double-forking watchers, `nohup` daemons leave the agent's process group, outlive
# it and write into a tree pe has already stamped. A Run finds them by the best means here (MECHANISM forces):
# "cgroup"    A cgroup v2 per run, below pe's own. The agent moves itself into it between fork and exec
#             (Run.enter), so all it ever starts is in it, whatever it does: setsid, double forks, a
#             cleared environment. Not in it: what a process allowed to write another cgroup.procs moves
#             out (root, on purpose), what a service outside starts for it (`docker run`: dockerd). At the
#             end: SIGTERM to every member, then cgroup.kill (Linux 5.14; before: freeze, SIGKILL each).
#             Needs a writable cgroup2: root, or a delegated subtree; else the next mechanism.
# "subreaper" pe becomes a child subreaper (prctl): orphans re-parent to pe, not init. pe runs its agents
#             from threads of one process, so an orphan's parent does not say whose it is. It is a run's
#             if (a) it carries the run's PE_RUN token (most daemons keep their environment; `env -u
#             PE_OWNER` does), (b) a scan (every SCAN_S, by a thread) saw it below the agent, with the
#             same start time (a reused pid is not taken), (c) it is in the agent's session (no pid that
#             still names a session is reused), or (d) its parent is one of these. Limits: one that clears
#             its environment AND is orphaned before a scan sees it is nobody's and lives on; so is one
#             re-parented to another subreaper below pe (tini, systemd --user). pe reaps the orphans it
#             recorded; an unrecorded one that exits stays a zombie of pe (a wait for any child would steal
#             another thread's Popen status), as does a detached `git gc` of pe's git while a run is on.
# "group"     macOS, no /proc, no prctl: the agent's process group only, as before.
# Descendants get DESCENDANT_GRACE_S from SIGTERM to SIGKILL, not KILL_GRACE_S: the agent has ended, its
# result is decided; what is left is a server or watcher with nothing to save for the run, and every run's
# end (its tree's stamp) waits for them. Under bwrap --unshare-pid the cgroup still holds all (membership
# survives namespaces); orphans re-parent to the sandbox's init and die with it. Harmless either way.

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

RUN_VAR = "PE_RUN"
CGROUP_PREFIX = "pe-run-"
DESCENDANT_GRACE_S = 1.0
SCAN_S = 0.25
MECHANISM: str | None = None  # "cgroup", "subreaper" or "group"; None: the best available
_SUBREAPER = 36  # prctl's PR_SET_CHILD_SUBREAPER

_lock = threading.Lock()
_seq = itertools.count(1)
_live: set[Run] = set()
_subreaper_runs = 0
_scanner: threading.Thread | None = None
_cgroup_ok: bool | None = None  # None: not tried yet


@dataclass(frozen=True)
class Stat:
    state: str
    ppid: int
    session: int
    start: int  # clock ticks since boot


def proc_pids() -> list[int] | None:
    """Every pid in /proc, or None where there is no /proc (macOS): callers then know nothing."""
    try:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return None


def stat(pid: int) -> Stat | None:
    try:  # split after the last ')': the command name may hold spaces and parentheses
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return Stat(f[0], int(f[1]), int(f[3]), int(f[19]))


def _snapshot() -> dict[int, Stat]:
    return {pid: st for pid in proc_pids() or [] if (st := stat(pid)) is not None}


def _descendants(roots: set[int], procs: dict[int, Stat]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, st in procs.items():
        children.setdefault(st.ppid, []).append(pid)
    found, stack = set(roots), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _signal(pid: int, sig: int, group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        (os.killpg if group else os.kill)(pid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except OSError as e:
        return isinstance(e, PermissionError)


def _write(path: Path, text: str) -> bool:
    with contextlib.suppress(OSError):
        return path.write_text(text) >= 0
    return False


def cgroup_dir(pid: int | str = "self") -> Path | None:
    """The cgroup v2 directory of a process (pe's own by default), or None."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        own = [line[3:] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if line.startswith("0::")]
    except OSError:
        return None
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields = left.split()
        if right.split()[:1] == ["cgroup2"] and own and len(fields) > 4:
            # fields[3]: the mount's root in the hierarchy, fields[4]: where it is mounted.
            return Path(fields[4], own[0].removeprefix(fields[3] if fields[3] != "/" else "").lstrip("/"))
    return None


def _prctl_subreaper(on: bool) -> bool:
    try:  # libc's prctl: Linux only
        import ctypes  # only where a subreaper is used: most runs have a cgroup
        return sys.platform.startswith("linux") and ctypes.CDLL(None).prctl(_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def cgroup_members(path: Path) -> set[int]:
    """The processes in cgroup `path` and below it (where a pe inside an agent makes its own)."""
    with contextlib.suppress(OSError):
        return {int(p) for procs in path.rglob("cgroup.procs") for p in procs.read_text().split()}
    return set()


def remove_cgroup(path: Path) -> None:
    """rmdir `path` and the cgroups below it, innermost first; each fails while it has a member."""
    for procs in sorted(path.rglob("cgroup.procs"), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            procs.parent.rmdir()


def _make_cgroup(token: str) -> tuple[Path, int] | None:
    """A new cgroup for a run, and its cgroup.procs opened for writing; None if impossible here."""
    if (base := cgroup_dir()) is None:
        return None
    path = base / f"{CGROUP_PREFIX}{token.replace('.', '-')}"
    try:
        path.mkdir()
        if not (path / "cgroup.kill").exists() and not (path / "cgroup.freeze").exists():
            raise OSError("neither cgroup.kill nor cgroup.freeze")
        return path, os.open(path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return None


def available() -> list[str]:
    """The mechanisms this machine allows, best first."""
    found = []
    if (made := _make_cgroup(f"{os.getpid()}.probe")) is not None:
        os.close(made[1])
        made[0].rmdir()
        found.append("cgroup")
    if proc_pids() is not None and _prctl_subreaper(True):
        with _lock:
            if not _subreaper_runs:
                _prctl_subreaper(False)
        found.append("subreaper")
    return [*found, "group"]


class Run:
    """One agent run: call tag and preexec for its Popen, started(pid) after, end() when it is over."""

    def __init__(self, mechanism: str | None = None) -> None:
        global _cgroup_ok
        wanted = mechanism or MECHANISM
        # pe's pid, its start (a pe by a reused pid must not meet a dead one's leftovers), a number
        self.token = f"{os.getpid()}.{me.start if (me := stat(os.getpid())) else 0}.{next(_seq)}"
        self.pid: int | None = None
        self.start: int | None = None  # the agent's start ticks
        self.mechanism = "group"
        self.cgroup: Path | None = None
        self._procs_fd: int | None = None
        self._seen: dict[int, int] = {}  # pid -> start ticks, subreaper only
        self._guard = threading.Lock()
        self._ended = False
        if wanted in (None, "cgroup") and _cgroup_ok is not False:
            made = _make_cgroup(self.token)
            if _cgroup_ok is None:  # never worked: do not try again; once it has, keep trying
                _cgroup_ok = made is not None
            if made is not None:
                self.cgroup, self._procs_fd = made
                self.mechanism = "cgroup"
        if self.mechanism == "group" and wanted in (None, "subreaper", "cgroup"):
            self._subreaper()

    def _subreaper(self) -> None:
        global _subreaper_runs, _scanner
        if proc_pids() is None:
            return
        with _lock:
            if not _subreaper_runs and not _prctl_subreaper(True):
                return
            _subreaper_runs += 1
            self.mechanism = "subreaper"
            if _scanner is None:
                _scanner = threading.Thread(target=_scan_loop, name="pe-reap", daemon=True)
                _scanner.start()

    def tag(self, env: Mapping[str, str] | None) -> dict[str, str]:
        """`env` (None: pe's own) with this run's token, which the agent's children inherit."""
        return {**(env if env is not None else os.environ), RUN_VAR: self.token}

    @property
    def preexec(self) -> Callable[[], None] | None:
        """Popen's preexec_fn: None unless there is a cgroup to enter."""
        return self.enter if self._procs_fd is not None else None

    def enter(self) -> None:
        """In the child, between fork and exec: move into the run's cgroup. (A preexec_fn may
        deadlock when the parent has threads, on a lock held at the fork: this takes none.)"""
        with contextlib.suppress(OSError):
            os.write(self._procs_fd, b"0")  # type: ignore[arg-type]

    def started(self, pid: int) -> None:
        """The agent exists: make sure it is in the cgroup (else fall back) and watch it."""
        self.pid = pid
        self.start = st.start if (st := stat(pid)) is not None else None
        self._close()
        if self.cgroup is not None and pid not in self.members() and (st := stat(pid)) and st.state not in "ZX":
            _write(self.cgroup / "cgroup.procs", str(pid))  # enter failed: move it from here, late
            if pid not in self.members():
                self._remove_cgroup()
                self.mechanism = "group"
                self._subreaper()
        with _lock:
            _live.add(self)

    def members(self) -> set[int]:
        """The run's live processes (its cgroup's, or those the subreaper scan attributes to it)."""
        if self.cgroup is not None:
            return cgroup_members(self.cgroup)
        if self.mechanism != "subreaper" or self.pid is None:
            return set()
        procs = _snapshot()
        self.record(procs)
        with self._guard:
            return {p for p in self._seen if p in procs and procs[p].state not in ("Z", "X")}

    def record(self, procs: dict[int, Stat]) -> None:
        """Add to what this run owns, from a snapshot of /proc: see the module comment, (a) to (d)."""
        me = os.getpid()
        with self._guard:
            roots = {p for p, start in self._seen.items() if p in procs and procs[p].start == start}
            agent = procs.get(self.pid) if self.pid is not None else None
            # The agent's pid names its session until the last member is gone, so it cannot
            # be reused meanwhile; a process by that pid started at another time is not it.
            if self.pid is not None and (agent is None or agent.start == self.start):
                roots |= {p for p, st in procs.items() if st.session == self.pid}
                if agent is not None:
                    roots.add(self.pid)
            for pid, st in procs.items():
                if st.ppid == me and pid not in roots and _token(pid, st.start) == self.token:
                    roots.add(pid)
            for pid in _descendants(roots, procs) - {me}:
                if pid != self.pid:
                    self._seen[pid] = procs[pid].start
            self._seen = {p: s for p, s in self._seen.items() if p in procs and procs[p].start == s}

    def reap_zombies(self, procs: dict[int, Stat] | None = None) -> None:
        """Wait for this run's orphans that re-parented to pe and exited (only those: see the module doc)."""
        me = os.getpid()
        with self._guard:
            seen = list(self._seen.items())
        for pid, start in seen:
            st = procs.get(pid) if procs is not None else stat(pid)
            if st is not None and st.ppid == me and st.start == start and st.state in ("Z", "X"):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def end(self, reap: Callable[[], object] | None = None, grace: float = DESCENDANT_GRACE_S) -> int:
        """SIGTERM the agent's group and all the run started, SIGKILL what is left after `grace`, wait
        till it is gone; how many there were besides the agent. `reap`: as for proc.kill_group."""
        global _subreaper_runs
        with _lock:
            if self._ended:
                return 0
            self._ended = True
            _live.discard(self)
        self._close()  # if never started
        group = self.pid if self.pid is not None and _group_alive(self.pid) else None
        found = self.members() - {self.pid}
        if group is not None:
            _signal(group, signal.SIGTERM, group=True)
        for pid in found:
            _signal(pid, signal.SIGTERM)
        self._wait(time.monotonic() + grace, group, reap)
        if group is not None:
            _signal(group, signal.SIGKILL, group=True)
        self._kill_members()
        self._wait(time.monotonic() + 1.0, group, reap)
        self._remove_cgroup()
        if self.mechanism == "subreaper":
            with _lock:
                _subreaper_runs -= 1
                if not _subreaper_runs:
                    _prctl_subreaper(False)
        return len(found)

    def _wait(self, deadline: float, group: int | None, reap: Callable[[], object] | None) -> None:
        while True:
            if reap is not None:
                reap()
            self.reap_zombies()
            gone = not (group is not None and _group_alive(group)) and not self.members() - {self.pid}
            if gone or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def _kill_members(self) -> None:
        cgroup = self.cgroup
        if cgroup is not None and _write(cgroup / "cgroup.kill", "1"):
            return
        frozen = cgroup is not None and _write(cgroup / "cgroup.freeze", "1")  # before Linux 5.14: no forks
        for pid in self.members() - {self.pid}:
            _signal(pid, signal.SIGKILL)
        if frozen and cgroup is not None:
            _write(cgroup / "cgroup.freeze", "0")

    def _close(self) -> None:
        if self._procs_fd is not None:
            os.close(self._procs_fd)
            self._procs_fd = None

    def _remove_cgroup(self) -> None:
        if self.cgroup is not None:
            remove_cgroup(self.cgroup)
        self.cgroup = None


_tokens: dict[tuple[int, int], str | None] = {}
_tokens_lock = threading.Lock()


def _token(pid: int, start: int) -> str | None:
    """The PE_RUN of a child of pe, read once per process."""
    with _tokens_lock:
        if (pid, start) in _tokens:
            return _tokens[pid, start]
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None  # gone, a zombie, or another user's: maybe readable next time
    needle = f"{RUN_VAR}=".encode()
    found = [v[len(needle):].decode(errors="replace") for v in environ if v.startswith(needle)]
    with _tokens_lock:
        _tokens[pid, start] = found[0] if found else None
        return _tokens[pid, start]


def _scan_loop() -> None:
    global _scanner
    while True:
        with _lock:
            runs = [r for r in _live if r.mechanism == "subreaper"]
            if not runs and not _subreaper_runs:
                _scanner = None
                return
        procs = _snapshot()
        for run in runs:
            run.record(procs)
            run.reap_zombies(procs)
        with _tokens_lock:
            for key in [k for k in _tokens if k[0] not in procs]:
                del _tokens[key]
        time.sleep(SCAN_S)


@atexit.register
def _end_all() -> None:
    """pe is exiting (after an interrupt, say) with runs whose thread never got to end them."""
    with _lock:
        runs = list(_live)
    for run in runs:
        with contextlib.suppress(Exception):
            run.end(grace=0)
