"""Disk full during execute: the repository's state dir (.pe/) on a small tmpfs, filled up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import git, pe_run, write_manifest
from tests.support.faults import count, no_processes_left
from tests.support.tmpfs import fill, small_tmpfs


@pytest.fixture
def small_state_dir(repo: Path) -> Iterator[Path]:
    with small_tmpfs(repo / ".pe") as state:
        yield state


def all_json_parses(state: Path) -> None:
    """State files are written atomically: none is ever half-written, disk full or not."""
    for path in state.rglob("*.json"):
        json.loads(path.read_text())


@pytest.mark.parametrize(("leave_kb", "output"), [(0, 0), (40, 0), (300, 200_000)],
                         ids=["nothing-left", "no-room-for-the-prompts", "logs-fill-it-mid-run"])
def test_disk_full_during_execute(small_state_dir: Path, repo: Path, agent_log: Path, leave_kb: int,
                                  output: int) -> None:
    write_manifest(repo, count=3)
    assert pe_run(repo, "init", "--feature=feat").returncode == 0
    filler = fill(small_state_dir, leave_kb)
    res = pe_run(repo, "execute", "--feature=feat", env={"PE_TEST_OUTPUT": str(output), "PE_TEST_TAG": "full"})
    said = res.stdout + res.stderr
    assert res.returncode == 1, said
    assert "Traceback" not in said and "Error:" not in said, said
    failed = [line for line in res.stdout.splitlines() if " FAILED " in line]
    if leave_kb == 0:
        # Not even doit's database opens: one line, before any task (doit itself would blame "corruption").
        *before, last = res.stderr.splitlines()
        assert last == f"pe: error: cannot write pe's state database (disk I/O error): {small_state_dir}/doit.sqlite3"
        # The run history says once that it was not written (it never fails a command).
        assert all(line.startswith("pe: history not recorded: ") for line in before) and len(before) <= 1, said
        assert not failed
    elif output == 0:
        assert len(failed) == 3, said
    else:
        # Three agents' logs do not fit: at most one can finish before the disk is full. Which one,
        # and whether it gets its stamp written before its run record fails, is up to the scheduler.
        done = [line for line in res.stdout.splitlines() if "] done   agent:" in line]
        assert len(failed) >= 2 and len(failed) + len(done) == 3, said
    for line in failed:  # one line each, saying what and where
        assert f"No space left on device: {small_state_dir}/" in line, line
    all_json_parses(small_state_dir)
    no_processes_left(agent_log)
    status = pe_run(repo, "status", "--json")  # status still reads it all, and says what the stamps say
    assert status.returncode == 0, status.stderr
    # (Read after status: it finishes the bookkeeping of a run whose end pe could not record, when it can.)
    stamped = {p.name.split(".")[0] for p in (small_state_dir / "stamps").glob("*.agent.json")}
    for row in json.loads(status.stdout):
        assert row["state"] in ({"done"} if row["tree"] in stamped else {"ready", "interrupted"}), row

    filler.unlink()
    res = pe_run(repo, "resume", "--feature=feat", env={"PE_TEST_OUTPUT": str(output), "PE_TEST_TAG": "resume"})
    assert res.returncode == 0, res.stdout + res.stderr
    for i in (1, 2, 3):
        tree = f"feat-{i}"
        # Done once: a tree the full disk kept pe from recording as done runs again, the others do not.
        assert count(agent_log, tree, "start", "resume") == (0 if tree in stamped else 1)
        assert json.loads((small_state_dir / "runs" / f"{tree}.json").read_text())["state"] == "done"
        assert git(repo / "trees" / tree, "status", "--porcelain") == ""
    all_json_parses(small_state_dir)
