"""kill -9 of pe adopt at the two moments that used to leave a half-done adoption behind.

A git hook of the repository (reference-transaction: it runs inside the git that pe
started, at the exact moment a ref changes) pauses there and says so with a marker file;
the test then kills pe with SIGKILL, lets that git finish by itself (as it does after a
real kill: it is in a session of its own), and runs the next pe command.

1. the target branch moved, ADOPTED.json and the history line not yet written;
2. --rebase, a commit replayed in its scratch worktree under .pe/adopt/, still registered.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.support import git, pe_popen, pe_run, wait_for
from tests.support.cycle import executed

HOOK = """#!{python}
# A test's pause: once the transaction it waits for is committed, wait for the marker to go.
import os, sys, time
from pathlib import Path
lines = [line.split() for line in sys.stdin.read().splitlines()]
cwd = os.getcwd().replace(os.sep, "/")
if sys.argv[1] == "committed" and {where!r} in cwd + "/" and any(
        ref == {ref!r} and old != new and ({created!r} or set(old) != {{"0"}}) for old, new, ref in lines):
    marker = Path({marker!r})
    marker.write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while marker.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


def pause_at(root: Path, ref: str, *, where: str = "/", created: bool = False) -> Path:
    """Make the next committed change of `ref` by a git whose cwd contains `where` wait; its marker file.
    `created`: the ref's creation counts too."""
    marker = root.parent / "paused"
    hook = root / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(HOOK.format(python=sys.executable, where=where, ref=ref, marker=str(marker), created=created))
    hook.chmod(0o755)
    return marker


def kill_there(root: Path, marker: Path, *argv: str) -> str:
    """pe ARGV, SIGKILLed once the hook paused; the hook removed and its git let finish. pe's output."""
    child = pe_popen(root, *argv)
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None, timeout=120, what="the pause")
        assert child.poll() is None, f"pe ended before the pause:\n{child.communicate()[0]}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
        (root / ".git" / "hooks" / "reference-transaction").unlink(missing_ok=True)
        hook_pid = int(marker.read_text() or 0) if marker.exists() else 0
        marker.unlink(missing_ok=True)
    wait_for(lambda: not hook_pid or not Path(f"/proc/{hook_pid}").exists() or _zombie(hook_pid),
             timeout=30, what="the paused git to finish")
    assert child.stdout is not None
    return child.stdout.read()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def tip(root: Path, ref: str) -> str:
    return git(root, "rev-parse", ref)


@pytest.fixture
def done2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return executed(tmp_path, monkeypatch, count=2)


RECORD_KEYS = {"feature", "tree", "strategy", "agent", "into", "mode", "commit", "previous", "tree_tip", "at",
               "recommended", "forced"}


@pytest.mark.parametrize(("mode", "into", "then"), [
    ("--squash", "main", "adopt"),  # main is checked out: `merge --ff-only` moves it
    ("--merge", "develop", "adopt"),  # develop is not: `update-ref` moves it
    ("--squash", "main", "cleanup"),  # the next command is another one that takes the lock
])
def test_a_kill_after_the_target_moved_is_recorded_by_the_next_command(
        done2: Path, mode: str, into: str, then: str) -> None:
    root = done2
    if into != "main":
        git(root, "branch", into, "main")
    before, tree_tip = tip(root, into), tip(root, "calc-1")
    argv = ["adopt", "--feature=calc", "--tree=calc-1", mode, *([f"--into={into}"] if into != "main" else [])]
    kill_there(root, pause_at(root, f"refs/heads/{into}"), *argv)
    adopted = tip(root, into)
    assert adopted != before and not (root / "reports/calc/ADOPTED.json").exists()  # the window, hit

    if then == "adopt":
        res = pe_run(root, *argv)
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        res = pe_run(root, "cleanup", "--feature=calc")
        assert res.returncode == 0, res.stdout + res.stderr
        assert "adopted into main" in res.stdout, res.stdout  # the branch went by the record it found
    said = [line for line in (res.stdout + res.stderr).splitlines() if "finished the adoption" in line]
    assert len(said) == 1 and "calc-1" in said[0] and into in said[0], res.stdout + res.stderr
    # Adopted once, recorded as an uninterrupted adopt records it.
    assert tip(root, into) == adopted and git(root, "rev-parse", f"{into}^1") == before
    text = (root / "reports/calc/ADOPTED.json").read_text()
    record = json.loads(text)
    assert set(record) == RECORD_KEYS and text == json.dumps(record, indent=2, sort_keys=True) + "\n"
    assert (record["tree"], record["into"], record["mode"], record["commit"], record["previous"],
            record["tree_tip"], record["strategy"], record["agent"], record["forced"]) == \
        ("calc-1", into, mode.removeprefix("--"), adopted, before, tree_tip, "simple", "command", False)
    assert (root / "reports/history.jsonl").read_text() == json.dumps(record, sort_keys=True) + "\n"
    assert not list((root / ".pe" / "adopt").rglob("*.json"))  # nothing left to finish
    again = pe_run(root, "execute", "--feature=calc")
    assert "finished the adoption" not in again.stdout + again.stderr
    assert len((root / "reports/history.jsonl").read_text().splitlines()) == 1


def scratch_worktrees(root: Path) -> list[str]:
    listing = git(root, "worktree", "list", "--porcelain")
    return [line for line in listing.splitlines() if line.startswith("worktree ") and "/.pe/adopt/" in line]


# Where the kill lands: once the first commit is replayed (HEAD moved from the target's tip), or
# inside the first cherry-pick (it writes ORIG_HEAD first, then applies the change, not committed).
PAUSES = {"replayed": ("HEAD", False), "picking": ("ORIG_HEAD", True)}


@pytest.mark.parametrize(("moment", "then"), [("replayed", "adopt"), ("picking", "adopt"), ("replayed", "cleanup")])
def test_a_kill_during_a_rebase_leaves_no_scratch_worktree_after_the_next_command(
        done2: Path, moment: str, then: str) -> None:
    root = done2
    git(root, "branch", "linear", "main")
    before = tip(root, "linear")
    argv = ["adopt", "--feature=calc", "--tree=calc-2", "--rebase", "--into=linear"]
    ref, created = PAUSES[moment]
    kill_there(root, pause_at(root, ref, where="/.pe/adopt/", created=created), *argv)
    assert len(scratch_worktrees(root)) == 1 and tip(root, "linear") == before  # the window, hit

    res = pe_run(root, *argv) if then == "adopt" else pe_run(root, "cleanup", "--feature=calc")
    assert res.returncode == 0, res.stdout + res.stderr
    said = [line for line in res.stderr.splitlines() if "scratch worktree" in line]
    assert len(said) == 1 and said[0].startswith("pe: removed .pe/adopt/calc-2-"), res.stderr
    assert scratch_worktrees(root) == []
    left = root / ".pe" / "adopt"
    assert not left.exists() or [p.name for p in left.iterdir()] == []
    assert "prunable" not in git(root, "worktree", "list", "--porcelain")
    if then == "adopt":
        assert tip(root, "linear") != before and git(root, "rev-list", "--count", "--merges", "linear") == "0"


def test_a_scratch_worktree_with_work_on_no_branch_is_kept(done2: Path) -> None:
    """Someone committed in the scratch worktree after the crash: that commit is on no branch, and stays."""
    root = done2
    git(root, "branch", "linear", "main")
    argv = ["adopt", "--feature=calc", "--tree=calc-2", "--rebase", "--into=linear"]
    kill_there(root, pause_at(root, "HEAD", where="/.pe/adopt/"), *argv)
    [line] = scratch_worktrees(root)
    scratch = Path(line.removeprefix("worktree "))
    (scratch / "notes.txt").write_text("written by hand\n")
    git(scratch, "add", "--", "notes.txt")
    git(scratch, "commit", "--quiet", "-m", "my own work")
    mine = tip(scratch, "HEAD")
    res = pe_run(root, *argv)
    assert res.returncode == 0, res.stdout + res.stderr
    assert [line] == scratch_worktrees(root) and tip(scratch, "HEAD") == mine
    warned = [w for w in res.stderr.splitlines() if str(scratch.relative_to(root)) in w]
    assert len(warned) == 1 and "on no branch" in warned[0], res.stderr


def test_a_journal_whose_ref_never_moved_is_dropped(done2: Path) -> None:
    """pe killed after it wrote its journal, before the git that moves the ref started: nothing happened."""
    root = done2
    before = tip(root, "main")
    kill_there(root, pause_at(root, "refs/heads/main"), "adopt", "--feature=calc", "--tree=calc-1")
    # Put main back where it was, as if that git had never run: the journal names a commit main lacks.
    git(root, "reset", "--quiet", "--keep", before)
    res = pe_run(root, "execute", "--feature=calc")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "finished the adoption" not in res.stdout + res.stderr
    assert "before it had moved main: nothing was adopted" in res.stderr, res.stderr
    assert not (root / "reports/calc/ADOPTED.json").exists() and not (root / "reports/history.jsonl").exists()
    assert tip(root, "main") == before
    assert not list((root / ".pe" / "adopt").rglob("*.json"))
    res = pe_run(root, "adopt", "--feature=calc", "--tree=calc-1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((root / "reports/calc/ADOPTED.json").read_text())["previous"] == before


def test_an_interrupt_while_the_target_moves_is_recorded_at_once(done2: Path) -> None:
    """^C while the git that moves the ref runs: pe lets that git finish (see pe/proc), so the ref
    moves; the record must follow before pe exits 130, not wait for the next command."""
    root = done2
    before = tip(root, "main")
    marker = pause_at(root, "refs/heads/main")
    child = pe_popen(root, "adopt", "--feature=calc", "--tree=calc-1")
    try:
        wait_for(lambda: marker.exists() or child.poll() is not None, timeout=120, what="the pause")
        assert child.poll() is None, child.communicate()[0]
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)  # pe is in its handler by now, waiting for that git
        assert child.poll() is None
        marker.unlink()  # the git pe let finish goes on
        said = child.communicate(timeout=60)[0]
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130, said
    assert "finished the adoption of calc-1 into main" in said, said
    record = json.loads((root / "reports/calc/ADOPTED.json").read_text())
    assert (record["previous"], record["commit"]) == (before, tip(root, "main"))
    assert (root / "reports/history.jsonl").read_text().count("\n") == 1
