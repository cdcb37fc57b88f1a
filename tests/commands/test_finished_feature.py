"""A finished feature shows as finished: after adopt and cleanup, status says adopted and archived,
recover advises nothing; and a running agent is left to `pe wait`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.commands.test_recover import commands, findings
from tests.support import git, kill_group, pe, pe_popen, wait_for
from tests.support.cycle import agents_killed_after, executed, make_repo, write_cycle_manifest


def status_rows(root: Path) -> dict[str, dict]:
    rc, out, err = pe(root, "status", "--feature=calc", "--json")
    assert rc == 0, err
    return {r["tree"]: r for r in json.loads(out)}


def test_adopted_and_cleaned_up_reads_as_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch)
    assert pe(root, "adopt", "--feature=calc", "--tree=calc-2")[0] == 0
    adopted = json.loads((root / "reports/calc/ADOPTED.json").read_text())

    # Adopted, not cleaned up yet: the trees are still there and done; what is left is cleanup.
    rows = status_rows(root)
    assert {t: r["state"] for t, r in rows.items()} == {"calc-1": "done", "calc-2": "done", "calc-3": "done"}
    assert [t for t, r in rows.items() if r["adopted"]] == ["calc-2"]
    assert rows["calc-1"]["adoption"]["tree"] == "calc-2" and rows["calc-1"]["archive"] is None
    rc, out, _ = pe(root, "recover", "--feature=calc")
    assert rc == 0 and set(findings(out).values()) == {"done"}
    assert {commands(out, f"calc-{i}")[0] for i in (1, 2, 3)} == {"pe cleanup --feature=calc"}, out

    # calc-3 keeps its branch; the others go.
    assert pe(root, "cleanup", "--feature=calc", "--tree=calc-3", "--keep-branches")[0] == 0
    assert pe(root, "cleanup", "--feature=calc", "--tree=calc-1,calc-2")[0] == 0
    assert git(root, "branch", "--list", "calc-*").split() == ["calc-3"]

    rows = status_rows(root)
    assert {t: r["state"] for t, r in rows.items()} == {"calc-1": "archived", "calc-2": "archived",
                                                        "calc-3": "archived"}
    for tree, row in rows.items():
        assert row["archive"] and row["archive"].startswith("reports/calc/") and (root / row["archive"]).is_dir()
        assert tree in row["archive"]
        assert row["adoption"] == {"tree": "calc-2", "into": "main", "mode": "squash", "commit": adopted["commit"],
                                   "at": adopted["at"], "forced": False}
    assert [t for t, r in rows.items() if r["adopted"]] == ["calc-2"]
    assert "adopted into main" in rows["calc-2"]["detail"]
    rc, table, _ = pe(root, "status", "--feature=calc")
    assert "pending" not in table and "archived" in table
    assert f"calc: finished: calc-2 adopted into main (squash) at {adopted['at']}" in table
    assert "3 trees archived in reports/calc/" in table

    rc, out, err = pe(root, "recover", "--feature=calc")
    assert rc == 0, err
    assert findings(out) == {"calc-1": "archived", "calc-2": "archived", "calc-3": "archived"}, out
    assert "$ " not in out and "pe execute" not in out  # nothing to run
    assert "calc is finished" in out
    report = (root / "reports/calc/RECOVERY.md").read_text()
    assert "pe execute" not in report and "Nothing to do" in report and "branch calc-3" in report


def test_recover_leaves_a_running_agent_to_pe_wait(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    write_cycle_manifest(root, count=1)
    proc = pe_popen(root, "execute", "--feature=calc", env={"CYCLE_MARKS": str(marks), "CYCLE_MODE": "hang"})
    with agents_killed_after(marks):
        try:
            wait_for(lambda: (marks / "started-calc-1").exists(), what="calc-1's agent to start working")
            rc, out, err = pe(root, "recover", "--feature=calc")
        finally:
            kill_group(proc.pid)
            proc.wait(timeout=30)
    assert rc == 0, err
    assert findings(out) == {"calc-1": "running"}, out
    cmds = commands(out, "calc-1")
    assert cmds[0] == "pe wait --feature=calc", out
    assert "picks" in out and "nothing to recover" in out
