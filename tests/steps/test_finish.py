"""finish.wiped: a checkpoint never commits the deletion of most of the branch, judged fast on big trees."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pe.steps import finish
from tests.support import git

FILES = 2000  # past 4 x finish.SAMPLE: the sample decides first


@pytest.fixture
def big_tree(repo: Path) -> Path:
    (repo / "src").mkdir()
    for i in range(FILES):
        (repo / "src" / f"m{i}.py").write_text(f"x = {i}\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "code")
    git(repo, "worktree", "add", "-q", "-b", "t", "--", "trees/t")
    return repo / "trees" / "t"


def _delete(tree: Path, share: float, *, spread: bool = True) -> int:
    names = sorted((tree / "src").iterdir())
    doomed = random.Random(7).sample(names, int(len(names) * share)) if spread else names[:int(len(names) * share)]
    for path in doomed:
        path.unlink()
    return len(doomed)


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3, 0.45])
def test_a_tree_that_lost_less_than_half_its_files_is_committed(big_tree: Path, share: float) -> None:
    _delete(big_tree, share)
    assert finish.wiped(big_tree) is None


@pytest.mark.parametrize("share", [0.55, 0.9, 1.0])
def test_a_tree_that_lost_more_than_half_is_refused_with_the_whole_count(big_tree: Path, share: float) -> None:
    total = len(git(big_tree, "ls-tree", "-r", "--name-only", "HEAD").split())
    gone = _delete(big_tree, share, spread=share < 1.0)
    why = finish.wiped(big_tree)
    assert why is not None and why.startswith(f"pe did not commit: {gone} of the {total} files of the branch")


def test_the_sample_is_drawn_afresh_each_time_so_no_fixed_pattern_of_deletions_escapes_it(
        big_tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent that kept exactly the files a fixed sample looks at would pass it; the draw is random."""
    files = sorted(p.name for p in (big_tree / "src").iterdir())
    kept = set(random.Random(1).sample(files, finish.SAMPLE))
    for name in files:
        if name not in kept:
            (big_tree / "src" / name).unlink()
    draws: list[list[str]] = []
    real = random.sample

    def recorded(population: list[str], k: int) -> list[str]:
        draws.append(picked := real(population, k))
        return picked

    monkeypatch.setattr(finish.random, "sample", recorded)
    assert finish.wiped(big_tree) is not None and finish.wiped(big_tree) is not None
    assert len(draws) == 2 and draws[0] != draws[1]
