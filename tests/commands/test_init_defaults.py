"""pe init for a new user (issue 17): the base it writes, the manifest it drafts, warnings it gives."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support import git, pe


def _manifest(root: Path, name: str = "feat") -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((root / "features" / f"{name}.yaml").read_text())
    return data


def test_a_tag_named_like_the_branch_still_writes_the_branch_name(repo: Path) -> None:
    branch = git(repo, "symbolic-ref", "--short", "HEAD")  # main or master, as git's default says
    git(repo, "tag", branch)
    rc, _, err = pe(repo, "init", "--feature=feat", "--plan=specs/plan.md", "--count=1",
                    "--agent-command=python tools/agent.py {prompt_file}")
    assert rc == 0, err
    assert _manifest(repo)["base"] == branch
