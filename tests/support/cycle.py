"""Shared helpers for the status/recover/compare/adopt/cleanup tests.

Real git in tmp_path, real `pe` runs (in-process through pe.main.main, or as
`python -m pe` subprocesses when a test needs signals), and tests/cycle_agent.py
as every tree's `command` agent.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from pe import main as pe_main

HERE = Path(__file__).resolve().parent
AGENT = HERE / "cycle_agent.py"
PE_ROOT = HERE.parent

TESTS = '''from mathlib import fib


def test_small():
    assert fib(0) == 0
    assert fib(1) == 1


def test_ten():
    assert fib(10) == 55


def test_twenty():
    assert fib(20) == 6765
'''
BENCH = '''import time

from mathlib import fib

start = time.perf_counter()
fib(24)
print(f"time: {time.perf_counter() - start:.6f}")
'''
PROJECT = {
    "mathlib.py": 'def fib(n: int) -> int:\n    raise NotImplementedError\n',
    "test_mathlib.py": TESTS,
    "bench.py": BENCH,
    "requirements.txt": "pyyaml>=6.0\n",
    ".gitignore": ".env\n__pycache__/\n.pytest_cache/\n",
    "specs/plan.md": "# Plan\n\nImplement fib(n) in mathlib.py; keep the tests passing.\n",
}
CHECKS = {
    "test": {
        "command": ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml={report_dir}/junit.xml"],
        "timeout": 120,
    },
    "bench": {"command": ["python", "bench.py"], "metric": r"time: ([0-9.]+)", "unit": "s"},
}


def git(cwd: Path, *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return res.stdout.strip()


def make_repo(tmp_path: Path, files: dict[str, str] | None = None) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.invalid")
    git(root, "config", "user.name", "Test")
    git(root, "config", "commit.gpgsign", "false")
    for rel, text in (files if files is not None else PROJECT).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base project")
    (root / ".env").write_text("SECRET=main\n")  # ignored, present in the main checkout
    return root


def write_manifest(root: Path, feature: str = "calc", count: int = 3, **extra: Any) -> Path:
    data: dict[str, Any] = {
        "feature": feature,
        "plan": "specs/plan.md",
        "base": "main",
        "count": count,
        "agent": {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"]},
        "timeout": 120,
        # No dependency install: the project's requirements.txt must not send tests to the network.
        "setup": {"install": "none"},
    }
    data.update(extra)
    path = root / "features" / f"{feature}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def pe(root: Path, *argv: str) -> tuple[int, str, str]:
    """Run pe in-process on `root`; (exit status, stdout, stderr). --dir goes before pe doit's own arguments."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = pe_main.main([argv[0], "--dir", str(root), *argv[1:]])
    return rc, out.getvalue(), err.getvalue()


def pe_popen(root: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """pe as a child in its own session, so a test can kill -9 it like a crash would."""
    full = {**os.environ, **(env or {})}
    full["PYTHONPATH"] = str(PE_ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-m", "pe", argv[0], "--dir", str(root), *argv[1:]],
        cwd=root, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def agent_pids(marks: Path) -> dict[str, int]:
    """Tree -> pid of the cycle agent that started there (from its marks)."""
    out: dict[str, int] = {}
    log = marks / "runs.log"
    if log.exists():
        for line in log.read_text().splitlines():
            ev = json.loads(line)
            out[ev["tree"]] = ev["pid"]
    return out


@contextlib.contextmanager
def agents_killed_after(marks: Path) -> Iterator[None]:
    """Make sure no hanging cycle agent outlives its test."""
    try:
        yield
    finally:
        for pid in agent_pids(marks).values():
            kill_group(pid)


def snapshot(*dirs: Path) -> dict[str, str]:
    """Path -> content hash (or link target) of every file under `dirs`: to prove nothing changed."""
    out: dict[str, str] = {}
    for top in dirs:
        if not top.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            for name in sorted(filenames) + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
                p = Path(dirpath, name)
                if p.is_symlink():
                    out[str(p)] = "link:" + os.readlink(p)
                else:
                    out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{p.stat().st_mode:o}"
            for d in dirnames:
                out[str(Path(dirpath, d)) + "/"] = "dir"
    return out


def same(before: dict[str, str], after: dict[str, str]) -> None:
    """Assert two snapshots are equal, naming what differs (pytest's diff of big dicts hides it)."""
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"changed: {changed}"


def refs(root: Path) -> str:
    return git(root, "for-each-ref", "--format=%(refname) %(objectname)")


def run_record(root: Path, tree: str) -> dict[str, Any]:
    return json.loads((root / ".pe" / "runs" / f"{tree}.json").read_text())


def set_usage(root: Path, tree: str, usage: dict[str, Any]) -> None:
    """What a real preset records after its run (the command preset reports none)."""
    path = root / ".pe" / "runs" / f"{tree}.json"
    data = json.loads(path.read_text())
    data["usage"] = usage
    path.write_text(json.dumps(data))
