"""Plain doit through the one-line dodo.py sees pe's graph, database and lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import pe_run, write_manifest

DOIT = [sys.executable, "-m", "doit"]


def _doit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DOIT, *args], cwd=repo, capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_doit_list_matches_pe(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    shutil.copy(Path(__file__).parents[1] / "dodo.py", repo / "dodo.py")
    plain = _doit(repo, "list", "--all")
    embedded = pe_run(repo, "doit", "list", "--all")
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == embedded.stdout
    names = [line.split()[0] for line in plain.stdout.splitlines()]
    assert names == [
        "agent", "agent:feat-1", "agent:feat-2", "compare", "compare:feat",
        "setup", "setup:feat-1", "setup:feat-2", "worktree", "worktree:feat-1", "worktree:feat-2",
    ]


def test_doit_run_one_tree_then_pe_sees_it_done(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    shutil.copy(Path(__file__).parents[1] / "dodo.py", repo / "dodo.py")
    res = _doit(repo, "run", "agent:feat-2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (repo / ".pe" / "stamps" / "feat-2.agent.json").exists()
    assert not (repo / "trees" / "feat-1").exists()
    status = pe_run(repo, "status", "--feature=feat")
    assert "feat-2" in status.stdout and "done" in status.stdout
    # doit info and forget work on the same database.
    assert _doit(repo, "info", "agent:feat-2").returncode == 0
    assert _doit(repo, "forget", "agent:feat-2").returncode == 0
    # pe then runs only feat-1: feat-2's stamp still vouches for its work.
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    starts = [line for line in agent_log.read_text().splitlines() if '"start"' in line]
    assert len(starts) == 2


def test_doit_run_is_refused_while_pe_holds_the_lock(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    shutil.copy(Path(__file__).parents[1] / "dodo.py", repo / "dodo.py")
    from pe.layout import Layout
    from pe.lock import RepoLock

    lock = RepoLock(Layout(repo).lock_file)
    lock.acquire("pe execute --feature=feat")
    try:
        res = _doit(repo, "run")
        assert res.returncode == 3
        assert f"pid {os.getpid()} (pe execute --feature=feat" in res.stderr
        assert _doit(repo, "list").returncode == 0  # read-only doit commands need no lock
    finally:
        lock.release()
