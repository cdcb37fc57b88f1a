"""A tree's setup as status shows it: "not set up" while nothing runs, "setting up" while it does (issue 17)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support import kill_group, pe, pe_popen, wait_for, write_manifest


def _states(root: Path) -> dict[str, tuple[str, str]]:
    rc, out, err = pe(root, "status", "--json")
    assert rc == 0, err
    return {r["tree"]: (r["state"], r["detail"]) for r in json.loads(out)}


def test_a_worktree_nobody_set_up_is_not_set_up(repo: Path) -> None:
    write_manifest(repo, count=2, setup={"install": "none"})
    assert pe(repo, "doit", "run", "worktree:feat-1")[0] == 0
    states = _states(repo)
    assert states["feat-1"][0] == "not set up" and "pe init" in states["feat-1"][1]
    assert states["feat-2"][0] == "pending"
    # A setup changed since it ran: not set up again, and not "setting up" either.
    assert pe(repo, "init", "--feature=feat")[0] == 0
    assert _states(repo)["feat-1"][0] == "ready"
    write_manifest(repo, count=2, setup={"install": "none", "env": {"X": "1"}})
    state, detail = _states(repo)["feat-1"]
    assert state == "not set up" and "changed" in detail


def test_setting_up_while_setup_runs(repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    started = tmp_path / "started"
    wait = (f"import pathlib, time; pathlib.Path({str(started)!r}).touch()\n"
            f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)")
    write_manifest(repo, count=1, setup={"install": [sys.executable, "-c", wait]})
    proc = pe_popen(repo, "init", "--feature=feat")
    try:
        wait_for(started.exists, what="setup's install to start")
        assert _states(repo)["feat-1"][0] == "setting up"
    finally:
        gate.touch()
        try:
            assert proc.wait(timeout=60) == 0
        finally:
            kill_group(proc.pid) if proc.poll() is None else None
    assert _states(repo)["feat-1"][0] == "ready"
