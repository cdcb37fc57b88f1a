"""guard's shared looks: one look serves the runs that end together, and never a run that ended after it began."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pe.tree import guard
from tests.support.repo import git, readme_repo


def _counting(take: Callable[[Path], guard.Snapshot | None]) -> tuple[guard._Shared[guard.Snapshot | None], list[float]]:
    looks: list[float] = []

    def counted(root: Path) -> guard.Snapshot | None:
        looks.append(time.time())
        return take(root)

    return guard._Shared(counted), looks


def test_runs_that_ended_before_a_look_began_share_it_whenever_pe_asks(tmp_path: Path) -> None:
    root = readme_repo(tmp_path / "repo")
    shared, looks = _counting(guard.snapshot)
    first_end = time.time()
    second_end = time.time()
    one = shared.after_run(root, first_end)  # pe noticed the first run's end
    two = shared.after_run(root, second_end)  # and the second one's just after: it ended before the look
    assert len(looks) == 1 and one == two


def test_a_run_that_ended_after_a_look_began_gets_a_look_of_its_own_that_sees_its_writes(tmp_path: Path) -> None:
    """The change an agent makes as its last act must be seen, even if another run's look was a moment ago."""
    root = readme_repo(tmp_path / "repo")
    shared, looks = _counting(guard.snapshot)
    before = shared.before_run(root)
    shared.after_run(root, time.time())  # a sibling run's end
    (root / "README.md").unlink()  # the late agent's last act, then it ends
    late_end = time.time()
    after = shared.after_run(root, late_end)
    assert len(looks) == 3
    assert guard.changes(before, after) == "README.md deleted"


def test_without_an_end_time_the_look_begins_when_pe_asks(tmp_path: Path) -> None:
    """An end file of an older pe has no ended_ts: the old rule, a look that began after pe asked."""
    root = readme_repo(tmp_path / "repo")
    shared, looks = _counting(guard.snapshot)
    shared.after_run(root, None)
    shared.after_run(root, None)
    assert len(looks) == 2


def test_a_look_older_than_reuse_s_is_never_reused(tmp_path: Path) -> None:
    root = readme_repo(tmp_path / "repo")
    shared, looks = _counting(guard.snapshot)
    shared.REUSE_S = 0.0
    ended = time.time()
    shared.after_run(root, ended)
    time.sleep(0.01)
    shared.after_run(root, ended)
    assert len(looks) == 2


def test_the_shared_git_state_leaves_out_only_the_feature_branches(tmp_path: Path) -> None:
    root = readme_repo(tmp_path / "repo")
    for branch in ("feat-1", "feat-2", "other"):
        git(root, "branch", branch)
    own = frozenset({"feat-1", "feat-2"})
    before = guard.git_before(root, own)
    assert before is not None
    names = {name for kind, name, _ in before.entries if kind == "ref"}
    assert {"refs/heads/other", "refs/heads/main"} <= names
    assert not names & {"refs/heads/feat-1", "refs/heads/feat-2"}
    (root / ".git" / "hooks").mkdir(exist_ok=True)
    (root / ".git" / "hooks" / "post-checkout").write_text("#!/bin/sh\necho planted\n")
    git(root, "branch", "-f", "other", "HEAD")  # not moved: the same commit
    after = guard.git_after(root, own, time.time())
    assert guard.git_changes(before, after) == ".git/hooks/post-checkout created"
