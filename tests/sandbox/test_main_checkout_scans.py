"""How often pe looks at the main checkout around agent runs (issue 18): it costs a `git status`
each time, which on a big repository with a stale index re-hashes every file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import git
from tests.support.gitcalls import calls, counted_execute

pytestmark = pytest.mark.usefixtures("bwrap")


@pytest.mark.parametrize(("sandbox", "looks"), [
    ("bwrap", (0, 0)),  # the main checkout is read-only to the agent: nothing to look for
    ({"mode": "bwrap", "writable": ["notes"]}, (2, 3)),  # unless the manifest opens part of it
    ("none", (2, 3)),  # what the agents changed there is reported
])
def test_the_main_checkout_is_looked_at_only_where_an_agent_could_write_it_and_once_per_batch(
        repo: Path, tmp_path: Path, sandbox: object, looks: tuple[int, int]) -> None:
    """Two agents that start together share one look before; the looks after their ends are one
    or two, as they end together or apart. It was two looks per agent, each a `git status`."""
    (repo / "notes").mkdir()
    (repo / "notes" / "keep.txt").write_text("x\n")
    # Agents that run past guard's REFRESH_AFTER_S, so that the index refresh comes while they run.
    log = counted_execute(repo, tmp_path, {"PE_TEST_SLEEP_1": "1.6", "PE_TEST_SLEEP_2": "1.6"},
                          count=2, jobs=2, sandbox=sandbox)
    assert looks[0] <= calls(log, repo, "status") <= looks[1], log.read_text()
    # The index of the main checkout is refreshed once, where it is looked at at all, and after the
    # first look, in the background: the agents' start never waits for it.
    assert calls(log, repo, "update-index") == (1 if looks[1] else 0), log.read_text()
    main_calls = [line.split(" :: ", 1)[1].split() for line in log.read_text().splitlines()
                  if line.startswith(f"{repo} :: ")]
    if looks[1]:
        first = next(i for i, argv in enumerate(main_calls) if "status" in argv or "update-index" in argv)
        assert "status" in main_calls[first], log.read_text()


def test_a_sandboxed_start_detaches_the_tree_without_a_checkout(repo: Path, tmp_path: Path) -> None:
    """`git checkout --detach` re-read every file of the tree: on 20,000 files, 110-140 ms a tree
    before its agent could start (issue 18). Detaching is one write of HEAD."""
    log = counted_execute(repo, tmp_path, count=2, jobs=2, sandbox="bwrap")
    for tree in ("feat-1", "feat-2"):
        assert calls(log, repo / "trees" / tree, "checkout") == 0, log.read_text()
        assert calls(log, repo / "trees" / tree, "update-ref") == 1, log.read_text()
        assert git(repo / "trees" / tree, "symbolic-ref", "HEAD").strip() == f"refs/heads/{tree}"
