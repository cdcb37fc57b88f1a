"""What a crash leaves in git, made on purpose: the next pe command clears what is stale and
leaves alone what a live git still holds. (The random trials in test_interrupts find these;
here each is pinned down.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pe.layout import Layout
from pe.tree import stamps
from tests.support import git, pe_run, starts, write_manifest


def _was_creating(repo: Path, tree: str) -> None:
    """pe's marker that it was creating `tree` when it died."""
    stamps.write(Layout(repo), tree, stamps.CREATING, {"since": "then"})  # sealed, as pe writes it


def _initializing_entry(repo: Path, tree: str, *, head: str, commondir: str) -> Path:
    """The admin dir a `git worktree add` killed part-way leaves: `locked initializing`."""
    admin = repo / ".git" / "worktrees" / tree
    admin.mkdir(parents=True)
    (admin / "locked").write_text("initializing")
    (admin / "gitdir").write_text(f"{repo}/trees/{tree}/.git\n")
    (admin / "HEAD").write_text(head + "\n")
    (admin / "commondir").write_text(commondir)
    return admin


def test_stale_ref_locks_from_a_crashed_branch_delete_are_cleared(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    # What a crash inside `git branch -D` leaves: the packed-refs lock and the ref's own.
    (repo / ".git" / "packed-refs.lock").write_text("")
    (repo / ".git" / "refs" / "heads" / "feat-1.lock").write_text("")
    res = pe_run(repo, "cleanup", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(repo, "branch", "--list", "feat-*") == ""
    assert not list((repo / ".git").rglob("*.lock"))


def test_a_lock_a_live_process_holds_is_left_alone_and_named(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    lock = repo / ".git" / "packed-refs.lock"
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({str(lock)!r}, 'w'); import time; time.sleep(60)"])
    try:
        while not lock.exists():
            pass
        res = pe_run(repo, "cleanup", "--feature=feat")
        assert res.returncode == 1 and lock.exists()
        # git's own line naming the file, not its closing advice.
        assert f"Unable to create '{lock}': File exists." in res.stderr.splitlines()[-1], res.stderr
    finally:
        holder.kill()
        holder.wait()
    lock.unlink()
    assert pe_run(repo, "cleanup", "--feature=feat").returncode == 0


def test_stale_index_and_branch_locks_in_a_tree_do_not_stop_resume(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    res = pe_run(repo, "execute", "--feature=feat", env={"PE_TEST_FAIL": "1"})
    assert res.returncode == 1
    # A crash during the checkpoint commit: the tree's index lock and its branch's ref lock stay.
    (repo / ".git" / "worktrees" / "feat-1" / "index.lock").write_text("")
    (repo / ".git" / "refs" / "heads" / "feat-1.lock").write_text("")
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert starts(agent_log, "feat-1") == 2
    assert git(repo / "trees" / "feat-1", "status", "--porcelain") == ""


def test_a_half_written_worktree_entry_is_removed(repo: Path, agent_log: Path) -> None:
    """A crash inside `git worktree add`: the admin dir exists, its commondir is empty, and every
    `git worktree list` fails until it is gone."""
    write_manifest(repo, count=2)
    _initializing_entry(repo, "feat-1", head="ref: refs/heads/feat-1", commondir="")  # commondir not yet written
    _was_creating(repo, "feat-1")
    (repo / "trees" / "feat-1").mkdir(parents=True)
    assert subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True).returncode != 0
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("branch refs/heads/feat-") == 2
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2)] == [1, 1]


def test_a_worktree_add_cut_off_before_its_branch_is_repaired(repo: Path, agent_log: Path) -> None:
    """A crash inside `git worktree add -b`: registered, `locked initializing`, HEAD not yet on
    the branch (detached, all zeros). pe's own (its `creating` marker): repaired, not refused."""
    write_manifest(repo, count=2)
    admin = _initializing_entry(repo, "feat-1", head="0" * 40, commondir="../..\n")
    (repo / "trees" / "feat-1").mkdir(parents=True)
    (repo / "trees" / "feat-1" / ".git").write_text(f"gitdir: {admin}\n")
    _was_creating(repo, "feat-1")
    assert "detached" in git(repo, "worktree", "list", "--porcelain")
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("branch refs/heads/feat-") == 2
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2)] == [1, 1]


def test_a_worktree_remove_cut_off_after_the_trees_git_file_went_is_finished(repo: Path, agent_log: Path) -> None:
    """A crash inside `git worktree remove` once git had deleted the tree's .git file (it deletes the
    files first, the admin dir last): the entry is prunable, the directory still holds files of the
    archived commit. The next cleanup deletes them, instead of leaving them behind for good."""
    write_manifest(repo, count=2)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    tree = repo / "trees" / "feat-1"
    tip = git(repo, "rev-parse", "feat-1")
    stamps.write(Layout(repo), "feat-1", stamps.REMOVING, {"head": tip})
    for name in (".git", "RESULTS.md", "PROGRESS.md"):
        (tree / name).unlink(missing_ok=True)
    assert (tree / "impl.txt").exists()
    assert "prunable" in git(repo, "worktree", "list", "--porcelain")
    res = pe_run(repo, "cleanup", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "deleted what is left of trees/feat-1" in res.stdout
    assert not tree.exists() and not (repo / ".pe" / "quarantine").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--list", "feat-*") == ""
    assert tip in git(repo, "bundle", "list-heads", str(repo / "reports" / "feat" / "feat-1" / "feat-1.bundle"))


def test_files_added_to_such_a_leftover_are_never_deleted(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    tree = repo / "trees" / "feat-1"
    stamps.write(Layout(repo), "feat-1", stamps.REMOVING, {"head": git(repo, "rev-parse", "feat-1")})
    (tree / ".git").unlink()
    (tree / "notes.txt").write_text("written after the crash\n")
    res = pe_run(repo, "cleanup", "--feature=feat")
    assert "delete what is left" not in res.stdout, res.stdout
    kept = [tree / "notes.txt", *(repo / ".pe" / "quarantine").glob("feat-1-*/notes.txt")]
    assert [p.read_text() for p in kept if p.exists()] == ["written after the crash\n"]


def test_a_stamp_written_just_before_pe_was_killed_gets_its_run_recorded(repo: Path, agent_log: Path) -> None:
    """kill -9 between the agent's stamp and its run record: the tree is done (the stamp says so, and
    it is not run again), but its record said `running`, with a dead pid, for good."""
    write_manifest(repo, count=2)
    assert pe_run(repo, "execute", "--feature=feat").returncode == 0
    path = repo / ".pe" / "runs" / "feat-1.json"
    record = json.loads(path.read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    cut_off = {**record, "state": "running", "pid": int(dead.stdout), "pid_start": 1, "ended_at": None,
               "history": record["history"][:-1]}
    path.write_text(json.dumps(cut_off))
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [starts(agent_log, "feat-1"), starts(agent_log, "feat-2")] == [1, 1]  # done is done
    settled = json.loads(path.read_text())
    stamp = json.loads((repo / ".pe" / "stamps" / "feat-1.agent.json").read_text())
    assert (settled["state"], settled["pid"], settled["ended_at"]) == ("done", None, stamp["at"])
    assert [h["state"] for h in settled["history"]] == ["done"]


def test_a_worktree_add_cut_off_in_its_branch_creation_is_repaired(repo: Path, agent_log: Path) -> None:
    """A crash inside `git worktree add -b` while its own `git branch` held the new branch's ref lock:
    no entry, no branch, no directory, only pe's `creating` marker and refs/heads/<tree>.lock."""
    write_manifest(repo, count=2)
    _was_creating(repo, "feat-1")
    (repo / ".git" / "refs" / "heads" / "feat-1.lock").write_text("")
    res = pe_run(repo, "resume", "--feature=feat")
    assert res.returncode == 0, res.stdout + res.stderr
    assert git(repo, "worktree", "list", "--porcelain").count("branch refs/heads/feat-") == 2
    assert [starts(agent_log, f"feat-{i}") for i in (1, 2)] == [1, 1]
    assert not list((repo / ".git").rglob("*.lock"))
