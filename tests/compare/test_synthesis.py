"""pe synthesize (issue 15): one more tree from the recommended one's tip, kept only if it beats every original."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import git, pe, pe_popen, wait_for, write_manifest
from tests.support.candidates import WRITE

FEATURE = "clamp"
STUB = "COST = 100\n\n\ndef clamp(x, lo, hi):\n    raise NotImplementedError\n"
WEAK = "from mod import clamp\n\n\ndef test_weak():\n    assert clamp(-5, 0, 10) == 0\n"
BENCH = "import mod\n\nprint(f'time: {mod.COST}')\n"  # the bench's figure is the module's COST: no timing noise


def module(body: str, cost: int) -> str:
    return f"COST = {cost}\n\n\n{body}"


CORRECT = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
VERBOSE = ("def clamp(x, lo, hi):\n    if x < lo:\n        return lo\n    if x > hi:\n        return hi\n"
           "    return x\n")
SUBTLE = "def clamp(x, lo, hi):\n    return max(lo, x)\n"
EDGE = "from mod import clamp\n\n\ndef test_edge():\n    assert clamp(50, 0, 10) == 10\n"
# index -> (mod.py, {test file: text}); "synthesis" is what the synthesis agent writes.
PLANS: dict[str, Any] = {
    "1": (module(CORRECT, 5), {"tests/test_edge.py": EDGE}),
    "2": (module(VERBOSE, 3), {"tests/test_verbose.py": EDGE.replace("test_edge", "test_verbose")}),
}
AGENT = """import json, os, sys, time
prompt = open(sys.argv[1]).read()
key = "synthesis" if os.environ["PE_STRATEGY"] == "synthesis" else os.environ["PE_INDEX"]
marks = os.environ.get("MARKS")
if marks:
    with open(os.path.join(marks, "starts.log"), "a") as fh:
        fh.write(os.environ["PE_TREE"] + "\\n")
if key == "synthesis":
    open(os.path.join(marks, "synthesis-prompt.md"), "w").write(prompt)
    time.sleep(float(os.environ.get("SYNTH_SLEEP", "0")))
code, tests = json.loads(os.environ["PLANS"])[key]
""" + WRITE


@pytest.fixture
def compared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    for d in ("tests", "specs", "tools"):
        (root / d).mkdir(parents=True)
    (root / "mod.py").write_text(STUB)
    (root / "bench.py").write_text(BENCH)
    (root / "tests" / "test_weak.py").write_text(WEAK)
    (root / "specs" / "plan.md").write_text("# Plan\n\nImplement clamp(x, lo, hi) in mod.py, fast.\n")
    (root / "tools" / "agent.py").write_text(AGENT)
    (root / ".gitignore").write_text("__pycache__/\n.env\n")
    py = sys.executable
    write_manifest(root, FEATURE, count=2, base="main", timeout=60, sandbox="none", setup={"install": "none"},
                   agent={"preset": "command", "command": ["python", "tools/agent.py", "{prompt_file}"]},
                   checks={"test": {"command": [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"]},
                           "bench": {"command": [py, "bench.py"], "metric": "time: ([0-9.]+)"}})
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("MARKS", str(marks))
    monkeypatch.setenv("PLANS", json.dumps({**PLANS, "synthesis": (module(CORRECT, 1), {})}))
    assert pe(root, "execute", f"--feature={FEATURE}", "--plain")[0] == 0
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0 and "recommended: clamp-2" in out, out + err  # faster (3 against 5)
    return root


def evidence(root: Path) -> dict[str, Any]:
    return json.loads((root / "reports" / FEATURE / "evidence.json").read_text())


def starts(root: Path) -> list[str]:
    return (Path(os.environ["MARKS"]) / "starts.log").read_text().split()


def test_a_faster_synthesis_that_passes_everything_is_recommended(compared: Path) -> None:
    root = compared
    base_tip = git(root, "rev-parse", "refs/heads/clamp-2")
    mf = root / "features" / f"{FEATURE}.yaml"
    mf.write_text(mf.read_text() + "# checks to add later: lint\n")
    rc, out, err = pe(root, "synthesize", f"--feature={FEATURE}")
    assert rc == 0, out + err
    assert "clamp-s1: from clamp-2" in out and "recommended: clamp-s1" in out
    # Its branch starts from the base tree's tip; its diff still counts from the feature's base.
    assert git(root, "merge-base", "--is-ancestor", base_tip, "refs/heads/clamp-s1") == ""
    ev = evidence(root)
    trees = {t["tree"]: t for t in ev["trees"]}
    assert trees["clamp-s1"]["eligible"] and trees["clamp-s1"]["synthesis_of"] == ["clamp-1"]
    assert trees["clamp-s1"]["base_sha"] == trees["clamp-1"]["base_sha"]
    assert ev["recommended"] == "clamp-s1" and "above every original" in ev["synthesis"]
    # The agent was told the plan, the report, the other tree's diff and where it was measured better.
    prompt = (Path(os.environ["MARKS"]) / "synthesis-prompt.md").read_text()
    assert "Implement clamp(x, lo, hi)" in prompt and "# Implementation comparison: clamp" in prompt
    assert "diff --git a/mod.py b/mod.py" in prompt and "+    return max(lo, min(x, hi))" in prompt
    assert "## clamp-1 (simple)" in prompt and "Keep clamp-2's design" in prompt
    # It is one more tree: status lists it, the manifest records it, and cleanup archives it.
    rc, out, _ = pe(root, "status", f"--feature={FEATURE}")
    assert "clamp-s1" in out and "synthesis" in out
    assert "base_tree: clamp-2" in mf.read_text() and "# checks to add later: lint" in mf.read_text()
    rc, out, err = pe(root, "cleanup", f"--feature={FEATURE}", "--force")
    assert rc == 0, out + err
    archive = root / "reports" / FEATURE / "clamp-s1"
    assert (archive / "clamp-s1.bundle").is_file() and (archive / "RESULTS.md").is_file()
    assert "clamp-s1" not in git(root, "worktree", "list")


def test_a_synthesis_that_fails_a_cross_test_is_not_recommended(compared: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Fast, and its own checks pass (it rewrote the edge test it inherited from clamp-2 into an easy
    # one), but it lost the edge case: clamp-1's tests, which clamp-2 passes too, catch it.
    easy = "from mod import clamp\n\n\ndef test_verbose():\n    assert clamp(5, 0, 10) == 5\n"
    monkeypatch.setenv("PLANS", json.dumps({**PLANS, "synthesis": (module(SUBTLE, 1), {"tests/test_verbose.py": easy})}))
    rc, out, err = pe(compared, "synthesize", f"--feature={FEATURE}")
    assert rc == 0, out + err  # a tree is recommended: the best original
    ev = evidence(compared)
    trees = {t["tree"]: t for t in ev["trees"]}
    assert ev["recommended"] == "clamp-2" and not trees["clamp-s1"]["eligible"]
    assert all(c["status"] == "passed" for c in trees["clamp-s1"]["checks"])  # its own checks pass
    cells = {(c["source"], c["target"]): c["status"] for c in ev["cross_tests"]["cells"]}
    assert cells[("clamp-1", "clamp-s1")] == "failed" and cells[("clamp-1", "clamp-2")] == "passed"
    assert "clamp-s1, the synthesis, is not recommended" in ev["synthesis"] and "tests" in ev["synthesis"]
    report = (compared / "reports" / FEATURE / "IMPLEMENTATION_COMPARISON.md").read_text()
    assert "clamp-s1, the synthesis, is not recommended: fails clamp-1's tests" in report


def test_a_synthesis_that_does_not_score_above_every_original_says_what_it_lost_on(
        compared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Correct, but no faster than the base tree and a bigger change: the recommendation stays.
    monkeypatch.setenv("PLANS", json.dumps({**PLANS, "synthesis": (module(VERBOSE + "\n\n# more\n", 3), {})}))
    rc, out, err = pe(compared, "synthesize", f"--feature={FEATURE}")
    assert rc == 0, out + err
    ev = evidence(compared)
    assert ev["recommended"] == "clamp-2", ev["synthesis"]
    assert "not above clamp-2's" in ev["synthesis"] and "lost on size" in ev["synthesis"]
    assert [t for t in ev["ranking"]][:1] == ["clamp-2"]


def test_kill_9_during_the_synthesis_agent_then_resume_finishes_it(compared: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    root = compared
    child = pe_popen(root, "synthesize", f"--feature={FEATURE}", env={"SYNTH_SLEEP": "3"})
    wait_for(lambda: starts(root).count("clamp-s1") == 1, timeout=60, what="the synthesis agent to start")
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    rc, out, err = pe(root, "resume", f"--feature={FEATURE}", "--plain")
    assert rc == 0, out + err
    assert starts(root).count("clamp-s1") == 1  # picked up where it ran, never started again
    assert starts(root).count("clamp-1") == starts(root).count("clamp-2") == 1
    assert "+    return max(lo, min(x, hi))" in git(root, "show", "refs/heads/clamp-s1", "--", "mod.py")
    rc, out, err = pe(root, "compare", f"--feature={FEATURE}")
    assert rc == 0 and "recommended: clamp-s1" in out, out + err


@pytest.mark.parametrize("case", ["no-compare", "moved", "one-eligible"])
def test_synthesize_refuses_in_one_line(compared: Path, case: str) -> None:
    root = compared
    if case == "no-compare":
        (root / "reports" / FEATURE / "evidence.json").unlink()
        expected = "no comparison of clamp yet: run pe compare --feature=clamp first"
    elif case == "moved":
        (root / "trees" / "clamp-1" / "extra.py").write_text("x = 1\n")
        git(root / "trees" / "clamp-1", "add", "extra.py")
        git(root / "trees" / "clamp-1", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "more")
        expected = "the comparison is out of date: clamp-1's branch moved since it was judged"
    else:
        (root / "trees" / "clamp-1" / "mod.py").write_text(module(SUBTLE, 5))
        git(root / "trees" / "clamp-1", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "subtle")
        assert pe(root, "compare", f"--feature={FEATURE}")[0] == 0
        expected = "a synthesis needs at least two eligible trees; the last comparison has 1 (clamp-2)"
    manifest_before = (root / "features" / f"{FEATURE}.yaml").read_text()
    rc, _, err = pe(root, "synthesize", f"--feature={FEATURE}")
    assert rc == 3 and expected in err and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and not (root / "trees" / "clamp-s1").exists()
    assert (root / "features" / f"{FEATURE}.yaml").read_text() == manifest_before  # nothing half done
