"""reap: nothing an agent starts outlives its run. Real daemons (setsid, double fork, a scrubbed environment)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe import proc, reap

MECHANISMS = [m for m in reap.available() if m != "group"]

# Starts a daemon that appends to OUT every 0.2 s after writing its pid to PID. argv[1:]: OUT PID SCRUB,
# SCRUB: "keep" (keeps its environment), "owner" (drops PE_OWNER) or "all" (drops everything).
DOUBLE_FORK = """\
import os, sys, time
out, pidfile, scrub = sys.argv[1:4]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        env = {} if scrub == "all" else {k: v for k, v in os.environ.items() if k != "PE_OWNER" or scrub == "keep"}
        loop = "import os, sys, time\\nopen(sys.argv[2], 'w').write(str(os.getpid()))\\n" \\
               "open(sys.argv[2] + '.env', 'w').write(os.environ.get('PE_OWNER', 'no owner'))\\n" \\
               "while True:\\n    open(sys.argv[1], 'a').write('x\\\\n'); time.sleep(0.2)\\n"
        os.execve(sys.executable, [sys.executable, "-c", loop, out, pidfile], env)
    os._exit(0)
"""


@pytest.fixture(params=MECHANISMS)
def mechanism(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(reap, "MECHANISM", request.param)
    proc.claim("test-reap-scope")  # so that children carry PE_OWNER, and one of them can drop it
    try:
        yield request.param
    finally:
        proc.claim(None)


@pytest.fixture(autouse=True)
def _no_daemon_outlives_a_failed_test(tmp_path: Path) -> Iterator[None]:
    yield
    for pidfile in tmp_path.rglob("*.pid"):
        pid = int(pidfile.read_text())
        with contextlib.suppress(OSError):  # only if that pid is still our daemon, not a reused one
            if str(tmp_path).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


def _loop(out: Path, pidfile: Path) -> str:
    return (f"echo $$ > {pidfile}; echo \"${{PE_OWNER:-no owner}}\" > {pidfile}.env; "
            f"while :; do date >> {out}; sleep 0.2; done")


def _agent(tmp_path: Path, how: str, out: Path, pidfile: Path, then: str) -> list[str]:
    """An agent that starts a daemon `how`, waits until it runs, and then does `then` (a shell command)."""
    if how == "setsid":
        start = f"setsid sh -c {shlex.quote(_loop(out, pidfile))} &"
    elif how == "no-owner":
        start = f"env -u PE_OWNER setsid sh -c {shlex.quote(_loop(out, pidfile))} &"
    elif how == "empty-env":
        start = f"env -i setsid sh -c {shlex.quote(_loop(out, pidfile))} &"
    else:
        script = tmp_path / "double_fork.py"
        script.write_text(DOUBLE_FORK)
        scrub = {"double-fork": "keep", "double-fork-no-owner": "owner"}[how]
        start = shlex.join([sys.executable, str(script), str(out), str(pidfile), scrub])
    wait = f"while ! [ -s {out} ]; do sleep 0.05; done"
    return ["sh", "-c", f"{start}\n{wait}\nsleep 0.6\n{then}"]


def _spawn(tmp_path: Path, argv: list[str], timeout: float = 60, idle_timeout: float | None = None) -> proc.Exit:
    with (tmp_path / "agent.log").open("ab") as log:
        return proc.spawn_logged(argv, cwd=tmp_path, env=dict(os.environ), log=log, timeout=timeout,
                                 idle_timeout=idle_timeout, last_activity=lambda: 0.0)


def _running(pidfile: Path) -> int | None:
    """The daemon's pid if it still runs (a zombie awaiting its reaper does not)."""
    pid = int(pidfile.read_text())
    return pid if proc.process_start_ticks(pid) is not None else None


def _growing(out: Path, over: float = 0.7) -> bool:
    before = out.stat().st_size
    time.sleep(over)
    return out.stat().st_size > before


def _assert_stopped(out: Path, pidfile: Path) -> None:
    assert out.read_text().count("\n") >= 2  # it did run
    assert _running(pidfile) is None  # spawn_logged has waited for it to go
    assert not _growing(out)


@pytest.mark.parametrize("how", ["setsid", "double-fork", "no-owner", "double-fork-no-owner", "empty-env"])
def test_a_daemon_the_agent_started_dies_with_its_run(tmp_path: Path, mechanism: str, how: str) -> None:
    out, pidfile = tmp_path / "daemon.out", tmp_path / "daemon.pid"
    began = time.monotonic()
    ended = _spawn(tmp_path, _agent(tmp_path, how, out, pidfile, then="exit 0"))
    assert (ended.returncode, ended.timed_out) == (0, False)
    assert time.monotonic() - began < ended.duration_s + reap.DESCENDANT_GRACE_S + 2
    owner = Path(f"{pidfile}.env").read_text().strip()
    assert (owner == "no owner") == (how.endswith("no-owner") or how == "empty-env"), owner
    _assert_stopped(out, pidfile)


@pytest.mark.parametrize("how", ["setsid", "double-fork", "no-owner"])
def test_a_daemon_dies_with_a_run_that_failed_timed_out_or_went_quiet(tmp_path: Path, mechanism: str, how: str) -> None:
    out, pidfile = tmp_path / "daemon.out", tmp_path / "daemon.pid"
    ended = _spawn(tmp_path, _agent(tmp_path, how, out, pidfile, then="exit 3"))
    assert ended.returncode == 3
    _assert_stopped(out, pidfile)
    out.unlink()
    ended = _spawn(tmp_path, _agent(tmp_path, how, out, pidfile, then="sleep 600"), timeout=2)
    assert ended.timed_out and ended.idle_s is None
    _assert_stopped(out, pidfile)
    out.unlink()
    # The daemon writes, but not to the log: the agent itself is quiet.
    ended = _spawn(tmp_path, _agent(tmp_path, how, out, pidfile, then="sleep 600"), timeout=600, idle_timeout=1)
    assert ended.idle_s is not None
    _assert_stopped(out, pidfile)


def test_the_daemon_of_another_running_agent_is_left_alone(tmp_path: Path, mechanism: str) -> None:
    # Both agents double-fork, so under the subreaper both daemons are orphans of this one process.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    release = second / "release"
    ended: list[proc.Exit] = []
    other = threading.Thread(target=lambda: ended.append(_spawn(second, _agent(
        second, "double-fork", second / "out", second / "pid", then=f"while ! [ -e {release} ]; do sleep 0.05; done"))))
    other.start()
    try:
        while not (second / "out").exists():
            time.sleep(0.05)
        _spawn(first, _agent(first, "double-fork", first / "out", first / "pid", then="exit 0"))
        _assert_stopped(first / "out", first / "pid")
        assert _running(second / "pid") is not None
        assert _growing(second / "out")
    finally:
        release.touch()
        other.join(60)
    assert ended and ended[0].returncode == 0
    _assert_stopped(second / "out", second / "pid")


def test_a_run_leaves_no_cgroup_behind(tmp_path: Path, mechanism: str) -> None:
    out, pidfile = tmp_path / "daemon.out", tmp_path / "daemon.pid"
    _spawn(tmp_path, _agent(tmp_path, "setsid", out, pidfile, then="exit 0"))
    base = reap.cgroup_dir()
    if base is not None and base.is_dir():
        assert not [p.name for p in base.iterdir() if p.name.startswith(f"{reap.CGROUP_PREFIX}{os.getpid()}-")]


def test_without_cgroup_or_subreaper_a_run_still_ends_its_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reap, "MECHANISM", "group")
    run = reap.Run()
    assert run.mechanism == "group" and run.preexec is None
    ended = _spawn(tmp_path, ["sh", "-c", "sleep 600 & echo $!; exit 0"])
    assert ended.returncode == 0
    assert proc.process_start_ticks(int((tmp_path / "agent.log").read_text())) is None
    run.end()  # never started: harmless
    assert "group" in reap.available()


FAKE_PE = """\
import os, sys
from pathlib import Path
from pe import proc
proc.claim(sys.argv[1])
with open(sys.argv[2], "ab") as log:
    proc.spawn_logged(sys.argv[3:], cwd=Path.cwd(), env=dict(os.environ), log=log, timeout=600)
"""


@pytest.mark.skipif("cgroup" not in MECHANISMS, reason="no writable cgroup2 here")
def test_after_pe_is_killed_the_next_one_stops_its_agents_whole_cgroup(tmp_path: Path) -> None:
    from pe import leftovers

    out, pidfile = tmp_path / "daemon.out", tmp_path / "daemon.pid"
    scope = f"test-reap-{tmp_path.name}"
    agent = _agent(tmp_path, "no-owner", out, pidfile, then="sleep 600")
    dead_pe = subprocess.Popen([sys.executable, "-c", FAKE_PE, scope, str(tmp_path / "agent.log"), *agent], cwd=tmp_path)
    try:
        while not Path(f"{pidfile}.env").exists() or not out.exists() or out.read_text().count("\n") < 2:
            assert dead_pe.poll() is None
            time.sleep(0.05)
        assert Path(f"{pidfile}.env").read_text().strip() == "no owner"  # PE_OWNER alone would not find it
    finally:
        dead_pe.kill()  # kill -9 of pe: its agent and the daemon live on
        dead_pe.wait()
    assert _running(pidfile) is not None
    assert leftovers.reap_orphans(scope) >= 2  # the agent (by PE_OWNER), the daemon (by the cgroup)
    _assert_stopped(out, pidfile)


@pytest.mark.skipif("cgroup" not in MECHANISMS, reason="no writable cgroup2 here")
def test_the_next_pe_removes_the_empty_cgroups_of_dead_ones() -> None:
    from pe import leftovers

    base = reap.cgroup_dir()
    assert base is not None
    ours = reap.Run()  # alive: kept
    dead = base / f"{reap.CGROUP_PREFIX}{os.getpid()}-1-1"  # this pid, but another start: a dead pe's
    dead.mkdir()
    try:
        leftovers.reap_orphans("test-reap-nothing")
        assert not dead.exists()
        assert ours.cgroup is not None and ours.cgroup.exists()
    finally:
        ours.end()
        if dead.exists():
            dead.rmdir()


@pytest.mark.skipif("cgroup" not in MECHANISMS, reason="no writable cgroup2 here")
def test_an_agent_that_is_gone_before_it_is_checked_needs_no_fallback() -> None:
    run = reap.Run("cgroup")
    child = subprocess.Popen(["true"], preexec_fn=run.preexec)
    child.wait()  # a zombie no more: not in the cgroup, and nothing to move
    run.started(child.pid)
    assert run.mechanism == "cgroup"
    assert run.end() == 0


NESTED = """\
import os, sys, time
from pe import reap
inner = reap.cgroup_dir() / "inner"  # the run's cgroup: as a pe inside the agent would make its own
inner.mkdir()
if os.fork() == 0:
    os.setsid()
    (inner / "cgroup.procs").write_text("0")
    open(sys.argv[2], "w").write(str(os.getpid()))
    while True:
        open(sys.argv[1], "a").write("x\\n")
        time.sleep(0.2)
while not os.path.exists(sys.argv[1]) or open(sys.argv[1]).read().count("\\n") < 2:
    time.sleep(0.05)
"""


@pytest.mark.skipif("cgroup" not in MECHANISMS, reason="no writable cgroup2 here")
def test_a_cgroup_made_inside_the_runs_is_killed_and_removed_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reap, "MECHANISM", "cgroup")
    out, pidfile = tmp_path / "daemon.out", tmp_path / "daemon.pid"
    ended = _spawn(tmp_path, [sys.executable, "-c", NESTED, str(out), str(pidfile)])
    assert ended.returncode == 0, (tmp_path / "agent.log").read_text()
    _assert_stopped(out, pidfile)
    base = reap.cgroup_dir()
    assert base is not None
    assert not [p.name for p in base.iterdir() if p.name.startswith(f"{reap.CGROUP_PREFIX}{os.getpid()}-")]
