"""The cycle project: what the status/recover/compare/adopt/cleanup tests run pe on.

A small real project (fib in mathlib.py, its tests, a benchmark), real git in tmp_path, and
tests/support/cycle_agent.py, run by path, as every tree's `command` agent. Run pe on it in-process
with tests.support.pe, or as a child with tests.support.pe_popen when a test needs signals.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.repo import git, write_manifest
from tests.support.run import kill_group, pe

AGENT = Path(__file__).resolve().parent / "cycle_agent.py"
FEATURE = "calc"

MATHLIB_TESTS = '''from mathlib import fib


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
    "test_mathlib.py": MATHLIB_TESTS,
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


def write_cycle_manifest(root: Path, feature: str = FEATURE, count: int = 3, **extra: Any) -> Path:
    """tests.support.write_manifest with the cycle project's settings: the cycle agent by its path
    (the cycle repo has no tools/agent.py), base main, a timeout, and no dependency install (the
    project's requirements.txt must not send tests to the network). `extra` adds or replaces keys."""
    settings: dict[str, Any] = {
        "base": "main",
        "count": count,
        "agent": {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"]},
        "timeout": 120,
        "setup": {"install": "none"},
    }
    return write_manifest(root, feature, **{**settings, **extra})


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


def set_usage(root: Path, tree: str, usage: dict[str, Any]) -> None:
    """What a real preset records after its run (the command preset reports none)."""
    path = root / ".pe" / "runs" / f"{tree}.json"
    data = json.loads(path.read_text())
    data["usage"] = usage
    if data.get("history"):  # the ended attempt's own figures, which status and compare sum
        data["history"][-1]["usage"] = usage
    path.write_text(json.dumps(data))


def executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int = 3,
             variants: dict[int, str] | None = None) -> Path:
    """A cycle repository whose `count` trees pe executed, each done. `variants` picks a tree's
    implementation (CYCLE_VARIANT_<i>: "slow", "dep", ...), set for the rest of the test."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=count)
    for i, variant in (variants or {}).items():
        monkeypatch.setenv(f"CYCLE_VARIANT_{i}", variant)
    rc, out, err = pe(root, "execute", f"--feature={FEATURE}")
    assert rc == 0, out + err
    return root
