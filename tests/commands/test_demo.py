"""pe demo runs the whole cycle offline and shows the contest: a crash resumed, a failing test named,
a bench that decides, cleanup in one line per tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import git, pe_run


def test_demo_runs_the_whole_cycle_offline(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    res = pe_run(tmp_path, "demo", f"--dir={where}", env={"PE_DEMO_DELAY": "0.2"})
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    # One agent dies mid-run; resume runs it again and skips the two that are done.
    assert "FAILED agent:wordfreq-2" in out
    assert out.count("ok     agent:wordfreq-") == 2 and "ok     agent:wordfreq-2" not in out
    evidence = json.loads((where / "reports" / "wordfreq" / "evidence.json").read_text())
    trees = {t["tree"]: t for t in evidence["trees"]}
    assert [trees[f"wordfreq-{i}"]["attempts"] for i in (1, 2, 3)] == [1, 2, 1]
    # One fails a test, named, and is not recommended; the bench decides between the other two.
    assert not trees["wordfreq-3"]["eligible"]
    assert "test_ties_in_alphabetical_order" in trees["wordfreq-3"]["why_not"][0]
    best = evidence["recommended"]
    assert best == "wordfreq-2"
    bench = {name: next(c["metric"] for c in t["checks"] if c["name"] == "bench") for name, t in trees.items()}
    assert bench["wordfreq-2"] * 3 < bench["wordfreq-1"]
    assert "wordfreq-3 (innovative) cannot be recommended: its test check fails " \
           "test_wordfreq.TopWords.test_ties_in_alphabetical_order" in out
    assert "the bench check, " in out and "decided it" in out
    # Cleanup: one line per tree saying what it did.
    assert "wordfreq-1: archived to reports/wordfreq/wordfreq-1/, removed trees/wordfreq-1, deleted branch " \
           "wordfreq-1: in verified bundle reports/wordfreq/wordfreq-1/wordfreq-1.bundle\n" in out
    assert "removed trees/wordfreq-2, deleted branch wordfreq-2: adopted into main\n" in out
    assert "git worktree prune" not in out
    # The adopted implementation is on main and passes its tests there.
    assert git(where, "log", "-1", "--format=%s", "main").startswith(f"wordfreq: adopt {best}")
    test = subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=where, capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    # Every tree is archived (with its agent log, written by the DEMO AGENT) and removed.
    for i in (1, 2, 3):
        archive = where / "reports" / "wordfreq" / f"wordfreq-{i}"
        assert (archive / f"wordfreq-{i}.bundle").exists()
        assert "DEMO AGENT" in (archive / "logs" / "agent.log").read_text()
    log = (where / "reports" / "wordfreq" / "wordfreq-2" / "logs" / "agent.log").read_text()
    assert "dying mid-run" in log and "resuming: PROGRESS.md says" in log
    assert git(where, "worktree", "list").count("\n") == 0
    sources = {t["head"] for t in evidence["trees"]}
    assert len(sources) == 3  # three different implementations were compared


def test_demo_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep")
    res = pe_run(tmp_path, "demo", f"--dir={tmp_path}")
    assert res.returncode == 3
    assert res.stderr == f"pe: error: --dir {tmp_path} is not empty: give a new or empty directory\n"
