"""pe compare's one verdict: --json, evidence.json and the report all carry the same Comparison."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from pe.compare import report, scoring
from pe.compare.checks import CheckResult, Counts
from pe.compare.evidence import TreeEvidence
from pe.config.spec import Feature
from pe.gitfacts import Diffstat
from tests.support import pe
from tests.support.cycle import AGENT, CHECKS, make_repo, write_cycle_manifest

# A `command` agent that is the cycle agent, except that as the judge it first takes
# over a second: long enough that two clocks read around it give different seconds.
SLOW_JUDGE = f"""import os, runpy, sys, time
if os.environ.get("PE_STRATEGY") == "judge":
    time.sleep(1.2)
sys.argv = [{str(AGENT)!r}, *sys.argv[1:]]
runpy.run_path({str(AGENT)!r}, run_name="__main__")
"""


def test_json_output_and_evidence_json_carry_the_same_generated_at(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    agent = tmp_path / "slow_judge.py"
    agent.write_text(SLOW_JUDGE)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"]},
                   agent={"preset": "command", "command": [sys.executable, str(agent), "{prompt_file}"]})
    assert pe(root, "execute", "--feature=calc")[0] == 0

    # The judge runs after evidence.json is written and before --json prints.
    rc, out, err = pe(root, "compare", "--feature=calc", "--json", "--judge=command")
    assert rc == 0, err
    printed = json.loads(out)
    written = json.loads((root / "reports/calc/evidence.json").read_text())
    text = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    assert f"It agrees with {written['recommended']}." in text  # the (slow) judge did run in between
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", printed["generated_at"])
    assert printed["generated_at"] == written["generated_at"]
    assert f"_Generated {written['generated_at']} by `pe compare`" in text
    # One verdict, printed and written alike.
    assert printed == written


def feature(base: str | None) -> Feature:
    return Feature("f", Path("features/f.yaml"), "specs/plan.md", "", base, 3, 1, ())


@pytest.fixture
def found() -> list[TreeEvidence]:
    """f-1 passes; f-2 is faster on the bench but fails a test; f-3's agent failed."""

    def check(status: str, passed: int, failed: int = 0) -> CheckResult:
        return CheckResult("test", "test", status, 0 if status == "passed" else 1, 0.5,
                           Counts(passed + failed, passed, failed, source="junit.xml"), None, "", False,
                           ".pe/checks/test.log", "")

    def bench(value: float) -> CheckResult:
        return CheckResult("bench", "bench", "passed", 0, value, None, value, "s", False, ".pe/b.log", "")

    good = TreeEvidence("f-1", 1, "simple", "command", None, "done", "", base_sha="a" * 40,
                        checks=[check("passed", 3), bench(2.0)], stat=Diffstat(1, 10, 0), agent_time_s=10.0)
    fast_but_wrong = TreeEvidence("f-2", 2, "performance", "command", None, "done", "", base_sha="a" * 40,
                                  checks=[check("failed", 1, 2), bench(0.5)], stat=Diffstat(1, 5, 0),
                                  agent_time_s=20.0)
    unfinished = TreeEvidence("f-3", 3, "innovative", "command", None, "failed", "exit 1", base_sha="a" * 40)
    return [good, fast_but_wrong, unfinished]


def test_rank_returns_the_verdict_and_leaves_the_evidence_alone(found: list[TreeEvidence]) -> None:
    before = [ev.to_json() for ev in found]
    c = scoring.rank(feature("main"), found, generated_at="2026-01-01T00:00:00+0000")

    assert [ev.to_json() for ev in found] == before  # nothing written into the evidence
    assert (c.feature, c.base, c.base_sha, c.generated_at) == ("f", "main", "a" * 40, "2026-01-01T00:00:00+0000")
    assert [s.tree for s in c.trees] == ["f-1", "f-2", "f-3"]
    assert c.recommended is not None and c.recommended.tree == "f-1"
    one, two, three = c.trees
    assert one.eligible and not two.eligible and not three.eligible
    assert two.why_not == ("check test FAILED in 0.50s, 1/3 passed, 2 failed",)
    assert three.score is None and three.why_not == ("its agent has not finished (state: failed)",)
    # f-2 is faster, but the bench bar is set by the trees that pass every check.
    assert c.bench_pool == frozenset({"f-1"}) and one.parts["speed"] == 25.0
    assert c.bench == {"bench": {"f-1": (2.0, 1.0), "f-2": (0.5, 0.25)}}
    with pytest.raises(AttributeError):
        c.generated_at = "later"  # type: ignore[misc]
    with pytest.raises(TypeError):
        one.parts["speed"] = 0.0  # type: ignore[index]


def test_every_renderer_reads_the_same_comparison(found: list[TreeEvidence]) -> None:
    c = scoring.rank(feature(None), found, generated_at="2026-01-01T00:00:00+0000")
    data = report.evidence_json(c)
    assert (data["generated_at"], data["recommended"]) == ("2026-01-01T00:00:00+0000", "f-1")
    assert data["ranking"] == ["f-1", "f-2", "f-3"] and [t["eligible"] for t in data["trees"]] == [True, False, False]
    assert json.loads(report.json_text(c)) == data
    text = report.render_markdown(c)
    assert "_Generated 2026-01-01T00:00:00+0000 by `pe compare`" in text
    assert "Recommended: **f-1** (simple)" in text and "- f-2 (performance): check test FAILED" in text
    lines = report.summary_lines(c, Path("/r/reports/f/IMPLEMENTATION_COMPARISON.md"), Path("/r"))
    assert lines[0].startswith("1. f-1 ") and "NOT eligible: check test FAILED" in lines[1]
    assert lines[-2].startswith("recommended: f-1 (simple), score ")
    assert lines[-1] == "report: reports/f/IMPLEMENTATION_COMPARISON.md"


def test_no_checks_still_ranks_the_finished_trees(tmp_path: Path) -> None:
    # --no-checks used to crash on the first finished tree (no snapshot of its files to compare with).
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks=CHECKS)
    assert pe(root, "execute", "--feature=calc")[0] == 0
    rc, out, err = pe(root, "compare", "--feature=calc", "--no-checks", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["recommended"] == data["ranking"][0] and [t["checks"] for t in data["trees"]] == [[], []]
    assert all(t["score"] is not None and t["eligible"] for t in data["trees"])
