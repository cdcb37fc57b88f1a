"""pe init for a new user (issue 17): the base it writes, the manifest it drafts, warnings it gives."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from tests.support import git, pe, scripted_repo


def _manifest(root: Path, name: str = "feat") -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((root / "features" / f"{name}.yaml").read_text())
    return data


def test_a_tag_named_like_the_branch_still_writes_the_branch_name(repo: Path) -> None:
    branch = git(repo, "symbolic-ref", "--short", "HEAD")  # main or master, as git's default says
    git(repo, "tag", branch)
    rc, _, err = pe(repo, "init", "--feature=feat", "--plan=specs/plan.md", "--count=1",
                    "--agent-command=python tools/agent.py {prompt_file}", "--manifest-only")
    assert rc == 0, err
    assert _manifest(repo)["base"] == branch


def _without(program: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / program).exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(dirs))


def test_manifest_only_writes_commented_setup_and_checks_and_creates_no_tree(tmp_path: Path) -> None:
    root = scripted_repo(tmp_path / "r", {
        "pyproject.toml": "[project]\nname = 'x'\nversion = '1'\n[tool.ruff]\nline-length = 100\n",
        "tests/test_x.py": "def test_x() -> None:\n    pass\n",
        "docs/requirements.txt": "sphinx\n",
        "web/package.json": '{"scripts": {"test": "node t.js"}}\n',
    })
    rc, out, err = pe(root, "init", "--feature=feat", "--plan=specs/plan.md", "--manifest-only",
                      "--agent-command=python tools/agent.py {prompt_file}")
    assert rc == 0, err
    assert not (root / "trees").exists() and "no trees created" in out
    text = (root / "features" / "feat.yaml").read_text()
    assert "# checks:\n#   test:" in text and "#     command: python -m pytest -q\n" in text
    assert "#     command: python -m ruff check ." in text
    assert "#   install: auto" in text and "Python project in the root" in text
    assert "not installed: docs/requirements.txt" in text
    # Uncommented, the suggestions are a valid manifest.
    uncommented = re.sub(r"^# (setup|checks):", r"\1:", text, flags=re.M)
    uncommented = re.sub(r"^#(   .*)$", r"\1", uncommented, flags=re.M)
    uncommented = re.sub(r"^#     # .*\n", "", uncommented, flags=re.M)
    (root / "features" / "feat.yaml").write_text(uncommented)
    assert pe(root, "validate", "--feature=feat")[0] == 0, uncommented
    # A second --manifest-only leaves the manifest alone.
    rc, out, _ = pe(root, "init", "--feature=feat", "--manifest-only")
    assert rc == 0 and "exists: nothing written" in out
    assert (root / "features" / "feat.yaml").read_text() == uncommented


def test_npm_test_script_is_suggested(tmp_path: Path) -> None:
    root = scripted_repo(tmp_path / "r", {"package.json": '{"scripts": {"test": "node t.js", "lint": "x"}}\n'})
    rc, _, err = pe(root, "init", "--feature=feat", "--plan=specs/plan.md", "--manifest-only",
                    "--agent-command=python tools/agent.py {prompt_file}")
    assert rc == 0, err
    text = (root / "features" / "feat.yaml").read_text()
    assert "#     command: npm test\n" in text and "#     command: npm run lint\n" in text
    assert "pytest" not in text.split("# checks:")[-1]


def test_the_default_claude_agent_missing_is_one_warning_at_init(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _without("claude", monkeypatch)
    rc, out, err = pe(repo, "init", "--feature=feat", "--plan=specs/plan.md", "--count=2")
    assert rc == 0, err
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "npm install -g @anthropic-ai/claude-code" in warnings[0], err
    assert "2 trees ready under trees/" in out


def test_one_tree_is_one_tree(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _without("claude", monkeypatch)
    rc, out, err = pe(repo, "init", "--feature=feat", "--plan=specs/plan.md", "--count=1")
    assert rc == 0, err
    assert "1 tree ready under trees/" in out
