"""git in a sandboxed worktree: commits on a detached HEAD land; no ref, config or hook can change."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pe.sandbox import Policy
from tests.sandbox.inside import run_in, try_writes
from tests.support import git, refs, same, snapshot

# What fails inside, and whether the sandbox is why (EROFS: shared refs and the common config are
# read-only). `checkout main` and `branch -f main` git refuses by itself (main is checked out at the
# repository), sandbox or not; they are here because an agent tries them.
FORBIDDEN = [
    (["git", "checkout", "main"], False),
    (["git", "branch", "-f", "main", "HEAD"], False),
    (["git", "checkout", "-b", "new-branch"], True),
    (["git", "branch", "-f", "side", "HEAD"], True),
    (["git", "branch", "another"], True),
    (["git", "update-ref", "refs/heads/other", "HEAD"], True),
    (["git", "update-ref", "refs/heads/side", "HEAD"], True),
    (["git", "tag", "v1"], True),
    (["git", "config", "x.y", "z"], True),
    (["git", "pack-refs", "--all"], True),
    (["git", "gc"], True),
]


def tree_policy(repo: Path, name: str) -> Policy:
    """A tree's policy: the tree, its admin dir, the object store writable; read-only the tree's `.git`
    file and the admin dir's `commondir` and `gitdir`, the pointers that could send pe's own git
    commands (run outside any sandbox) to a repository the agent made, with its hooks and config."""
    tree, admin = repo / "trees" / name, repo / ".git" / "worktrees" / name
    return Policy(writable=(tree, admin, repo / ".git" / "objects"),
                  readonly=(tree / ".git", admin / "commondir", admin / "gitdir"), cwd=tree)


def common_state(repo: Path) -> tuple[str, bytes, dict[str, str]]:
    """The refs, the config and everything under .git but the object store and the worktrees' admin dirs."""
    dotgit = repo / ".git"
    files = snapshot(*(p for p in dotgit.iterdir() if p.name not in ("objects", "worktrees", "index")))
    return refs(repo), (dotgit / "config").read_bytes(), files


def test_commit_on_a_detached_head_works_and_nothing_shared_can_change(bwrap: None, repo: Path) -> None:
    git(repo, "branch", "side")
    git(repo, "worktree", "add", "--quiet", "--detach", "trees/t-1", "main")
    (repo / ".git" / "hooks").mkdir(exist_ok=True)
    tree = repo / "trees" / "t-1"
    policy = tree_policy(repo, "t-1")
    base = git(repo, "rev-parse", "main")
    before = common_state(repo)

    done = run_in(policy, "sh", "-c", "echo work > work.txt && git add work.txt && git commit -q -m work")

    assert done.returncode == 0, done.stderr
    head = git(tree, "rev-parse", "HEAD")
    assert head != base
    assert git(tree, "rev-parse", "HEAD~1") == base
    assert git(tree, "show", "--format=%s", "-s", "HEAD") == "work"
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=tree).returncode == 1  # detached
    for argv, erofs in FORBIDDEN:
        done = run_in(policy, *argv)
        assert done.returncode != 0, f"{argv} succeeded inside the sandbox: {done.stdout}"
        assert ("Read-only file system" in done.stderr) == erofs, (argv, done.stderr)
    admin = repo / ".git" / "worktrees" / "t-1"
    pointers = {p: p.read_bytes() for p in (tree / ".git", admin / "commondir", admin / "gitdir")}
    assert try_writes(policy, {repo / ".git" / "hooks" / "post-commit": "w", **dict.fromkeys(pointers, "w")}) == \
        dict.fromkeys([str(repo / ".git" / "hooks" / "post-commit"), *map(str, pointers)], "EROFS")
    assert {p: p.read_bytes() for p in pointers} == pointers
    after = common_state(repo)
    assert after[:2] == before[:2]
    same(before[2], after[2])
    assert git(tree, "rev-parse", "HEAD") == head  # still the agent's commit, still detached
    assert git(repo, "rev-parse", "main") == base


def test_commit_on_an_attached_branch_fails_because_refs_heads_is_read_only(bwrap: None, repo: Path) -> None:
    git(repo, "worktree", "add", "--quiet", "-b", "t-2", "trees/t-2", "main")
    before = common_state(repo)

    done = run_in(tree_policy(repo, "t-2"), "sh", "-c", "echo work > work.txt && git add work.txt && git commit -q -m work")

    assert done.returncode != 0
    assert "Read-only file system" in done.stderr
    assert "refs/heads/t-2.lock" in done.stderr
    assert common_state(repo)[:2] == before[:2]
    assert git(repo, "rev-parse", "t-2") == git(repo, "rev-parse", "main")
