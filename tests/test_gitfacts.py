"""gitfacts: one `git status` per tree, and commit facts cached by the commit pair."""

from __future__ import annotations

from pathlib import Path

from pe import gitfacts
from tests.support import git


def _commit(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text)
    git(root, "add", "--", name)
    git(root, "commit", "--quiet", "-m", f"add {name}")
    return git(root, "rev-parse", "HEAD")


def test_scan_reads_head_branch_and_every_kind_of_entry(repo: Path) -> None:
    (repo / ".gitignore").write_text("build/\n")
    _commit(repo, "a.txt", "a\n")
    _commit(repo, "old name.txt", "moved\n")
    git(repo, "mv", "--", "old name.txt", "new name.txt")  # a staged rename: two paths in one entry
    (repo / "a.txt").write_text("changed\n")
    (repo / "README.md").unlink()
    (repo / "with space.md").write_text("new\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.bin").write_text("x")

    found = gitfacts.scan(repo, ignored=True)

    assert found.head == git(repo, "rev-parse", "HEAD")
    assert found.branch == "main"
    assert set(found.entries) == {
        ("R ", "new name.txt"), (" M", "a.txt"), (" D", "README.md"), ("??", ".gitignore"),
        ("??", "with space.md"), ("!!", "build/"),
    }
    # Without ignored=True, the ignored directory is not listed; the v1 spelling stays.
    assert ("!!", "build/") not in gitfacts.status_entries(repo)
    assert (" M", "a.txt") in gitfacts.status_entries(repo)


def test_scan_of_a_detached_head_and_of_a_repository_without_commits(repo: Path, tmp_path: Path) -> None:
    git(repo, "checkout", "--quiet", "--detach")
    detached = gitfacts.scan(repo)
    assert detached.branch is None and detached.head == git(repo, "rev-parse", "HEAD")

    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "--quiet")
    unborn = gitfacts.scan(empty)
    assert unborn.head is None and unborn.branch == "main" and unborn.entries == ()


def test_tree_facts_count_the_committed_change_and_cache_it_by_commit_pair(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    cache = tmp_path / "cache"
    # At the base: nothing to ask git beyond the status, and nothing cached.
    assert gitfacts.tree_facts(repo, base, cache).commits_ahead == 0
    assert not cache.exists()

    _commit(repo, "impl.py", "one\ntwo\n")
    head = _commit(repo, "RESULTS.md", "bookkeeping, not part of the change\n")
    (repo / "scratch.txt").write_text("uncommitted\n")
    facts = gitfacts.tree_facts(repo, base, cache)
    assert (facts.commits_ahead, facts.files_changed, facts.insertions, facts.deletions) == (2, 1, 2, 0)
    assert facts.uncommitted == 1 and facts.head == head and facts.last_commit_at is not None
    assert (cache / f"{base}-{head}.json").is_file()

    # The cached entry is what answers next time: a wrong figure planted in it shows.
    (cache / f"{base}-{head}.json").write_text('{"commits": 7, "last": 1.0, "diffstat": [3, 4, 5]}')
    again = gitfacts.tree_facts(repo, base, cache)
    assert (again.commits_ahead, again.files_changed, again.insertions, again.deletions) == (7, 3, 4, 5)

    # A torn or foreign entry is a miss, recomputed and rewritten.
    (cache / f"{base}-{head}.json").write_text('{"commits": ')
    assert gitfacts.tree_facts(repo, base, cache).commits_ahead == 2
    (cache / f"{base}-{head}.json").write_text('{"something": "else"}')
    assert gitfacts.tree_facts(repo, base, cache).files_changed == 1


def test_tree_facts_without_a_writable_cache_still_answer(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    _commit(repo, "impl.py", "x\n")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    facts = gitfacts.tree_facts(repo, base, blocked / "cache")
    assert facts.commits_ahead == 1 and facts.error is None


def test_tree_facts_report_git_failures_as_an_error_not_an_exception(repo: Path) -> None:
    facts = gitfacts.tree_facts(repo, "0" * 40)
    assert facts.error is not None and "git" in facts.error and facts.commits_ahead is None


def test_tree_facts_on_hand_need_a_scan_and_the_commit_facts_cached(repo: Path, tmp_path: Path) -> None:
    base = git(repo, "rev-parse", "HEAD")
    cache = tmp_path / "cache"
    _commit(repo, "impl.py", "x\n")
    scanned = gitfacts.scan(repo)
    assert gitfacts.tree_facts_on_hand(repo, base, cache, None) is None  # no scan: git needed
    assert gitfacts.tree_facts_on_hand(repo, base, cache, scanned) is None  # not cached yet
    asked = gitfacts.tree_facts(repo, base, cache, scanned)
    assert gitfacts.tree_facts_on_hand(repo, base, cache, scanned) == asked
    assert gitfacts.tree_facts_on_hand(tmp_path, base, cache, None) == gitfacts.TreeFacts()  # not a checkout


def test_learn_committed_caches_what_the_table_after_a_run_asks_and_never_fails(repo: Path, tmp_path: Path) -> None:
    """finish learns each tree's commit facts as it checkpoints, so the table after the last agent
    needs only the trees' `git status` (issue 18)."""
    base = git(repo, "rev-parse", "HEAD")
    cache = tmp_path / "cache"
    _commit(repo, "impl.py", "x\n")
    head = git(repo, "rev-parse", "HEAD")
    scanned = gitfacts.scan(repo)
    gitfacts.learn_committed(repo, base, head, cache)
    learned = gitfacts.tree_facts_on_hand(repo, base, cache, scanned)
    assert learned is not None and learned.commits_ahead == 1 and learned.files_changed == 1
    gitfacts.learn_committed(repo, "0" * 40, head, cache)  # a base git does not know: nothing, no error
    gitfacts.learn_committed(repo, base, head, tmp_path / "file" / "under")  # nowhere to write: nothing
