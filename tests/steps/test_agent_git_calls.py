"""How many git processes an agent's start and end cost (issue 18): each one, 8 agents at once on
2 cores, is time before the first agent starts or after the last one ends."""

from __future__ import annotations

from pathlib import Path

from tests.support import starts
from tests.support.gitcalls import calls, counted_execute


def test_an_agent_run_asks_where_its_tree_points_once_before_and_once_after(
        repo: Path, tmp_path: Path, agent_log: Path) -> None:
    """Before the agent starts (its .git could be gone or repointed by an earlier one) and before its
    work is committed. It was asked twice before the start, once more to see if the tree needed
    attaching again."""
    log = counted_execute(repo, tmp_path, count=2, jobs=2)
    for tree in ("feat-1", "feat-2"):
        assert starts(agent_log, tree) == 1
        assert calls(log, repo / "trees" / tree, "--absolute-git-dir") == 2, log.read_text()
