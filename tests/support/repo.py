"""Real repositories, pe's manifests, and what pe and the scripted agent leave in them:
the one git() and the one write_manifest() of the tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

TESTS = Path(__file__).resolve().parents[1]
# Stays at tests/ top level: README.md names it there. The `repo` fixture copies it to tools/agent.py.
SCRIPTED_AGENT = TESTS / "scripted_agent.py"
PLAN = "# Plan\n\nWrite impl.txt with the tree's name.\n"
# The `repo` fixture's agent: tests/scripted_agent.py, as copied into the repository.
SCRIPTED_COMMAND = {"preset": "command", "command": ["python", "tools/agent.py", "{prompt_file}"]}


def git(cwd: Path, *args: str) -> str:
    """git in `cwd`; its stdout, stripped. A failing git fails the test (CalledProcessError)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def readme_repo(root: Path) -> Path:
    """A real repository at `root` on branch main with one commit of a README: for tests of git facts."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("project\n")
    git(root, "add", "README.md")
    git(root, "commit", "-q", "-m", "base")
    return root


def scripted_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """A real repository at `root` with one commit: a README, the plan at specs/plan.md, the
    scripted agent at tools/agent.py, and `files` (relative path -> text)."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet")
    (root / "README.md").write_text("project\n")
    (root / "specs").mkdir()
    (root / "specs" / "plan.md").write_text(PLAN)
    (root / "tools").mkdir()
    shutil.copy(SCRIPTED_AGENT, root / "tools" / "agent.py")
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "init")
    return root


def write_manifest(root: Path, feature: str = "feat", **fields: Any) -> Path:
    """features/<feature>.yaml: the plan at specs/plan.md, the scripted agent, and `fields`
    (count=2, jobs=2, setup={...}, or another agent={...}, which replaces the scripted one).

    `sandbox: none` unless `fields` say otherwise: the scripted agents report to files outside
    their trees ($PE_TEST_RUNS, $CYCLE_MARKS), which the sandbox makes read-only. The tests
    of the sandbox (tests/sandbox/, tests/faults/) ask for it, and make their log writable."""
    data: dict[str, Any] = {"feature": feature, "plan": "specs/plan.md", "agent": SCRIPTED_COMMAND,
                            "sandbox": "none", **fields}
    path = root / "features" / f"{feature}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def agent_runs(log: Path) -> list[dict[str, Any]]:
    """The JSON lines the scripted agent (and the fault trials' install command) appended to `log`,
    the agent_log fixture's $PE_TEST_RUNS: one per start and one per end."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def starts(log: Path, tree: str) -> int:
    """How many times the scripted agent started in `tree`."""
    return sum(1 for e in agent_runs(log) if e["tree"] == tree and e["event"] == "start")


def run_record(root: Path, tree: str) -> dict[str, Any]:
    """.pe/runs/<tree>.json, what pe recorded of the tree's last agent run."""
    data: dict[str, Any] = json.loads((root / ".pe" / "runs" / f"{tree}.json").read_text())
    return data
