"""Cross-testing (issue 13): each tree's new tests run against the other trees' commits, and a tree
that fails tests its credible peers agree on is not recommended, though the project's tests pass."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import git, pe, write_manifest
from tests.support.candidates import WRITE

FEATURE = "clamp"
STUB = "def clamp(x, lo, hi):\n    raise NotImplementedError\n"
WEAK = "from mod import clamp\n\n\ndef test_weak():\n    assert clamp(-5, 0, 10) == 0\n"
# Subtly wrong and the smallest: it never clamps from above. Its own test misses that.
SUBTLE = "def clamp(x, lo, hi):\n    return max(lo, x)\n"
CORRECT = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
VERBOSE = ("def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n"
           "    return x\n")
BROKEN = "def clamp(x, lo, hi):\n    return hi\n"


def own_test(*asserts: str) -> str:
    return "from mod import clamp\n\n\ndef test_own():\n" + "".join(f"    {a}\n" for a in asserts)


EASY = "assert clamp(5, 0, 10) == 5"
EDGE = "assert clamp(50, 0, 10) == 10"
# index -> (mod.py, {test file: text})
CANDIDATES: dict[str, tuple[str, dict[str, str]]] = {
    "subtle": (SUBTLE, {"tests/test_subtle.py": own_test(EASY)}),
    "correct": (CORRECT, {"tests/test_edge.py": own_test(EASY, EDGE)}),
    "verbose": (VERBOSE, {"tests/test_verbose.py": own_test(EDGE), "tests/--help.py": own_test(EDGE)}),
    # Fails the project's test; its own test says the wrong thing (that clamp returns hi): no weight.
    "broken": (BROKEN, {"tests/test_broken.py": own_test("assert clamp(5, 0, 10) == 10")}),
}
AGENT = """import json, os, sys
plan = json.loads(os.environ["CROSS_PLAN"])[os.environ["PE_INDEX"]]
code, tests = plan
""" + WRITE


def project(tmp_path: Path, order: list[str], monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "specs").mkdir()
    (root / "tools").mkdir()
    (root / "mod.py").write_text(STUB)
    (root / "tests" / "test_weak.py").write_text(WEAK)
    (root / "specs" / "plan.md").write_text("# Plan\n\nImplement clamp(x, lo, hi) in mod.py.\n")
    (root / "tools" / "agent.py").write_text(AGENT)
    (root / ".gitignore").write_text("__pycache__/\n.env\n")
    write_manifest(root, FEATURE, count=len(order), base="main", timeout=60, sandbox="none",
                   setup={"install": "none"}, agent={"preset": "command", "command": ["python", "tools/agent.py"]},
                   checks={"test": {"command": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                "tests"], "timeout": 60}})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    monkeypatch.setenv("CROSS_PLAN", json.dumps({str(i): CANDIDATES[k] for i, k in enumerate(order, 1)}))
    assert pe(root, "execute", f"--feature={FEATURE}", "--plain")[0] == 0
    return root


def evidence(root: Path) -> dict[str, Any]:
    return json.loads((root / "reports" / FEATURE / "evidence.json").read_text())


def test_the_subtly_wrong_tree_is_caught_by_its_peers_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The project's test passes all three; the subtle tree is the smallest change, so without the
    # cross-tests it was recommended.
    root = project(tmp_path, ["subtle", "correct", "verbose"], monkeypatch)
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, err
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    assert all(c["status"] == "passed" for t in trees.values() for c in t["checks"])  # the project's tests
    assert ev["recommended"] == "clamp-2", out  # correct and concise
    assert not trees["clamp-1"]["eligible"]
    assert any("fails clamp-2's tests, which 2 of 3 credible trees pass" in w and "test_own" in w
               for w in trees["clamp-1"]["why_not"]), trees["clamp-1"]["why_not"]

    cross = ev["cross_tests"]
    cells = {(c["source"], c["target"]): c for c in cross["cells"]}
    assert cells[("clamp-2", "clamp-1")]["status"] == "failed"
    assert cells[("clamp-3", "clamp-1")]["status"] == "failed"
    assert cells[("clamp-1", "clamp-2")]["status"] == "passed"  # the subtle tree's easy test passes everywhere
    assert cells[("clamp-2", "clamp-3")]["status"] == "passed"
    assert ("clamp-1", "clamp-1") not in cells
    sources = {s["name"]: s for s in cross["sources"]}
    assert sources["clamp-3"]["files"] == ["tests/--help.py", "tests/test_verbose.py"]  # a name, never an option
    assert sources["clamp-2"]["agreed"] and sources["clamp-1"]["agreed"]
    # Failing peer tests cost the tests part, as failing own tests do.
    assert trees["clamp-1"]["score_parts"]["tests"] < trees["clamp-2"]["score_parts"]["tests"] == 10.0

    report = (root / "reports" / FEATURE / "IMPLEMENTATION_COMPARISON.md").read_text()
    matrix = report[report.index("## Cross-tests"):report.index("## Approaches")]
    row = next(ln for ln in matrix.splitlines() if ln.startswith("| clamp-2"))
    assert [c.strip() for c in row.strip("|").split("|")][:5] == ["clamp-2", "1", "FAIL 1", "(own)", "pass"]
    assert "clamp-1 fails clamp-2's" in matrix
    one = report[report.index("### clamp-1"):report.index("### clamp-2")]
    two = report[report.index("### clamp-2"):report.index("### clamp-3")]
    assert "Measured: fails clamp-2's tests (tests/test_edge.py::test_own)" in one
    assert "Measured: its tests find failures in clamp-1 that the project's checks miss" in two
    assert "peers' tests 0/2" in out and "peers' tests 2/2" in out
    assert "A tree that fails agreed tests is not eligible" in report
    # Its own and the peers' logs are kept apart, and the judged checkouts are gone.
    assert (root / ".pe/checks/clamp-1/.cross/clamp-2/test.log").is_file()
    assert "test_own" in (root / ".pe/checks/clamp-1/.cross/clamp-2/test.log").read_text()
    assert "judged" not in git(root, "worktree", "list")
    # The trees themselves are untouched: no peer's test file landed in them.
    assert not (root / "trees/clamp-1/tests/test_edge.py").exists()
    assert git(root / "trees/clamp-1", "status", "--porcelain") == ""

    # Cleanup archives the cross-test logs with the tree's own; a link planted in a report dir is not taken.
    (root / ".pe/checks/clamp-1/.cross/clamp-2/test").mkdir(exist_ok=True)
    (root / ".pe/checks/clamp-1/.cross/clamp-2/test/junit.xml").symlink_to("/etc/passwd")
    (root / ".pe/checks/clamp-1/test").mkdir(exist_ok=True)
    (root / ".pe/checks/clamp-1/test/junit.xml").symlink_to("/etc/passwd")  # the tree's own report dir too
    rc, _, err = pe(root, "cleanup", f"--feature={FEATURE}", "--tree=clamp-1", "--force")
    assert rc == 0, err
    archived = root / "reports" / FEATURE / "clamp-1" / "checks"
    assert "test_own" in (archived / "cross/clamp-2/test.log").read_text()
    assert (archived / "cross/clamp-3/test.log").is_file()
    assert not (archived / "cross/clamp-2/test/junit.xml").exists() and not (archived / "test/junit.xml").exists()


def test_tests_of_a_tree_that_fails_its_own_checks_carry_no_weight(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, ["correct", "verbose", "broken"], monkeypatch)
    rc, _, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, err
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    sources = {s["name"]: s for s in ev["cross_tests"]["sources"]}
    assert not sources["clamp-3"]["credible"] and "carry no weight" in sources["clamp-3"]["why"]
    assert trees["clamp-1"]["eligible"] and trees["clamp-2"]["eligible"]
    assert trees["clamp-1"]["score_parts"]["tests"] == 10.0  # the broken tree's test was never held against it
    # Nor was the broken tree a target: it is out already.
    assert not any(c["target"] == "clamp-3" or c["source"] == "clamp-3" for c in ev["cross_tests"]["cells"])


def test_between_two_trees_a_one_sided_disagreement_decides(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # One against one is a tie: the subtle tree fails the correct tree's test, and the correct tree
    # passes the subtle tree's. The subtle tree, though smaller, is not recommended.
    root = project(tmp_path, ["subtle", "correct"], monkeypatch)
    rc, _, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, err
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    assert not {s["name"]: s for s in ev["cross_tests"]["sources"]}["clamp-2"]["agreed"]
    assert not trees["clamp-1"]["eligible"] and trees["clamp-2"]["eligible"]
    assert any("while clamp-2 passes every test it wrote" in w for w in trees["clamp-1"]["why_not"])
    assert trees["clamp-1"]["score_parts"]["tests"] == 9.0
    assert ev["recommended"] == "clamp-2"


def test_two_trees_whose_tests_contradict_both_stay_eligible(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # clamp(5, 10, 0), lo above hi: the plan does not say. Each tree's test pins its own answer.
    CANDIDATES["low-first"] = (CORRECT, {"tests/test_a.py": own_test("assert clamp(5, 10, 0) == 10")})
    CANDIDATES["high-first"] = ("def clamp(x, lo, hi):\n    return min(hi, max(x, lo))\n",
                                {"tests/test_b.py": own_test("assert clamp(5, 10, 0) == 0")})
    try:
        root = project(tmp_path, ["low-first", "high-first"], monkeypatch)
    finally:
        del CANDIDATES["low-first"], CANDIDATES["high-first"]
    rc, _, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, err
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    cells = {(c["source"], c["target"]): c["status"] for c in ev["cross_tests"]["cells"]}
    assert cells == {("clamp-1", "clamp-2"): "failed", ("clamp-2", "clamp-1"): "failed"}
    assert trees["clamp-1"]["eligible"] and trees["clamp-2"]["eligible"]
    assert trees["clamp-1"]["score_parts"]["tests"] == trees["clamp-2"]["score_parts"]["tests"] == 9.0


def test_no_cross_tests_skips_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, ["subtle", "correct", "verbose"], monkeypatch)
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--no-cross-tests")
    assert rc == 0, err
    ev = evidence(root)
    assert ev["cross_tests"] is None and ev["recommended"] == "clamp-1"  # the smallest, as before
    assert "with clamp-" not in out


PLAN_AGENT = """import os
os.makedirs("tests", exist_ok=True)
open("tests/test_from_plan.py", "w").write(
    "from mod import clamp\\n\\n\\ndef test_above():\\n    assert clamp(50, 0, 10) == 10\\n")
open("mod.py", "w").write("def clamp(x, lo, hi):\\n    return x\\n")  # not a test: never taken
"""


def test_tests_written_from_the_plan_catch_what_no_tree_tested(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The correct tree wrote no tests; the subtle tree's pass everywhere. Only the plan's tests,
    # written by an agent that saw no implementation, tell the two apart.
    CANDIDATES["quiet"] = (CORRECT, {})
    try:
        root = project(tmp_path, ["subtle", "quiet"], monkeypatch)
    finally:
        del CANDIDATES["quiet"]
    (root / "tools" / "plan_agent.py").write_text(PLAN_AGENT)
    manifest = root / "features" / f"{FEATURE}.yaml"
    manifest.write_text(manifest.read_text() + "plan_tests: {preset: command, command: [python, "
                        + str(root / "tools" / "plan_agent.py") + "]}\n")
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}", "--no-cross-tests")
    assert rc == 3 and "--plan-tests" in err  # its tests run with the cross-tests
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0, err
    assert "plan-tests:command" in out  # its progress lines
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    plan = {s["name"]: s for s in ev["cross_tests"]["sources"]}["plan"]
    assert plan["files"] == ["tests/test_from_plan.py"] and plan["agreed"]
    assert "mod.py" in ev["cross_tests"]["plan"]["ignored"]
    cells = {(c["source"], c["target"]): c["status"] for c in ev["cross_tests"]["cells"]}
    assert cells[("plan", "clamp-1")] == "failed" and cells[("plan", "clamp-2")] == "passed"
    assert ev["recommended"] == "clamp-2"
    copy = root / ev["cross_tests"]["plan"]["copies"] / "tests/test_from_plan.py"
    assert "def test_above" in copy.read_text()
    assert "refs/pe/plan-tests" not in git(root, "for-each-ref")  # its commit kept no longer than compare
    assert any("the plan's tests (written from the plan alone)" in w and "test_above" in w
               for w in trees["clamp-1"]["why_not"]), trees["clamp-1"]["why_not"]
    # The scratch checkout is gone; main and the trees never saw the plan agent's edit.
    assert "judged" not in git(root, "worktree", "list")
    assert (root / "mod.py").read_text() == STUB
    assert git(root / "trees/clamp-2", "status", "--porcelain") == ""
