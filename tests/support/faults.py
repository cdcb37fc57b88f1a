"""Fault trials: build a repository, run pe as a child process, hit it at a seeded random moment
(kill -9, SIGINT, SIGTERM) during one phase, let pe recover, and check what is left.

Everything is counted from side effects pe does not write: the scripted agent and the
install command append one JSON line per start and end to $PE_TEST_RUNS; git is asked
directly; leftover processes are found by that same variable in /proc/<pid>/environ,
which every agent, install and git child pe starts inherits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pe.tree.results import check_results
from tests.support.repo import agent_runs, git, scripted_repo
from tests.support.run import pe_cmd, wait_for

SEED = int(os.environ.get("PE_FAULT_SEED", "20250611"))
CRASH = -1  # not a signal: pe and every process it started are SIGKILLed at once, as if the machine died
FEATURE = "feat"
COUNT = 3
INSTALL = '''"""A setup install command: records its start and end, takes a moment."""
import json, os, time
def mark(event):
    with open(os.environ["PE_TEST_RUNS"], "a") as fh:
        fh.write(json.dumps({"tree": os.environ["PE_TREE"], "event": event, "pid": os.getpid(), "t": time.time(),
                             "tag": os.environ.get("PE_TEST_TAG")}) + "\\n")
mark("install-start")
time.sleep(float(os.environ.get("PE_TEST_INSTALL_SLEEP", "0.3")))
mark("install-end")
'''
# Trees finish at different moments, and RESULTS.md takes a while to write: a fault can land
# before, between and after the agents' ends, and in the middle of a RESULTS.md.
AGENT_ENV = {"PE_TEST_SLEEP_1": "0.2", "PE_TEST_SLEEP_2": "0.5", "PE_TEST_SLEEP_3": "0.8",
             "PE_TEST_SLOW_RESULTS": "0.2", "PE_TEST_INSTALL_SLEEP": "0.3"}


def trees(count: int = COUNT) -> list[str]:
    return [f"{FEATURE}-{i}" for i in range(1, count + 1)]


def new_repo(where: Path, files: int = 1000, count: int = COUNT, setup: str | None = None) -> Path:
    """A repository with a plan, the scripted agent, a slow install, and enough files that a checkout takes a moment."""
    sources = {f"src/m{i:04d}.py": f"VALUE = {i}\n" * 20 for i in range(files)}
    root = scripted_repo(where / "repo", {"tools/install.py": INSTALL, **sources})
    install = f"[{json.dumps(sys.executable)}, tools/install.py]"
    (root / "features").mkdir()
    (root / "features" / f"{FEATURE}.yaml").write_text(
        f"feature: {FEATURE}\nplan: specs/plan.md\ncount: {count}\njobs: {count}\ntimeout: 60\n"
        "agent: {preset: command, command: [python, tools/agent.py, '{prompt_file}']}\n"
        f"setup: {setup or '{install: ' + install + ', ports: {per_tree: 0}}'}\n"
        # The trials run in the sandbox where this machine has one (kill -9 mid-run then
        # leaves a tree on the detached HEAD pe gave its agent); the log is the one writable
        # place outside the trees.
        f"sandbox: {{mode: auto, writable: [{json.dumps(str(log_file(root).parent))}]}}\n"
    )
    log_file(root).parent.mkdir(parents=True, exist_ok=True)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "manifest")
    return root


def log_file(root: Path) -> Path:
    """Where the scripted agent and the install command report: its own directory, writable in the sandbox."""
    return root.parent / "log" / "runs.jsonl"


def env_for(log: Path, tag: str = "", **extra: str) -> dict[str, str]:
    return {**os.environ, **AGENT_ENV, "PE_TEST_RUNS": str(log), "PE_TEST_TAG": tag, **extra}


def count(log: Path, tree: str, event: str, tag: str | None = None) -> int:
    """Lines of `event` for `tree`; with `tag`, only those of runs the pe command of that tag started."""
    return sum(1 for e in agent_runs(log) if e["tree"] == tree and e["event"] == event and (tag is None or e.get("tag") == tag))


def spawn(root: Path, *args: str, env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    """pe as a child in its own session, like a user's terminal would start it; output to `out`."""
    with out.open("ab") as fh:
        return subprocess.Popen(pe_cmd(*args), cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def pe_ok(root: Path, *args: str, env: dict[str, str], timeout: float = 120) -> str:
    res = subprocess.run(pe_cmd(*args), cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"pe {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _environ(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


def _zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def processes_with(log: Path) -> list[str]:
    """Live processes (pe, git, agents, installs, grandchildren) started for this test: `pid cmdline`."""
    needle = f"PE_TEST_RUNS={log}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and needle in _environ(entry) and not _zombie(entry):
            try:
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found.append(f"{entry} {cmd}")
    return found


def describe_processes(log: Path) -> str:
    """Each live process of this test with where the kernel has it waiting: what a hang needs to be found."""
    lines = []
    for line in processes_with(log):
        pid = line.split()[0]
        facts = []
        for name in ("wchan", "stat", "cgroup"):
            with contextlib.suppress(OSError):
                facts.append(f"{name}={Path(f'/proc/{pid}/{name}').read_text().strip()}")
        with contextlib.suppress(OSError):
            facts.append("stack=" + " < ".join(Path(f"/proc/{pid}/stack").read_text().split()[1::2][:8]))
        lines.append(f"{line}\n    " + "\n    ".join(facts))
    return "\n".join(lines) or "(nothing)"


def no_processes_left(log: Path, timeout: float = 10.0) -> None:
    """Nothing started for this test still runs (an orphaned git may need a moment to finish)."""
    deadline = time.monotonic() + timeout
    while (left := processes_with(log)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left: {left}"


def kill_leftovers(log: Path) -> None:
    for line in processes_with(log):
        try:
            os.kill(int(line.split()[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def git_admin_problems(root: Path) -> list[str]:
    """`locked` or `prunable` worktree entries, and index.lock files a killed git left."""
    listing = git(root, "worktree", "list", "--porcelain")
    bad = [line for line in listing.splitlines() if line.startswith(("locked", "prunable"))]
    bad += [str(p) for p in (root / ".git").rglob("index.lock")]
    return bad


def sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class AtFault:
    """What was already finished when the fault hit: those must never run again."""

    agent_done: set[str] = field(default_factory=set)
    setup_done: set[str] = field(default_factory=set)


def _stamp(root: Path, tree: str, step: str) -> dict | None:
    try:
        return json.loads((root / ".pe" / "stamps" / f"{tree}.{step}.json").read_text())
    except (OSError, ValueError):
        return None


def at_fault(root: Path, log: Path, names: list[str]) -> AtFault:
    """Read right after the fault: stamps pe wrote (atomically) are what it had finished."""
    found = AtFault()
    for tree in names:
        agent = _stamp(root, tree, "agent")
        if agent and agent.get("results") == sha(root / "trees" / tree / "RESULTS.md"):
            found.agent_done.add(tree)
        setup = _stamp(root, tree, "setup")
        if setup and setup.get("ok") is True:
            found.setup_done.add(tree)
    return found


def check_all_done(root: Path, log: Path, names: list[str], fault: AtFault, what: str, sig: int = CRASH) -> None:
    """After recovery: every tree done exactly once, git clean, no half RESULTS.md counted, nothing running.

    Runs are told apart by the tag of the pe command that started them (PE_TEST_TAG, inherited):
    an agent orphaned by a kill -9 may write its first line after the kill. After a kill -9 of pe
    alone, an agent that ended its attempt (its "end" line) never runs again: agents run under
    supervisors that outlive pe.
    """
    for tree in names:
        tree_dir = root / "trees" / tree
        again = count(log, tree, "start", tag=RECOVER_TAG)
        completed = count(log, tree, "end", tag="hit") + count(log, tree, "end", tag="before")
        if tree in fault.agent_done:
            assert again == 0, f"{what}: {tree} was done before the fault, yet its agent ran {again} more time(s)"
        elif completed and sig == signal.SIGKILL:
            # pe alone was killed: the supervisor saw the agent through, so nothing may run it again.
            # (A deliberate stop, SIGINT/SIGTERM, may land between the agent's last line and its exit:
            # the supervisor stops it then, as told, and the attempt is the user's, run again.)
            assert again == 0, f"{what}: {tree}'s agent completed its attempt, yet ran {again} more time(s)"
        else:
            assert again <= 1, f"{what}: {tree}'s agent ran {again} time(s) after the fault, expected at most 1"
            assert completed or again == 1, f"{what}: {tree}'s agent never completed and was not run again"
            assert count(log, tree, "end", tag=RECOVER_TAG) == again, f"{what}: {tree}'s resumed agent did not finish"
        if tree in fault.setup_done:
            assert count(log, tree, "install-start", tag=RECOVER_TAG) == 0, f"{what}: {tree} was set up again"
        # The run that counts is complete: its RESULTS.md has every section and the stamp vouches for it.
        assert check_results(tree_dir) is None, f"{what}: {tree}: {check_results(tree_dir)}"
        stamp = _stamp(root, tree, "agent")
        assert stamp and stamp["results"] == sha(tree_dir / "RESULTS.md"), f"{what}: {tree} stamp"
        record = json.loads((root / ".pe" / "runs" / f"{tree}.json").read_text())
        assert record["state"] == "done", f"{what}: {tree} record says {record['state']}"
        # The branch holds the work, RESULTS.md included, and nothing is left uncommitted.
        assert git(tree_dir, "rev-parse", "--abbrev-ref", "HEAD") == tree
        assert git(tree_dir, "status", "--porcelain") == "", f"{what}: {tree} dirty"
        committed = git(tree_dir, "show", "HEAD:RESULTS.md")
        assert committed.strip() == (tree_dir / "RESULTS.md").read_text().strip()
    assert not git_admin_problems(root), f"{what}: {git_admin_problems(root)}"
    listed = git(root, "worktree", "list", "--porcelain").count("branch refs/heads/feat-")
    assert listed == len(names), f"{what}: {listed} worktrees registered"
    assert sorted(p.name for p in (root / "trees").iterdir()) == sorted(names)
    no_processes_left(log)


def tips(root: Path, names: list[str]) -> dict[str, str]:
    return {t: git(root, "rev-parse", f"refs/heads/{t}") for t in names}


def check_all_cleaned(root: Path, log: Path, names: list[str], before: dict[str, str], what: str) -> None:
    """After cleanup: every tree archived with a verified bundle of its tip, then gone from git and disk."""
    for tree in names:
        bundle = root / "reports" / FEATURE / tree / f"{tree}.bundle"
        assert bundle.exists(), f"{what}: no bundle for {tree}"
        heads = git(root, "bundle", "list-heads", str(bundle))
        assert before[tree] in heads, f"{what}: the bundle of {tree} lacks its tip"
        git(root, "bundle", "verify", "--quiet", str(bundle))
        assert not (root / "trees" / tree).exists(), f"{what}: trees/{tree} still there"
        assert not (root / ".pe" / "runs" / f"{tree}.json").exists(), f"{what}: {tree} not forgotten"
    assert git(root, "branch", "--list", "feat-*") == "", f"{what}: branches left"
    assert git(root, "worktree", "list", "--porcelain").count("worktree ") == 1, f"{what}: worktrees left"
    assert not git_admin_problems(root), f"{what}: {git_admin_problems(root)}"
    ran = [e for e in agent_runs(log) if e["event"] == "start" and e.get("tag") != "before"]
    assert not ran, f"{what}: cleanup ran an agent: {ran}"
    quarantine = root / ".pe" / "quarantine"
    assert not quarantine.exists() or not any(quarantine.iterdir()), f"{what}: something was quarantined"
    no_processes_left(log)


@dataclass
class Phase:
    """One phase of a trial: what to run before (to completion), the command hit, and how to recover."""

    name: str
    before: list[list[str]]
    command: list[str]
    started: Callable[[Path], bool]  # the moment the phase's window opens
    recover: list[str]
    finished: str  # the command's last line of output once its work is done


def _locked(root: Path) -> bool:
    return (root / ".pe" / "lock.json").exists()


def _setting_up(root: Path) -> bool:
    logs = root / ".pe" / "logs"
    return logs.is_dir() and any(logs.glob("*/setup.log"))


RECOVER_TAG = "recover"
RESUME = ["resume", f"--feature={FEATURE}", "--context=pe was stopped"]
PHASES = {
    "init": Phase("init", [], ["init", f"--feature={FEATURE}"], _locked, RESUME, "trees ready under trees/"),
    "setup": Phase("setup", [], ["init", f"--feature={FEATURE}"], _setting_up, RESUME, "trees ready under trees/"),
    "execute": Phase("execute", [["init", f"--feature={FEATURE}"]], ["execute", f"--feature={FEATURE}"],
                     _locked, RESUME, "last activity"),
    "cleanup": Phase("cleanup", [["execute", f"--feature={FEATURE}"]], ["cleanup", f"--feature={FEATURE}"],
                     _locked, ["cleanup", f"--feature={FEATURE}"], "archives in reports/"),
}

# How long each phase's window lasts on this machine, measured once per session by an unhit run.
_WINDOWS: dict[str, float] = {}


def window(phase: Phase, where: Path) -> float:
    if phase.name not in _WINDOWS:
        root = new_repo(where / f"calibrate-{phase.name}")
        log = log_file(root)
        env = env_for(log)
        for argv in phase.before:
            pe_ok(root, *argv, env=env)
        child = spawn(root, *phase.command, env=env, out=root.parent / "out.txt")
        wait_for(lambda: phase.started(root) or child.poll() is not None, what=f"{phase.name} to start", timeout=30, poll=0.01)
        t0 = time.monotonic()
        if phase.name == "init":  # the worktree part of init: until the first tree's setup begins
            wait_for(lambda: _setting_up(root) or child.poll() is not None, what="setup to start", timeout=30, poll=0.01)
        else:
            child.wait(120)
        _WINDOWS[phase.name] = time.monotonic() - t0
        child.wait(120)
        assert child.returncode == 0, (root.parent / "out.txt").read_text()
    return _WINDOWS[phase.name]


@dataclass
class Outcome:
    hit: bool  # the fault landed while the command still ran
    returncode: int | None
    delay: float




def crash(log: Path, pid: int) -> None:
    """SIGKILL pe and everything it started, each whole process group, in one sweep."""
    victims = {pid} | {int(line.split()[0]) for line in processes_with(log)}
    for victim in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(victim), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def trial(phase: Phase, calibration: Path, where: Path, rng: random.Random, sig: int, what: str) -> Outcome:
    """Run `phase` in a fresh repository under `where`, send `sig` (or CRASH) to pe at a random
    moment of its window, recover, check. `calibration`: where the window is measured (once)."""
    span = window(phase, calibration)
    root = new_repo(where)
    log = log_file(root)
    out = root.parent / "out.txt"
    env = env_for(log, tag="before")
    try:
        for argv in phase.before:
            pe_ok(root, *argv, env=env)
        before_tips = tips(root, trees()) if phase.name == "cleanup" else {}
        delay = rng.uniform(0, span)
        child = spawn(root, *phase.command, env=env_for(log, tag="hit"), out=out)
        wait_for(lambda: phase.started(root) or child.poll() is not None, what=f"{what}: phase start", timeout=30, poll=0.01)
        time.sleep(delay)
        hit = child.poll() is None
        if hit and sig == CRASH:
            crash(log, child.pid)
        elif hit:
            os.kill(child.pid, sig)
        rc = child.wait(60)
        said = out.read_text()
        if sig not in (signal.SIGKILL, CRASH) and hit:
            expected = {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
            # The signal may also land in the last instant, after the work finished: then 0 is
            # right, and so is death by that signal once pe's main() has returned (a shell says 130/143).
            late = rc in (0, -sig) and phase.finished in said
            assert rc == expected or late, f"{what}: exit {rc}, expected {expected}:\n{said}"
            assert "Traceback" not in said, f"{what}: {said}"
            # pe promises every child's group is stopped before it exits.
            no_processes_left(log, timeout=2.0)
        fault = at_fault(root, log, trees())
        try:
            recovered = subprocess.run(pe_cmd(*phase.recover), cwd=root, env=env_for(log, tag=RECOVER_TAG),
                                       capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            print(f"{what}: the recovering pe hung; what still runs:\n{describe_processes(log)}")
            raise
        # A cleanup hit once its work was done finds nothing left (exit 3, by design); the checks below
        # then prove everything really is archived and gone.
        done_already = phase.name == "cleanup" and "nothing to clean up" in recovered.stderr
        assert recovered.returncode == 0 or done_already, \
            f"pe {' '.join(phase.recover)} exited {recovered.returncode}:\n{recovered.stdout}\n{recovered.stderr}"
        if phase.name == "cleanup":
            check_all_cleaned(root, log, trees(), before_tips, what)
        else:
            check_all_done(root, log, trees(), fault, what, sig)
        return Outcome(hit, rc, delay)
    except BaseException:
        print(f"{what}, delay {locals().get('delay')}: repository kept at {root}; pe said:\n"
              f"{out.read_text() if out.exists() else ''}")
        raise
    finally:
        kill_leftovers(log)
