"""A misbehaving agent in the sandbox: each attempt fails, nothing outside its tree changes, its work is committed.

Each agent tries one bad thing (and ignores that it failed), then does its work (impl.txt,
a complete RESULTS.md) and exits 0. Around the run: a snapshot of everything outside the
tree an agent could damage (the main checkout, every ref but the tree's branch, .git's
config, hooks and info, the sibling tree, features/, .pe/ stamps and runs, ~/.bashrc).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from pe.tree.results import RESULTS_SECTIONS
from tests.support import git, pe, run_record, write_manifest

AGENT = """\
import os, pathlib, subprocess, sys
what, root = sys.argv[1], pathlib.Path(os.environ["PE_TREE_DIR"]).parents[1]
sibling = root / "trees" / ("feat-2" if os.environ["PE_TREE"] == "feat-1" else "feat-1")
def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True)
tried = {
    "main-checkout": lambda: (root / "README.md").write_text("overwritten by an agent"),
    "sibling-tree": lambda: (sibling / "impl.txt").write_text("overwritten by an agent"),
    "features": lambda: (root / "features" / "feat.yaml").write_text("feature: evil"),
    "stamps": lambda: (root / ".pe" / "stamps" / "feat-2.agent.json").write_text("{}"),
    "git-config": lambda: git("config", "core.hooksPath", "/tmp/evil").check_returncode(),
    "git-hook": lambda: ((root / ".git" / "hooks").mkdir(exist_ok=True),
                         (root / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\\necho pwned\\n")),
    "bashrc": lambda: open(os.path.expanduser("~/.bashrc"), "a").write("echo pwned\\n"),
    "delete-git": lambda: os.remove(".git"),
    "checkout-main": lambda: git("checkout", "--ignore-other-worktrees", "main").check_returncode(),
    "branch-main": lambda: git("branch", "-f", "main", "HEAD").check_returncode(),
    "update-main-ref": lambda: git("update-ref", "refs/heads/main", "HEAD").check_returncode(),
    "update-sibling-ref": lambda: git("update-ref", "refs/heads/feat-2", "HEAD").check_returncode(),
}
try:
    tried[what]()
    print("the bad thing WORKED:", what)
except Exception as exc:
    print("refused as it should be:", what, exc)
pathlib.Path("impl.txt").write_text("the agent's work\\n")
pathlib.Path("RESULTS.md").write_text(SECTIONS)
# An agent's own commit keeps working, on the detached HEAD pe gave it.
git("add", "impl.txt")
print(git("commit", "-qm", "the agent's own commit").stderr)
"""

MISBEHAVIOURS = ["main-checkout", "sibling-tree", "features", "stamps", "git-config", "git-hook", "bashrc",
                 "delete-git", "checkout-main", "branch-main", "update-main-ref", "update-sibling-ref"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _outside(repo: Path, home: Path) -> dict[str, str]:
    """Everything outside feat-1 an agent there could damage, by name."""
    refs = git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    out = {"refs": "\n".join(r for r in refs if not r.startswith("refs/heads/feat-1 ")),
           "main checkout": git(repo, "status", "--porcelain", "--ignored") + _digest(repo / "README.md"),
           "bashrc": _digest(home / ".bashrc")}
    for rel in ("features/feat.yaml", ".git/config", "trees/feat-2/impl.txt", "trees/feat-2/.git"):
        out[rel] = _digest(repo / rel)
    for folder in (".git/hooks", ".git/info", ".pe/stamps"):
        for path in sorted((repo / folder).glob("*")):
            if "feat-1" not in path.name:
                out[f"{folder}/{path.name}"] = _digest(path)
    return out


@pytest.fixture
def confined(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bwrap: None) -> Path:
    home = tmp_path / "home-of-the-user"
    home.mkdir()
    (home / ".bashrc").write_text("# the user's\n")
    monkeypatch.setenv("HOME", str(home))
    sections = "".join(f"## {s}\n\nx\n\n" for s in RESULTS_SECTIONS)
    (repo / "tools" / "bad.py").write_text(AGENT.replace("SECTIONS", json.dumps(sections)))
    git(repo, "add", "tools/bad.py")
    git(repo, "commit", "-qm", "bad agent")
    return repo


@pytest.mark.parametrize("what", MISBEHAVIOURS)
def test_each_attempt_fails_and_nothing_outside_the_tree_changes(confined: Path, what: str) -> None:
    repo, home = confined, Path(os.environ["HOME"])
    good = {"preset": "command", "command": ["python", "tools/agent.py", "{prompt_file}"]}
    bad = {"preset": "command", "command": ["python", "tools/bad.py", what], "retries": 0}
    # Both trees done first, so there is a finished sibling to attack; then feat-1's agent
    # changes (its tree runs again, as after an edited plan) to the misbehaving one.
    write_manifest(repo, count=2, sandbox="bwrap")
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    write_manifest(repo, count=2, sandbox="bwrap", implementations={"1": {"agent": bad}, "2": {"agent": good}})
    before = _outside(repo, home)
    branch_before = git(repo, "rev-parse", "feat-1")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    log = (repo / ".pe/logs/feat-1/agent.log").read_text()
    assert _outside(repo, home) == before
    if what == "checkout-main":
        # The one thing the sandbox lets through: the tree's own HEAD is in its admin dir,
        # so the agent can point it at main (and then cannot commit: main's ref is read-only).
        # pe then commits nothing, and says why.
        assert rc == 1
        reason = run_record(repo, "feat-1")["reason"]
        assert "on branch main" in reason and "nothing was committed" in reason
        assert git(repo, "rev-parse", "feat-1") == branch_before
        return
    assert "the bad thing WORKED" not in log, log
    assert "refused as it should be" in log
    # The tree's own work is committed on its branch (the agent's commit and pe's), and
    # the tree is back on its branch.
    assert rc == 0, out + err
    record = run_record(repo, "feat-1")
    assert record["state"] == "done" and record["sandbox"] == "bwrap" and record["detached"] is None
    assert git(repo, "show", "feat-1:impl.txt") == "the agent's work"
    assert "the agent's own commit" in git(repo, "log", "--format=%s", "feat-1")
    assert git(repo / "trees/feat-1", "symbolic-ref", "HEAD") == "refs/heads/feat-1"


def test_a_run_pe_did_not_see_end_is_attached_by_the_next(confined: Path) -> None:
    # pe killed while a sandboxed agent ran: the tree is left on the detached HEAD, with the
    # agent's commit there and nowhere else. The next run moves the branch there first.
    repo = confined
    write_manifest(repo, count=1, sandbox="bwrap")
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    tree = repo / "trees/feat-1"
    tip = git(repo, "rev-parse", "feat-1")
    git(tree, "checkout", "-q", "--detach")
    (tree / "more.txt").write_text("work after the crash point\n")
    git(tree, "add", "more.txt")
    git(tree, "commit", "-qm", "committed on the detached HEAD")
    record = json.loads((repo / ".pe/runs/feat-1.json").read_text())
    record.update(state="running", detached=tip, pid=None)
    (repo / ".pe/runs/feat-1.json").write_text(json.dumps(record))
    (repo / ".pe/stamps/feat-1.agent.json").unlink()  # not done: the agent runs again
    rc, out, err = pe(repo, "resume", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert git(repo, "show", "feat-1:more.txt") == "work after the crash point"
    assert git(tree, "symbolic-ref", "HEAD") == "refs/heads/feat-1"


# Without a sandbox the agent can do each of these: pe cannot stop it, but it commits nothing
# outside the tree's branch, says what it saw, and a later cleanup loses nothing.
REPORTED = {
    "main-checkout": "the main checkout changed", "features": "the main checkout changed",
    "git-config": ".git/config modified", "git-hook": ".git/hooks/post-commit created",
    "update-main-ref": "refs/heads/main moved",
    # A sibling's branch is one the feature's agents move: seen as its tree changing under it.
    "update-sibling-ref": "trees/feat-2 changed after its agent finished",
    "delete-git": "deleted trees/feat-1/.git", "checkout-main": "on branch main",
}


@pytest.mark.parametrize("what", MISBEHAVIOURS)
def test_without_a_sandbox_pe_commits_nothing_outside_the_branch_and_says_so(confined: Path, what: str) -> None:
    repo = confined
    good = {"preset": "command", "command": ["python", "tools/agent.py", "{prompt_file}"]}
    bad = {"preset": "command", "command": ["python", "tools/bad.py", what], "retries": 0}
    write_manifest(repo, count=2, sandbox="none")
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    write_manifest(repo, count=2, sandbox="none", implementations={"1": {"agent": bad}, "2": {"agent": good}})
    main_before = git(repo, "rev-parse", "main")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc in (0, 1)  # done, or refused (delete-git, checkout-main): never a crash of pe
    record = run_record(repo, "feat-1")
    said = " ".join([record["reason"] or "", *record["warnings"], out, err])
    if what in REPORTED:
        assert REPORTED[what] in said, said
    if what == "sibling-tree":
        assert "trees/feat-2 changed after its agent finished" in said
    # pe's own commits are on feat-1 only: main moved only where the agent moved it
    # (`git branch -f main` is refused by git itself: main is checked out in the main checkout).
    if what not in ("update-main-ref", "checkout-main"):
        assert git(repo, "rev-parse", "main") == main_before
    # (an agent that moved main took the earlier checkpoint with it; this run's is not there)
    assert f"attempt {record['attempts']}," not in git(repo, "log", "--format=%s", "main")
    # cleanup keeps every piece of the agent's work: it refuses, or archives before removing.
    pe(repo, "cleanup", "--feature=feat")
    kept = [p for d in ("trees", "reports", ".pe/quarantine") for p in (repo / d).rglob("*")
            if p.is_file() and p.name in ("impl.txt", "feat-1.bundle", "untracked.tar.gz")]
    assert kept


def test_a_pe_killed_between_detaching_and_recording_it_is_no_dead_end(confined: Path) -> None:
    # kill -9 right after `git checkout --detach`: the tree is detached at its branch's tip and
    # no record says pe did it. Nothing can be lost there: the next run attaches it and goes on.
    repo = confined
    write_manifest(repo, count=1, sandbox="bwrap")
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    tree = repo / "trees/feat-1"
    git(tree, "checkout", "-q", "--detach")
    (repo / ".pe/stamps/feat-1.agent.json").unlink()
    rc, out, err = pe(repo, "resume", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert git(tree, "symbolic-ref", "HEAD") == "refs/heads/feat-1"
