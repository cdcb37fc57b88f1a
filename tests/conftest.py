"""Fixtures: real git repositories in tmp_path, isolated from the user's config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
SCRIPTED_AGENT = TESTS / "scripted_agent.py"
PLAN = "# Plan\n\nWrite impl.txt with the tree's name.\n"


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


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def write_manifest(root: Path, feature: str = "feat", **extra: str) -> Path:
    lines = [
        f"feature: {feature}",
        "plan: specs/plan.md",
        "agent:",
        "  preset: command",
        "  command: [python, tools/agent.py, '{prompt_file}']",
    ]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    path = root / "features" / f"{feature}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A real repository with one commit, a plan, and the scripted agent at tools/agent.py."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet")
    (root / "README.md").write_text("project\n")
    (root / "specs").mkdir()
    (root / "specs" / "plan.md").write_text(PLAN)
    (root / "tools").mkdir()
    shutil.copy(SCRIPTED_AGENT, root / "tools" / "agent.py")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "init")
    yield root


@pytest.fixture
def agent_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """File where every scripted-agent run appends one JSON line (its side effect)."""
    path = tmp_path / "agent-runs.jsonl"
    monkeypatch.setenv("PE_TEST_RUNS", str(path))
    return path


def pe_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pe", *args]


def pe_run(root: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pe_cmd(*args), cwd=root, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
