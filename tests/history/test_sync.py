"""The run history filled by real runs of pe (pe/history/sync.py): every tree round, attempt, verdict
and adoption, kept past cleanup; a sync repeated changes nothing; a history that cannot be written
costs a warning, never the command."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pe.config import manifest
from pe.fsutil import sha256_regular, sha256_text
from pe.history import db, sync
from pe.layout import Layout
from pe.tree.runrecord import RunRecord
from tests.support import git, kill_group, pe, pe_popen, wait_for
from tests.support.cycle import CHECKS, agent_pids, make_repo, write_cycle_manifest

# Reasons as pe writes them (pe/steps/attempt.py judge, pe/steps/finish.py close_lost,
# pe/tree/results.py check_results, pe/agents/*: the presets' outcome), and how each is classified.
REASONS = [
    ({"state": "done", "ended_by": "agent", "exit": "exit status 0"}, None),
    ({"state": "running", "ended_by": None}, None),
    ({"state": "unknown", "ended_by": None}, None),  # no record of it survives: nobody knows
    ({"state": "failed", "ended_by": "timeout", "exit": "timed out after 120s",
      "reason": "timed out after 120s (process group killed)"}, "timeout"),
    ({"state": "failed", "ended_by": "idle", "exit": "killed after 300s without output or file changes",
      "reason": "killed after 300s without output or file changes (process group killed)"}, "idle"),
    ({"state": "interrupted", "ended_by": "user", "exit": "interrupted", "reason": "interrupted by the user"},
     "stopped"),
    ({"state": "interrupted", "ended_by": "pe-died", "exit": None,
      "reason": "pe (and the agent's supervisor) stopped before the run ended"}, "pe died"),
    ({"state": "interrupted", "ended_by": "pe-died", "reason": "the run was lost"}, "pe died"),
    ({"state": "failed", "ended_by": "agent", "exit": "exit status 1",
      "reason": 'claude: API Error: 429 {"type":"error","error":{"type":"rate_limit_error","message":"This '
                'request would exceed the rate limit for your organization"}}'}, "rate limit"),
    ({"state": "failed", "ended_by": "agent", "reason": "claude: API Error: 529 Overloaded"}, "rate limit"),
    ({"state": "failed", "ended_by": "agent", "reason": "codex: stream error: exceeded retry limit, last status: "
                                                        "429 Too Many Requests"}, "rate limit"),
    ({"state": "failed", "ended_by": "agent", "reason": "claude: Invalid API key · Please run /login"}, "auth"),
    ({"state": "failed", "ended_by": "agent", "exit": "exit status 41",
      "reason": "gemini: authentication failed or is not configured"}, "auth"),
    # A 401 whose help text mentions rate limits is still an auth failure (pe/agents/output.py).
    ({"state": "failed", "ended_by": "agent", "reason": "codex: unexpected status 401 Unauthorized: see "
                                                        "https://platform.openai.com/docs/guides/rate-limits"}, "auth"),
    ({"state": "failed", "ended_by": "agent", "exit": "exit status 0", "reason": "the agent left no RESULTS.md"},
     "no RESULTS.md"),
    ({"state": "failed", "ended_by": "agent", "reason": "RESULTS.md lacks sections: Trade-offs Made"},
     "no RESULTS.md"),
    ({"state": "failed", "ended_by": "agent", "reason": "RESULTS.md is a symbolic link, not a regular file: pe "
                                                        "does not read it"}, "no RESULTS.md"),
    ({"state": "failed", "ended_by": "agent", "exit": "exit status 1", "reason": "agent exited with status 1"},
     "crash"),
    ({"state": "failed", "ended_by": "agent", "reason": "the agent could not start: [Errno 2] No such file or "
                                                        "directory: 'claude'"}, "crash"),
    # A token count of 1429 is not a rate limit; a log in .pe/logs is not a login.
    ({"state": "failed", "ended_by": "agent", "reason": "aider: failed after 1429 tokens; see the log in .pe/logs"},
     "crash"),
]


@pytest.mark.parametrize(("entry", "failure"), REASONS)
def test_classify_reads_the_reasons_pe_writes(entry: dict[str, Any], failure: str | None) -> None:
    assert sync.classify(entry) == failure
    assert failure is None or failure in db.FAILURES


def rows(root: Path, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = sqlite3.connect(root / ".pe" / "history.sqlite3")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def dump(root: Path) -> dict[str, list[dict[str, Any]]]:
    tables = ("trees", "attempts", "compares", "judged", "adoptions", "survival")
    return {t: rows(root, f"SELECT * FROM {t} ORDER BY 1, 2") for t in tables}


def by_tree(root: Path, feature: str) -> dict[str, dict[str, Any]]:
    return {r["tree"]: r for r in rows(root, "SELECT * FROM trees WHERE feature = ?", feature)}


def attempts_of(root: Path, round_id: str) -> list[tuple[int, str, str | None, str | None]]:
    return [(r["attempt"], r["state"], r["ended_by"], r["failure"])
            for r in rows(root, "SELECT * FROM attempts WHERE round_id = ? ORDER BY attempt", round_id)]


def run_ok(root: Path, *argv: str, rc: int = 0) -> str:
    got, out, err = pe(root, *argv)
    assert got == rc, out + err
    assert "history not recorded" not in err
    return out


def _kill_mid_run(root: Path, tmp_path: Path) -> None:
    """`pe execute --feature=crashy` killed -9 while its agent runs, its supervisor and agent with it
    (a machine crash): nothing is left to tell the run's end."""
    marks = tmp_path / "marks"
    child = pe_popen(root, "execute", "--feature=crashy", "--plain",
                     env={"CYCLE_MODE": "hang", "CYCLE_MARKS": str(marks)})
    try:
        wait_for(lambda: (marks / "started-crashy-1").exists(), what="the crashy agent at work")
        record = RunRecord.load(root / ".pe" / "runs" / "crashy-1.json", "crashy-1")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert record.pid is not None
        kill_group(record.pid)
        for pid in agent_pids(marks).values():
            kill_group(pid)
        wait_for(lambda: not RunRecord.load(root / ".pe" / "runs" / "crashy-1.json", "crashy-1").still_running(),
                 what="the supervisor gone")
    finally:
        kill_group(child.pid)
        for pid in agent_pids(marks).values():
            kill_group(pid)


def test_the_history_is_filled_by_real_runs_and_outlives_cleanup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, "calc", count=2, checks={"test": CHECKS["test"]})
    write_cycle_manifest(root, "flaky", count=3)
    write_cycle_manifest(root, "crashy", count=1)

    # calc: both trees finish; calc-2's fib is wrong, which its test check finds.
    monkeypatch.setenv("CYCLE_VARIANT_2", "broken")
    run_ok(root, "execute", "--feature=calc", "--plain")
    monkeypatch.delenv("CYCLE_VARIANT_2")
    # flaky: flaky-2's agent fails, flaky-3's leaves no RESULTS.md; a resume finishes both.
    monkeypatch.setenv("CYCLE_MODE_2", "fail")
    monkeypatch.setenv("CYCLE_MODE_3", "noresults")
    run_ok(root, "execute", "--feature=flaky", "--plain", rc=1)
    monkeypatch.delenv("CYCLE_MODE_2")
    monkeypatch.delenv("CYCLE_MODE_3")
    failed = by_tree(root, "flaky")
    assert {t: (r["state"], r["failure"]) for t, r in failed.items()} == {
        "flaky-1": ("done", None), "flaky-2": ("failed", "crash"), "flaky-3": ("failed", "no RESULTS.md")}
    run_ok(root, "resume", "--feature=flaky", "--plain")

    # crashy: pe killed -9 mid-run, then resumed.
    _kill_mid_run(root, tmp_path)
    # The killed pe took the lock before its tree existed and never reached its end: the next pe records it.
    assert by_tree(root, "crashy") == {}
    run_ok(root, "resume", "--feature=crashy", "--plain")

    out = run_ok(root, "compare", "--feature=calc", "--plain")
    assert "calc-1" in out
    run_ok(root, "adopt", "--feature=calc", "--tree=calc-1")
    adopted_commit = git(root, "rev-parse", "main")

    trees = {**by_tree(root, "calc"), **by_tree(root, "flaky"), **by_tree(root, "crashy")}
    assert sorted(trees) == ["calc-1", "calc-2", "crashy-1", "flaky-1", "flaky-2", "flaky-3"]
    keys = {t: json.loads((root / ".pe" / "stamps" / f"{t}.branch.json").read_text())["round_key"] for t in trees}
    assert {t: r["round_id"] for t, r in trees.items()} == keys
    calc1 = trees["calc-1"]
    plan = (root / "specs" / "plan.md").read_text()
    feature = manifest.load(Layout(root), "calc")
    assert (calc1["strategy"], calc1["agent"], calc1["sandbox"], calc1["runner"], calc1["state"]) == \
        ("simple", "command", "none", "local", "done")
    assert calc1["plan_hash"] == sha256_text(plan)
    assert calc1["strategy_hash"] == sha256_text(feature.trees[0].strategy.prompt)
    assert calc1["prompt_hash"] == sha256_regular(root / ".pe" / "prompts" / "calc-1.md")
    assert calc1["base_sha"] == git(root, "rev-parse", "main^")  # the base before the adoption
    assert (calc1["setup_ok"], json.loads(calc1["installers"])) == (1, [])
    assert calc1["setup_s"] is not None and calc1["agent_s"] is not None and calc1["attempts"] == 1

    # Every attempt, each ending classified.
    assert attempts_of(root, trees["flaky-2"]["round_id"]) == [(1, "failed", "agent", "crash"),
                                                               (2, "done", "agent", None)]
    assert attempts_of(root, trees["flaky-3"]["round_id"]) == [(1, "failed", "agent", "no RESULTS.md"),
                                                               (2, "done", "agent", None)]
    assert attempts_of(root, trees["crashy-1"]["round_id"]) == [(1, "interrupted", "pe-died", "pe died"),
                                                                (2, "done", "agent", None)]
    assert all(r["state"] == "done" and r["failure"] is None for r in trees.values())

    # The compare's verdict on each calc tree.
    (compare,) = rows(root, "SELECT * FROM compares")
    evidence = json.loads((root / "reports" / "calc" / "evidence.json").read_text())
    assert (compare["compare_id"], compare["recommended"]) == (f"calc@{evidence['generated_at']}", "calc-1")
    judged = {r["tree"]: r for r in rows(root, "SELECT * FROM judged")}
    assert (judged["calc-1"]["eligible"], judged["calc-1"]["recommended"]) == (1, 1)
    assert (judged["calc-2"]["eligible"], judged["calc-2"]["recommended"]) == (0, 0)
    assert judged["calc-1"]["round_id"] == calc1["round_id"]
    (check,) = json.loads(judged["calc-2"]["checks"])
    assert (check["name"], check["status"], check["counts"]["failed"]) == ("test", "failed", 2)
    assert sorted(json.loads(judged["calc-2"]["failed_tests"])) == ["test_mathlib.test_ten",
                                                                   "test_mathlib.test_twenty"]
    assert json.loads(judged["calc-2"]["why_not"]) and not json.loads(judged["calc-1"]["why_not"])
    assert judged["calc-1"]["score"] is not None and "checks" in json.loads(judged["calc-1"]["parts"])
    assert judged["calc-1"]["tradeoffs"] == "- Risk: none seen"
    assert judged["calc-1"]["lines"] > 0 and judged["calc-1"]["files"] >= 1
    assert judged["calc-1"]["head"] == evidence["trees"][0]["head"]
    assert json.loads(judged["calc-2"]["cross"]) == []  # no tree wrote tests of its own (test_cross_row below)

    (adoption,) = rows(root, "SELECT * FROM adoptions")
    assert (adoption["round_id"], adoption["tree"], adoption["commit_sha"], adoption["into_branch"],
            adoption["mode"], adoption["recommended"], adoption["forced"]) == \
        (calc1["round_id"], "calc-1", adopted_commit, "main", "squash", "calc-1", 0)
    (outcome,) = rows(root, "SELECT * FROM outcomes WHERE tree = 'calc-1'")
    assert (outcome["eligible"], outcome["recommended"], outcome["adopted"]) == (1, 1, 1)

    # Cleanup forgets the trees; the history keeps them, and a new round of the name is a new row.
    before = dump(root)
    run_ok(root, "cleanup", "--feature=calc")
    assert not (root / ".pe" / "runs" / "calc-1.json").exists()
    assert dump(root) == before
    run_ok(root, "execute", "--feature=calc", "--plain")
    first_round = {calc1["round_id"], trees["calc-2"]["round_id"]}
    calc = rows(root, "SELECT * FROM trees WHERE feature = 'calc'")
    fresh = [r for r in calc if r["round_id"] not in first_round]
    assert len(calc) == 4 and sorted(r["tree"] for r in fresh) == ["calc-1", "calc-2"]
    assert all(r["base_sha"] == adopted_commit for r in fresh)
    # The earlier round's verdicts and adoption stay its own: evidence.json and ADOPTED.json are
    # still there, and of the first round, not of the new one.
    assert {r["round_id"] for r in rows(root, "SELECT * FROM judged")} == first_round
    assert [r["round_id"] for r in rows(root, "SELECT * FROM adoptions")] == [calc1["round_id"]]


def test_sync_twice_changes_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"]})
    run_ok(root, "execute", "--feature=calc", "--plain")
    run_ok(root, "compare", "--feature=calc", "--plain")
    first = dump(root)
    assert first["trees"] and first["attempts"] and first["judged"]
    file = root / ".pe" / "history.sqlite3"
    data = file.read_bytes()
    layout = Layout(root)
    feature = manifest.load(layout, "calc")
    sync.sync(layout, feature)
    sync.sync(layout, feature)
    assert dump(root) == first
    # Not a byte written: a command that changed nothing (a refused cleanup) leaves .pe/ as it was.
    assert file.read_bytes() == data and not file.with_name(file.name + "-wal").exists()


def test_the_cross_test_row_is_the_trees_own(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"]})
    run_ok(root, "execute", "--feature=calc", "--plain")
    run_ok(root, "compare", "--feature=calc", "--plain")
    # The matrix as pe.compare.crosstest writes it when both trees wrote tests (the cycle agent writes none).
    path = root / "reports" / "calc" / "evidence.json"
    evidence = json.loads(path.read_text())

    def cell(source: str, target: str, failed: list[str]) -> dict[str, Any]:
        return {"source": source, "target": target, "status": "failed" if failed else "passed",
                "failures": len(failed), "failed_tests": failed, "why": "", "checks": [{"name": "test"}]}

    evidence["cross_tests"] = {"checks": ["test"], "cells": [cell("calc-2", "calc-1", []),
                                                             cell("calc-1", "calc-2", ["test_fib.test_big"])]}
    path.write_text(json.dumps(evidence))
    layout = Layout(root)
    sync.sync(layout, manifest.load(layout, "calc"))
    judged = {r["tree"]: json.loads(r["cross"]) for r in rows(root, "SELECT * FROM judged")}
    assert judged == {
        "calc-1": [{"source": "calc-2", "status": "passed", "failures": 0, "failed_tests": [], "why": ""}],
        "calc-2": [{"source": "calc-1", "status": "failed", "failures": 1, "failed_tests": ["test_fib.test_big"],
                    "why": ""}]}


def test_a_newer_pes_history_is_left_alone_and_pe_execute_works(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1)
    (root / ".pe").mkdir()
    conn = sqlite3.connect(root / ".pe" / "history.sqlite3", isolation_level=None)
    conn.execute("CREATE TABLE runs_of_the_future (x)")
    conn.execute("INSERT INTO runs_of_the_future VALUES (1)")
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    rc, out, err = pe(root, "execute", "--feature=calc", "--plain")
    assert rc == 0, out + err
    warnings = [line for line in err.splitlines() if "history" in line]
    assert len(warnings) == 1, err
    assert warnings[0].startswith("pe: history not recorded: ") and "newer pe" in warnings[0]
    conn = sqlite3.connect(root / ".pe" / "history.sqlite3")
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["runs_of_the_future"]
    finally:
        conn.close()


def test_a_history_that_cannot_be_written_costs_one_warning(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=1)
    (root / ".pe" / "history.sqlite3").mkdir(parents=True)  # nothing can open it as a database
    rc, out, err = pe(root, "execute", "--feature=calc", "--plain")
    assert rc == 0, out + err
    assert [line for line in err.splitlines() if "history" in line] == [
        next(line for line in err.splitlines() if line.startswith("pe: history not recorded: .pe/history.sqlite3"))]


def test_state_files_an_agent_corrupted_are_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2)
    run_ok(root, "execute", "--feature=calc", "--plain")
    recorded = by_tree(root, "calc")
    # Wrong types where pe wrote numbers and lists, and a run record that is not JSON at all.
    (root / ".pe" / "runs" / "calc-1.json").write_text(json.dumps(
        {"tree": "calc-1", "state": "done", "attempts": "three", "history": [1, "x", {"attempt": "y"}],
         "usage": [], "duration_s": "long", "sandbox": 7}))
    (root / ".pe" / "runs" / "calc-2.json").write_text("{not json")
    (root / ".pe" / "stamps" / "calc-2.setup.json").write_text("[]")
    (root / "reports" / "calc").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "calc" / "evidence.json").write_text(json.dumps(
        {"generated_at": "2099-01-01T00:00:00+0000", "trees": ["calc-1", {"tree": "calc-2", "checks": 5}],
         "cross_tests": {"cells": "none"}}))
    (root / "reports" / "calc" / "ADOPTED.json").write_text(json.dumps({"tree": ["calc-1"]}))
    layout = Layout(root)
    sync.sync(layout, manifest.load(layout, "calc"))
    assert capsys.readouterr().err == ""
    assert set(by_tree(root, "calc")) == set(recorded)  # still there, rewritten as far as readable
    assert rows(root, "SELECT * FROM adoptions") == []
