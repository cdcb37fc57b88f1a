"""An agent that breaks out of its tree's git, with `sandbox: none`: pe commits nothing outside the tree's branch.

(tests/sandbox/test_agent_confined.py: the same agents in the sandbox, where they cannot.)

Each agent here does its work (impl.txt, a complete RESULTS.md) and then one bad thing to
its tree's git. pe's checkpoint commit must never land on another branch, never take the
main checkout's uncommitted work, and never run a hook the agent planted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pe.tree.results import RESULTS_SECTIONS
from tests.support import git, pe, pe_run, run_record, write_manifest

AGENT = """\
import os, pathlib, subprocess, sys
what = sys.argv[1]
pathlib.Path("impl.txt").write_text("the agent's work\\n")
pathlib.Path("RESULTS.md").write_text(SECTIONS)
def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()
if what == "delete-git":
    os.remove(".git")
elif what == "checkout-main":
    git("checkout", "--quiet", "--ignore-other-worktrees", "main")
elif what == "detach":
    git("checkout", "--quiet", "--detach")
    git("add", "impl.txt")
    git("commit", "-qm", "the agent's commit on a detached HEAD")
elif what == "nested-repo":
    pathlib.Path("scaffold").mkdir()
    subprocess.run(["git", "init", "-q", "scaffold"], check=True)
    pathlib.Path("scaffold/app.txt").write_text("scaffolded\\n")
elif what == "slow-hook":
    hooks = pathlib.Path(git("rev-parse", "--git-common-dir")) / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "post-commit").write_text("#!/bin/sh\\nsleep 600\\n")
    (hooks / "post-commit").chmod(0o755)
elif what == "results-symlink":
    os.remove("RESULTS.md")
    os.symlink(os.environ["OUTSIDE"], "RESULTS.md")
elif what == "progress-fifo":
    os.mkfifo("PROGRESS.md")
elif what == "escapes":
    evil = "\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b]0;pwned\\x07\\x1b[2J\\x9b31m"
    print("working " + evil, flush=True)
    root = pathlib.Path(os.environ["PE_TREE_DIR"]).parents[1]
    (root / ("note" + evil + ".txt")).write_text("x")
elif what == "move-main":
    git("add", "impl.txt")
    git("commit", "-qm", "the agent's own commit")
    git("update-ref", "refs/heads/main", "HEAD")
    git("tag", "planted")
elif what == "plant-hook":
    hooks = pathlib.Path(git("rev-parse", "--git-common-dir")) / "hooks"
    hooks.mkdir(exist_ok=True)
    for name in ("pre-commit", "post-commit"):
        hook = hooks / name
        hook.write_text("#!/bin/sh\\necho ran >> " + os.environ["HOOK_MARK"] + "\\n")
        hook.chmod(0o755)
    git("config", "core.hooksPath", str(hooks))
"""


def _repo(repo: Path, what: str) -> Path:
    sections = "".join(f"## {s}\n\nx\n\n" for s in RESULTS_SECTIONS)
    (repo / "tools" / "bad.py").write_text(AGENT.replace("SECTIONS", json.dumps(sections)))
    git(repo, "add", "tools/bad.py")
    git(repo, "commit", "-qm", "bad agent")
    write_manifest(repo, count=1, agent={"preset": "command", "command": ["python", "tools/bad.py", what],
                                         "retries": 0}, sandbox="none")
    # The user's own unsaved work in the main checkout: pe must never commit it anywhere.
    (repo / "README.md").write_text("the user's unsaved edit\n")
    return repo


def _refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/")


@pytest.mark.parametrize("what", ["delete-git", "checkout-main", "detach"])
def test_an_agent_that_leaves_its_branch_gets_nothing_committed_anywhere(repo: Path, what: str) -> None:
    _repo(repo, what)
    main_before = git(repo, "rev-parse", "main")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 1, out + err
    # main is where it was, and the user's edit is still an uncommitted edit.
    assert git(repo, "rev-parse", "main") == main_before
    assert git(repo, "status", "--porcelain", "--", "README.md") == "M README.md"
    # The tree's branch holds no commit of pe's: the base, as created.
    assert git(repo, "rev-parse", "feat-1") == main_before
    record = run_record(repo, "feat-1")
    assert record["state"] == "failed"
    expected = {"delete-git": "deleted trees/feat-1/.git", "checkout-main": "on branch main",
                "detach": "detached"}[what]
    assert expected in record["reason"] and "nothing was committed" in record["reason"]
    # The agent's files are still in the tree, for the user to look at.
    assert (repo / "trees" / "feat-1" / "impl.txt").read_text() == "the agent's work\n"
    # A second run does not start an agent in a tree whose git is not pe's any more.
    rc, out, err = pe(repo, "resume", "--feature=feat", "--plain")
    refused = "is not a git worktree" if what == "delete-git" else "no agent runs there until it is repaired"
    assert rc == 1 and refused in out + err
    assert run_record(repo, "feat-1")["attempts"] == 1
    # status says what happened, not "pending".
    rc, out, err = pe(repo, "status", "--feature=feat", "--json")
    row = json.loads(out)[0]
    assert row["state"] == "failed" and expected in row["detail"]
    # cleanup loses nothing: it refuses, or keeps the agent's file (archive, quarantine).
    pe(repo, "cleanup", "--feature=feat")
    kept = [p for d in ("trees", "reports", ".pe/quarantine") for p in (repo / d).rglob("impl.txt")
            if p.read_text() == "the agent's work\n"]
    assert kept
    assert git(repo, "rev-parse", "main") == main_before


def test_the_checkpoint_commit_runs_no_hook_the_agent_planted(repo: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    mark = tmp_path / "hook-ran"
    monkeypatch.setenv("HOOK_MARK", str(mark))
    _repo(repo, "plant-hook")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert not mark.exists()
    # The work is committed on the tree's branch, by pe.
    assert git(repo, "show", "feat-1:impl.txt") == "the agent's work"
    # And what the agent planted is reported: on the run, and in pe status.
    warning = " ".join(run_record(repo, "feat-1")["warnings"])
    assert ".git/hooks/post-commit created" in warning and ".git/config modified" in warning
    assert ".git/hooks/post-commit" in " ".join(json.loads(pe(repo, "status", "--json")[1])[0]["warnings"])
    assert ".git/hooks/post-commit" in err


def test_a_moved_main_or_a_new_tag_is_reported(repo: Path) -> None:
    _repo(repo, "move-main")
    pe(repo, "execute", "--feature=feat", "--plain")
    warning = " ".join(run_record(repo, "feat-1")["warnings"])
    assert "refs/heads/main moved" in warning and "refs/tags/planted created" in warning, warning


def test_a_nested_repository_does_not_stop_the_checkpoint(repo: Path) -> None:
    # `git add --all` refuses a repository without commits inside the tree: pe commits the
    # rest, says what it left out, and the run is done (not re-run on every resume).
    _repo(repo, "nested-repo")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert git(repo, "show", "feat-1:impl.txt") == "the agent's work"
    record = run_record(repo, "feat-1")
    assert record["state"] == "done" and record["pid"] is None
    assert any("scaffold" in w for w in record["warnings"])


def test_a_slow_post_commit_hook_does_not_hold_up_or_fail_the_run(repo: Path) -> None:
    _repo(repo, "slow-hook")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert run_record(repo, "feat-1")["state"] == "done"


def test_a_results_link_out_of_the_tree_is_never_followed(repo: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # A file outside the tree with every section: followed, it would make the tree "done"
    # and copy the outside file into the report and the archive.
    outside = tmp_path / "outside-secret.md"
    outside.write_text("".join(f"## {s}\n\nSECRET-{s}\n\n" for s in RESULTS_SECTIONS))
    monkeypatch.setenv("OUTSIDE", str(outside))
    _repo(repo, "results-symlink")
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 1, out + err
    record = run_record(repo, "feat-1")
    assert record["state"] == "failed" and "symbolic link" in record["reason"]
    pe(repo, "compare", "--feature=feat")
    pe(repo, "cleanup", "--feature=feat", "--force")
    leaked = [p for p in (repo / "reports").rglob("*") if p.is_file() and "SECRET-" in p.read_text(errors="replace")]
    assert leaked == []


def test_a_progress_fifo_hangs_nothing(repo: Path) -> None:
    _repo(repo, "progress-fifo")
    # Each as its own process with a time limit: a read of the FIFO would block for ever.
    done = pe_run(repo, "execute", "--feature=feat", "--plain", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    for action in (["status", "--feature=feat"], ["recover", "--feature=feat"],
                   ["status", "--refresh-progress"], ["compare", "--feature=feat"]):
        ran = pe_run(repo, *action, timeout=60)
        assert ran.returncode == 0, (action, ran.stdout, ran.stderr)


def test_no_escape_sequence_of_an_agent_reaches_the_terminal(repo: Path) -> None:
    _repo(repo, "escapes")
    outputs = [pe(repo, "execute", "--feature=feat", "--plain")]
    assert "\x1b]52" in (repo / ".pe/logs/feat-1/agent.log").read_text()  # the log keeps what it said
    outputs += [pe(repo, "logs", "--feature=feat"), pe(repo, "status"), pe(repo, "recover")]
    printed = "".join(out + err for _, out, err in outputs)
    assert "working " in printed and "note" in printed  # its text and the warning are shown
    assert not any(ch in printed for ch in "\x1b\x07\x9b"), repr(printed[:2000])


def test_commits_on_a_detached_head_are_never_lost_by_cleanup(repo: Path) -> None:
    _repo(repo, "detach")
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 1
    stray = git(repo / "trees" / "feat-1", "rev-parse", "HEAD")
    assert git(repo, "for-each-ref", "--contains", stray, "refs/heads/") == ""  # on no branch
    rc, out, err = pe(repo, "cleanup", "--feature=feat")
    assert rc == 3 and "commits that are on no branch" in err and (repo / "trees" / "feat-1").is_dir()
    rc, out, err = pe(repo, "cleanup", "--feature=feat", "--force")
    assert rc == 0, out + err
    assert not (repo / "trees" / "feat-1").exists()
    bundle = repo / "reports" / "feat" / "feat-1" / "feat-1.bundle"
    assert stray in git(repo, "bundle", "list-heads", str(bundle))
    assert git(repo, "for-each-ref", "refs/pe/") == ""  # the bundle's temporary ref is gone
    git(repo, "fetch", "-q", str(bundle), "refs/pe/stray/feat-1:refs/heads/restored")
    assert git(repo, "show", "restored:impl.txt") == "the agent's work"
