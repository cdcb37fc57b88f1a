"""pe demo runs the cycle offline and leaves three working implementations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import pe_run


def test_demo_runs_offline_and_every_implementation_passes_its_tests(tmp_path: Path) -> None:
    where = tmp_path / "demo"
    res = pe_run(tmp_path, "demo", f"--dir={where}", env={"PE_DEMO_DELAY": "0.2"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "DEMO AGENT" in (where / ".pe" / "logs" / "wordfreq-1" / "agent.log").read_text()
    assert res.stdout.count("ok     agent:wordfreq-") == 3  # the resume step found nothing to do
    sources = set()
    for i in (1, 2, 3):
        tree = where / "trees" / f"wordfreq-{i}"
        sources.add((tree / "wordfreq.py").read_text())
        test = subprocess.run([sys.executable, "-m", "unittest", "-q"], cwd=tree, capture_output=True, text=True)
        assert test.returncode == 0, test.stderr
    assert len(sources) == 3  # a different implementation per strategy


def test_demo_refuses_a_non_empty_dir(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("keep")
    res = pe_run(tmp_path, "demo", f"--dir={tmp_path}")
    assert res.returncode == 3
    assert res.stderr == f"pe: error: --dir {tmp_path} is not empty: give a new or empty directory\n"
