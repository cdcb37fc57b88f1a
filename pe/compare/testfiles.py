"""Which files are tests, and a set of them to run against other trees: a TestSource.

Cross-testing (pe.compare.crosstest) runs each tree's new or changed test files against every
other tree's judged commit; tests written from the plan (pe.compare.plantests) are one more
source. A source is a commit and the test files to take from it: they are overlaid onto a
target's checkout with `git checkout <commit> -- <files>`, byte for byte, and the target's own
commit is restored after the run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pe import gitfacts

# A directory of these names holds tests (and their fixtures and data).
TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec", "testing"})
# File names that are tests wherever they are.
TEST_NAMES = (
    "test_*.py", "*_test.py", "conftest.py",
    "*_test.go",
    "*.test.js", "*.test.ts", "*.test.jsx", "*.test.tsx", "*.test.mjs", "*.test.cjs",
    "*.spec.js", "*.spec.ts", "*.spec.jsx", "*.spec.tsx", "*.spec.mjs", "*.spec.cjs",
    "*Test.java", "*Tests.java", "*Test.kt", "*_spec.rb", "*_test.rb", "*_test.rs",
)
# pe's own files in a tree are never tests.
_NOT_TESTS = frozenset({"RESULTS.md", "PROGRESS.md"})


def is_test_path(rel: str) -> bool:
    """A repository-relative path that is a test file, or lives in a test directory."""
    parts = PurePosixPath(rel).parts
    if not parts or parts[-1] in _NOT_TESTS or ".." in parts:
        return False
    if any(p in TEST_DIRS for p in parts[:-1]):
        return True
    return any(fnmatch.fnmatchcase(parts[-1], pat) for pat in TEST_NAMES)


def changed_tests(repo: Path, base: str, head: str) -> tuple[str, ...]:
    """The test files `head` adds or changes against `base` (not those it deletes), sorted."""
    names = gitfacts.names(repo, "diff", "--name-only", "--no-renames", "--diff-filter=d", base, head, "--")
    return tuple(sorted(n for n in names if is_test_path(n)))


@dataclass(frozen=True)
class TestSource:
    """Tests to run against other trees: `files` as they are at `commit`.

    `credible`: whether its tests carry weight (a tree's do only when the tree passes its own
    checks); `why` says why not, for the report.
    """

    name: str  # a tree's name, or "plan" for tests written from the plan
    commit: str
    files: tuple[str, ...]
    credible: bool = True
    why: str = ""
