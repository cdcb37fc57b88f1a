"""pe demo runs the whole cycle offline: init, execute, resume, status, compare, adopt, cleanup."""

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
    assert res.stdout.count("ok     agent:wordfreq-") == 3  # the resume step found nothing to do
    evidence = json.loads((where / "reports" / "wordfreq" / "evidence.json").read_text())
    best = evidence["recommended"]
    assert best in {"wordfreq-1", "wordfreq-2", "wordfreq-3"}
    # The adopted implementation is on main and passes its tests there.
    assert git(where, "log", "-1", "--format=%s", "main").startswith(f"wordfreq: adopt {best}")
    test = subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=where, capture_output=True, text=True)
    assert test.returncode == 0, test.stderr
    # Every tree is archived (with its agent log, written by the DEMO AGENT) and removed.
    for i in (1, 2, 3):
        archive = where / "reports" / "wordfreq" / f"wordfreq-{i}"
        assert (archive / f"wordfreq-{i}.bundle").exists()
        assert "DEMO AGENT" in (archive / "logs" / "agent.log").read_text()
    assert git(where, "worktree", "list").count("\n") == 0
    sources = {t["head"] for t in evidence["trees"]}
    assert len(sources) == 3  # three different implementations were compared


def test_demo_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep")
    res = pe_run(tmp_path, "demo", f"--dir={tmp_path}")
    assert res.returncode == 3
    assert res.stderr == f"pe: error: --dir {tmp_path} is not empty: give a new or empty directory\n"
