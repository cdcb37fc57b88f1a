"""kill -9 of pe compare while its checks run: the next command that takes the lock stops them.

Each check runs in a process group of its own, so the kill cannot take them along. pe
tags what it starts with PE_OWNER (pe/proc claim) once it holds the repository lock, and
the next pe to take it stops what a dead pe left (pe/leftovers.reap_orphans). compare
took no lock, so its checks were never tagged, and ran on (here: for five minutes).
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest

from tests.support import pe, pe_popen, pe_run, wait_for
from tests.support.cycle import make_repo, write_cycle_manifest

HANG = ("import os, sys, time\n"
        "open(os.path.join(sys.argv[1], os.environ['PE_TREE']), 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # an init that does not reap keeps the dead as zombies


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize("then", [["execute", "--feature=calc"], ["compare", "--feature=calc", "--no-checks"]])
def test_checks_a_killed_compare_left_are_stopped_by_the_next_command(tmp_path: Path, then: list[str]) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    write_cycle_manifest(root, count=2, checks={"hang": {"command": ["python", "-c", HANG, str(marks)],
                                                         "timeout": 600}})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    assert pe(root, "compare", "--feature=calc", "--no-checks")[0] == 0  # an earlier, complete report
    reports = root / "reports" / "calc"
    before = {p.name: digest(p) for p in reports.iterdir()}
    compare = pe_popen(root, "compare", "--feature=calc")
    pids: list[int] = []
    try:
        wait_for(lambda: len(list(marks.iterdir())) == 2 and all(p.read_text() for p in marks.iterdir()),
                 timeout=60, what="both checks to start")
        os.kill(compare.pid, signal.SIGKILL)
        compare.wait(30)
        pids = [int(p.read_text()) for p in marks.iterdir()]
        assert all(alive(pid) for pid in pids)  # the window: pe is gone, its checks are not

        # What a later adopt reads is the earlier report, whole: nothing half-written beside it.
        assert {p.name: digest(p) for p in reports.iterdir()} == before

        # What a kill inside a report's atomic write leaves (temp file written, not yet renamed).
        torn = reports / ".evidence.json.k1ll3d.tmp"
        torn.write_text('{"recommended": "cal')

        res = pe_run(root, *then)
        assert res.returncode in (0, 1), res.stdout + res.stderr  # compare --no-checks: 1 (no check passed)
        left = [pid for pid in pids if alive(pid)]
        assert not left, f"checks of the killed compare still run: {left}"
        if then[0] == "compare":
            assert not torn.exists()
    finally:
        for pid in pids:
            if alive(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_a_compare_waits_for_the_lock_or_says_who_holds_it(tmp_path: Path) -> None:
    """compare writes reports, check logs and stamps: one mutating command at a time, like the others."""
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    write_cycle_manifest(root, count=1, checks={"hang": {"command": ["python", "-c", HANG, str(marks)],
                                                         "timeout": 600}})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    first = pe_popen(root, "compare", "--feature=calc")
    try:
        wait_for(lambda: any(marks.iterdir()), timeout=60, what="the check to start")
        res = pe_run(root, "compare", "--feature=calc", "--no-checks")
        assert res.returncode == 3 and "holds" in res.stderr and "pe compare" in res.stderr, res.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)
