"""Fixtures: real git repositories in tmp_path, isolated from the user's config.

Helpers are in tests/support (`from tests.support import ...`); fixtures are used by name.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import scripted_repo


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user or system git config, no templates (hooks!): tests see plain git."""
    home = tmp_path_factory.mktemp("home")
    cfg = home / ".gitconfig"
    cfg.write_text("[user]\n\tname = pe tests\n\temail = tests@pe.invalid\n[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    templates = home / "templates"
    templates.mkdir()
    monkeypatch.setenv("GIT_TEMPLATE_DIR", str(templates))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A real repository with one commit, a plan, and the scripted agent at tools/agent.py."""
    yield scripted_repo(tmp_path / "repo")


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """File where every scripted-agent run appends one JSON line (its side effect)."""
    path = tmp_path / "agent-runs.jsonl"
    monkeypatch.setenv("PE_TEST_RUNS", str(path))
    return path


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The pid of a process that lives for the test (what a running agent's record points at)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()
