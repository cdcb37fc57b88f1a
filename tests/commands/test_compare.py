"""pe compare on real trees: one fails its tests, one is slower on the bench, one adds a dependency."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pe.compare.checks import parse_junit, parse_summary
from tests.support import pe, wait_for
from tests.support.cycle import CHECKS, make_repo, write_cycle_manifest

PROBE = """import os, sys, time
from pathlib import Path
Path(os.environ["PE_REPORT_DIR"], "env.txt").write_text(
    f"{os.environ['PE_TREE']} {os.environ.get('PE_PORT', '')} {os.environ['PE_CHECK']}")
if os.environ["PE_TREE"].endswith("-2"):
    Path(sys.argv[1]).write_text(str(os.getpid()))
    time.sleep(60)
"""


@pytest.fixture
def three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """calc-1 breaks a test, calc-2 is exponential (slow bench), calc-3 adds a dependency."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, checks=CHECKS)
    monkeypatch.setenv("CYCLE_VARIANT_1", "broken")
    monkeypatch.setenv("CYCLE_VARIANT_2", "slow")
    monkeypatch.setenv("CYCLE_VARIANT_3", "dep")
    assert pe(root, "execute", "--feature=calc")[0] == 0
    return root


def section(report: str, title: str) -> str:
    start = report.index(f"\n## {title}\n")
    end = report.find("\n## ", start + 1)
    return report[start:end if end != -1 else None]


def test_the_report_says_which_fails_which_is_slow_which_adds_a_dependency(three: Path) -> None:
    root = three
    rc, out, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    assert "recommended: calc-3 (extensible)" in out and "calc-1" in out and "NOT eligible" in out
    report = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    for title in ("Summary", "Metrics", "Approaches", "Performance considerations", "Recommendation",
                  "Scoring rule"):
        assert f"\n## {title}\n" in report
    summary = section(report, "Summary")
    assert "Recommended: **calc-3**" in summary
    assert "calc-1 (simple) is not recommended: check test" in summary

    approaches = section(report, "Approaches")
    one = approaches[approaches.index("### calc-1"):approaches.index("### calc-2")]
    two = approaches[approaches.index("### calc-2"):approaches.index("### calc-3")]
    three_ = approaches[approaches.index("### calc-3"):]
    # Failing tests, with the counts read from the JUnit report.
    assert "Measured: check test FAILED" in one and "1/3 passed, 2 failed" in one
    # Slower on the bench, against the eligible best.
    assert "slower than calc-3 on bench" in two
    # The new dependency, by name and file.
    assert "Measured: adds dependencies: requests (requirements.txt)" in three_
    assert "Measured: adds no dependency." in two
    # Pros and cons quoted from RESULTS.md are labelled as such.
    assert 'From RESULTS.md (Trade-offs Made): "Risk: exponential time"' in two
    assert "> A slow fib for the performance strategy." in two

    rec = section(report, "Recommendation")
    assert "**calc-3** (extensible strategy)" in rec and "pe adopt --feature=calc --tree=calc-3" in rec
    assert "- calc-1 (simple): check test FAILED" in rec
    assert "40  checks" in section(report, "Scoring rule")
    metrics = section(report, "Metrics")
    assert "(not eligible)" in metrics and "requests" in metrics

    evidence = json.loads((root / "reports/calc/evidence.json").read_text())
    assert evidence["recommended"] == "calc-3" and evidence["ranking"][-1] == "calc-1"
    trees = {t["tree"]: t for t in evidence["trees"]}
    test1 = next(c for c in trees["calc-1"]["checks"] if c["name"] == "test")
    assert test1["counts"]["failed"] == 2 and test1["counts"]["source"] == "junit.xml"
    assert trees["calc-3"]["new_dependencies"] == [{"name": "requests", "file": "requirements.txt"}]
    bench = {t: next(c for c in trees[t]["checks"] if c["name"] == "bench")["metric"] for t in trees}
    assert bench["calc-2"] > 10 * bench["calc-3"]
    # Checks ran without leaving anything in the trees that cleanup would have to refuse.
    for i in (1, 2, 3):
        assert not (root / f"trees/calc-{i}/junit.xml").exists()


def test_no_tree_passes_so_none_is_recommended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks=CHECKS)
    monkeypatch.setenv("CYCLE_VARIANT", "broken")
    assert pe(root, "execute", "--feature=calc")[0] == 0
    rc, out, _ = pe(root, "compare", "--feature=calc", "--json")
    assert rc == 1
    data = json.loads(out)
    assert data["recommended"] is None and all(not t["eligible"] for t in data["trees"])
    report = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    rec = section(report, "Recommendation")
    assert "**No tree is recommended.**" in rec and "NOT recommended: check test FAILED" in rec


def test_checks_get_the_trees_env_and_a_timeout_that_kills_the_group(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (tmp_path / "probe.py").write_text(PROBE)
    pidfile = tmp_path / "sleeper.pid"
    checks = {"probe": {"command": ["python", str(tmp_path / "probe.py"), str(pidfile)], "timeout": 2}}
    write_cycle_manifest(root, count=2, checks=checks, setup={"install": "none", "ports": {"per_tree": 1}})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    rc, out, _ = pe(root, "compare", "--feature=calc", "--json")
    trees = {t["tree"]: t for t in json.loads(out)["trees"]}
    probe1, probe2 = (trees[f"calc-{i}"]["checks"][0] for i in (1, 2))
    assert probe1["status"] == "passed" and probe2["status"] == "timeout"
    assert 1.5 < probe2["duration_s"] < 20
    env1 = (root / ".pe/checks/calc-1/probe/env.txt").read_text().split()
    assert env1[0] == "calc-1" and env1[1].isdigit() and env1[2] == "probe"  # the tree's own port
    pid = int(pidfile.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"

    wait_for(gone, timeout=10, what="the timed-out check to be killed")
    assert rc == 0 and json.loads(out)["recommended"] == "calc-1"


def test_judge_writes_its_own_section_and_the_graph_task_writes_the_report(three: Path) -> None:
    root = three
    rc, _, err = pe(root, "compare", "--feature=calc", "--judge=command")
    assert rc == 0, err
    report = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    judge = section(report, "Judge's narrative (command)")
    assert "It agrees with calc-3." in judge and "follows the printed scoring rule" in judge
    assert report.index("## Recommendation") < report.index("## Judge's narrative")
    rc, _, err = pe(root, "compare", "--feature=calc", "--judge=nosuch")
    assert rc == 3 and "unknown agent preset" in err
    (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").unlink()
    assert pe(root, "doit", "run", "compare:calc")[0] == 0  # the compare:<feature> task of the graph
    assert "Recommended: **calc-3**" in (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()


def test_report_parsers(tmp_path: Path) -> None:
    assert parse_summary("....F\n=== 4 passed, 1 failed, 2 skipped in 0.31s ===").describe() == \
        "4/7 passed, 1 failed, 2 skipped"
    assert parse_summary("3 passed in 0.01s").passed == 3
    ut = parse_summary("...\nRan 5 tests in 0.002s\n\nFAILED (failures=1, errors=1)\n")
    assert ut is not None and (ut.total, ut.passed, ut.failed, ut.errors) == (5, 3, 1, 1)
    assert parse_summary("Ran 2 tests in 0.1s\n\nOK\n").passed == 2
    assert parse_summary("nothing to see") is None
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuites><testsuite tests="4" failures="1" errors="0" skipped="1"/>'
                   '<testsuite tests="2" failures="0" errors="1" skipped="0"/></testsuites>')
    c = parse_junit(xml)
    assert c is not None and (c.total, c.passed, c.failed, c.errors, c.skipped) == (6, 3, 1, 1, 1)
    xml.write_text("<not xml")
    assert parse_junit(xml) is None


def test_bad_check_config_is_one_line(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1, checks={"Bad Name": ["x"]})
    rc, _, err = pe(root, "compare", "--feature=calc")
    assert rc == 3 and err.count("\n") == 1 and "features/calc.yaml" in err and "checks" in err
    write_cycle_manifest(root, count=1, checks={"test": {"command": ["x"], "kind": "fast"}})
    rc, _, err = pe(root, "compare", "--feature=calc")
    assert rc == 3 and "checks.test" in err
