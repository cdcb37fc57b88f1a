"""The git wrapper: option-looking input is never taken as an option."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe import git as pegit
from pe.errors import PeError
from pe.proc import ProcError
from tests.support import git


@pytest.mark.parametrize("ref", ["--output=pwned", "-h", "--set-upstream-to=x", "HEAD; rm -rf /", "main..HEAD"])
def test_resolve_commit_never_takes_options(repo: Path, ref: str) -> None:
    config = (repo / ".git" / "config").read_text()
    assert pegit.resolve_commit(repo, ref) is None
    assert not (repo / "pwned").exists()
    assert (repo / ".git" / "config").read_text() == config


def test_toplevel_from_inside_a_tree_is_the_main_checkout(repo: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "t", "--", "trees/t")
    assert pegit.toplevel(repo / "trees" / "t") == repo
    assert pegit.toplevel(repo / "specs") == repo


def test_not_a_repository_and_bare_repository(tmp_path: Path) -> None:
    with pytest.raises(PeError, match="is not inside a git repository"):
        pegit.toplevel(tmp_path)
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(PeError, match="is a bare repository"):
        pegit.toplevel(bare)


def test_inside_git_s_own_directory_says_so(repo: Path) -> None:
    with pytest.raises(PeError, match="is inside git's own directory: run pe from the checkout"):
        pegit.toplevel(repo / ".git" / "refs")


def test_admin_dirs_agree_with_git_for_checkouts_and_linked_trees(repo: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "t", "--", "trees/t")
    for where in (repo, repo / "trees" / "t"):
        expected = git(where, "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir")
        assert [str(p) for p in pegit.admin_dirs(where)] == expected.splitlines()
    # A gitfile pe cannot read plainly (here: pointing nowhere) is left to git, which says what is wrong.
    (repo / "trees" / "t" / ".git").write_text("gitdir: /nonexistent/place\n")
    with pytest.raises(pegit.proc.ProcError):
        pegit.admin_dirs(repo / "trees" / "t")


def test_clear_stale_locks_removes_a_killed_commit_s_locks_in_a_linked_tree(repo: Path) -> None:
    git(repo, "worktree", "add", "-q", "-b", "t", "--", "trees/t")
    tree = repo / "trees" / "t"
    gitdir = Path(git(tree, "rev-parse", "--absolute-git-dir"))
    (gitdir / "index.lock").write_text("")
    (repo / ".git" / "refs" / "heads" / "t.lock").write_text("")
    cleared = pegit.clear_stale_locks(tree)
    assert sorted(p.name for p in cleared) == ["index.lock", "t.lock"]
    (tree / "x.txt").write_text("x")
    assert pegit.commit_all(tree, "works again")


def test_commit_all_checkpoints_everything_without_an_identity(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "new.txt").write_text("work")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(repo / "no-such-config"))
    sha = pegit.commit_all(repo, "checkpoint")
    assert sha and git(repo, "log", "-1", "--format=%an <%ae> %s") == "pe <pe@localhost> checkpoint"
    assert pegit.commit_all(repo, "nothing") is None


def test_a_checkpoint_commit_starts_no_auto_maintenance(repo: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """`git commit` runs `git maintenance run --auto` after itself: one more process at every
    checkpoint, and a `gc --auto` at an agent's end (issue 18)."""
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    (repo / "work.txt").write_text("work\n")
    assert pegit.commit_all(repo, "checkpoint")
    said = trace.read_text()
    assert "git commit" in said and "maintenance" not in said, said


def test_a_checkpoint_with_work_and_an_identity_asks_nothing_before_it_commits(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """add, commit, rev-parse: the `diff --cached` that asked first whether there was anything to
    commit ran at every agent's end (issue 18); now only a commit that failed asks it."""
    trace = tmp_path / "trace.txt"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    (repo / "work.txt").write_text("work\n")
    assert pegit.commit_all(repo, "checkpoint")
    ran = [line.split("built-in: git ", 1)[1].split()[0] for line in trace.read_text().splitlines()
           if "built-in: git " in line]
    assert ran == ["add", "commit", "rev-parse"], ran
    trace.unlink()
    assert pegit.commit_all(repo, "nothing left") is None  # a clean tree: the commit fails, diff says why
    assert git(repo, "log", "-1", "--format=%s") == "checkpoint"


def test_commit_all_keeps_the_user_s_identity(repo: Path) -> None:
    (repo / "new.txt").write_text("work")
    assert pegit.commit_all(repo, "checkpoint")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "pe tests <tests@pe.invalid>"


def test_detached_head_and_empty_repository_are_one_line_errors(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pe.main import main

    git(repo, "checkout", "-q", "--detach")
    assert main(["init", "--feature=feat", "--plan=specs/plan.md", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == "pe: error: HEAD is detached: pass --base=REF or set base: in the manifest\n"
    assert not (repo / "features").exists() and not (repo / ".pe").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    (empty / "plan.md").write_text("x")
    assert main(["init", "--feature=feat", "--plan=plan.md", f"--dir={empty}"]) == 3
    assert "the repository has no commits yet" in capsys.readouterr().err


def test_a_crash_in_an_earlier_branch_delete_does_not_block_the_next(repo: Path) -> None:
    """A git killed while it rewrote packed-refs leaves packed-refs.new; every later ref delete then
    failed ("unable to create file packed-refs.new: File exists"): a long-form fault trial's cleanup."""
    for name in ("feat-1", "feat-2"):
        git(repo, "branch", name)
    git(repo, "pack-refs", "--all")
    (repo / ".git" / "packed-refs.new").write_text("half written\n")
    with pegit.mutation_lock(repo / ".pe" / "git.lock"):
        pegit.delete_branch(repo, "feat-1")
        assert "feat-1" not in git(repo, "branch", "--list")
        assert not (repo / ".git" / "packed-refs.new").exists()
        pegit.delete_branch(repo, "feat-2")


def test_detach_writes_only_head_and_refuses_a_head_that_moved(repo: Path) -> None:
    # A sandboxed run starts on a detached HEAD. `git checkout --detach` re-read every file of
    # the tree and rewrote its index (110-140 ms a tree on 20,000 files, 8 trees on 2 cores:
    # the bwrap agents started ~350 ms late; issue 18): detaching changes HEAD and nothing else.
    git(repo, "worktree", "add", "-q", "-b", "t", "--", "trees/t")
    tree = repo / "trees" / "t"
    admin = Path(git(tree, "rev-parse", "--absolute-git-dir").strip())
    index = (admin / "index").read_bytes()
    tip = git(tree, "rev-parse", "HEAD").strip()
    pegit.detach(tree, tip)
    assert (admin / "HEAD").read_text().strip() == tip
    assert (admin / "index").read_bytes() == index
    assert git(repo, "rev-parse", "refs/heads/t").strip() == tip
    # Recorded tip and HEAD disagree (someone committed in between): nothing changes.
    git(tree, "symbolic-ref", "HEAD", "refs/heads/t")
    git(tree, "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-q", "--allow-empty", "-m", "x")
    with pytest.raises(ProcError):
        pegit.detach(tree, tip)
    assert git(tree, "symbolic-ref", "HEAD").strip() == "refs/heads/t"
