"""The run history is the truth: status and compare show the sums over every attempt, and hold
against the agent only the attempts it ended itself (not pe dying, not the user stopping it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pe import proc
from pe.tree.runrecord import RunRecord
from pe.util import now_iso
from tests.support import pe
from tests.support.cycle import executed, make_repo, write_cycle_manifest


def attempt(n: int, state: str, ended_by: str, duration_s: float, cost: float, tokens: int) -> dict[str, Any]:
    return {"attempt": n, "state": state, "exit": "exit status 0" if state == "done" else "interrupted",
            "reason": None, "started_at": None, "ended_at": None, "duration_s": duration_s,
            "usage": {"input_tokens": tokens, "output_tokens": tokens // 10, "turns": n, "cost_usd": cost},
            "warnings": [], "ended_by": ended_by}


def rewrite(root: Path, tree: str, history: list[dict[str, Any]]) -> None:
    """The tree's record as pe writes it once the attempts in `history` ended (the last is the current)."""
    path = root / ".pe" / "runs" / f"{tree}.json"
    rec = RunRecord.load(path, tree)
    last = history[-1]
    rec.history, rec.attempts, rec.state = history, last["attempt"], last["state"]
    rec.duration_s, rec.usage = last["duration_s"], last["usage"]
    rec.save(path)


# Three trees that each took about 27 s and $0.10 of agent time: calc-1's agent failed once;
# calc-2 and calc-3 were cut off by pe dying (and by the user) and resumed.
HISTORIES = {
    "calc-1": [attempt(1, "failed", "agent", 13.0, 0.05, 500), attempt(2, "done", "agent", 14.0, 0.05, 500)],
    "calc-2": [attempt(1, "interrupted", "pe-died", 24.0, 0.09, 900), attempt(2, "done", "agent", 3.2, 0.01, 100)],
    "calc-3": [attempt(1, "interrupted", "pe-died", 10.0, 0.03, 300), attempt(2, "interrupted", "user", 10.0, 0.03, 300),
               attempt(3, "done", "agent", 7.1, 0.04, 400)],
}


def approach(report: str, tree: str) -> str:
    start = report.index(f"### {tree} ")
    end = report.find("\n### ", start + 1)
    return report[start:end if end != -1 else report.index("\n## ", start)]


def test_compare_sums_the_attempts_and_does_not_blame_the_agent_for_pe(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch)
    for tree, history in HISTORIES.items():
        rewrite(root, tree, history)
    rc, out, err = pe(root, "compare", "--feature=calc", "--json")
    assert rc == 0, err
    trees = {t["tree"]: t for t in json.loads(out)["trees"]}
    assert {t: round(v["agent_time_s"], 1) for t, v in trees.items()} == {"calc-1": 27.0, "calc-2": 27.2,
                                                                          "calc-3": 27.1}
    assert {t: round(v["cost_usd"], 3) for t, v in trees.items()} == {"calc-1": 0.1, "calc-2": 0.1, "calc-3": 0.1}
    assert {t: v["input_tokens"] for t, v in trees.items()} == {"calc-1": 1000, "calc-2": 1000, "calc-3": 1000}
    assert trees["calc-3"]["turns"] == 6 and trees["calc-3"]["attempts"] == 3  # the old keys stay
    assert [(a["attempt"], a["state"], a["ended_by"], a["duration_s"]) for a in trees["calc-3"]["history"]] == [
        (1, "interrupted", "pe-died", 10.0), (2, "interrupted", "user", 10.0), (3, "done", "agent", 7.1)]
    assert trees["calc-3"]["history"][0]["usage"]["cost_usd"] == 0.03
    assert {t: v["agent_failures"] for t, v in trees.items()} == {"calc-1": 1, "calc-2": 0, "calc-3": 0}
    # The same spend scores the same: pe's crash bought no tree a cheaper-looking run.
    assert {t: round(v["score_parts"]["cost"], 1) for t, v in trees.items()} == {t: 5.0 for t in trees}
    written = json.loads((root / "reports/calc/evidence.json").read_text())
    assert written["trees"][2]["history"] == trees["calc-3"]["history"]

    report = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    one, two, three = (approach(report, f"calc-{i}") for i in (1, 2, 3))
    assert "3 attempts: 1 stopped when pe died, 1 interrupted by you, 1 done" in three
    assert "2 attempts: 1 stopped when pe died, 1 done" in two
    assert "Measured: the agent needed 2 runs (1 failed)." in one
    assert "needed" not in two and "needed" not in three
    assert "27.2s" in report and "3.2s" not in report.split("## Metrics")[1].split("## Approaches")[0]


def test_compare_reads_an_older_pes_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Written by the pe before this one: no ended_by, no duration_s; pe killed mid-run left no entry at all.
    root = executed(tmp_path, monkeypatch, count=2)
    path = root / ".pe/runs/calc-2.json"
    data = json.loads(path.read_text())
    data["attempts"], data["duration_s"] = 2, 3.2
    data["history"] = [{k: v for k, v in data["history"][0].items() if k not in ("ended_by", "duration_s")}]
    data["history"][0]["attempt"] = 2
    path.write_text(json.dumps(data))
    rc, out, err = pe(root, "compare", "--feature=calc", "--json")
    assert rc == 0, err
    two = next(t for t in json.loads(out)["trees"] if t["tree"] == "calc-2")
    assert [(a["attempt"], a["state"], a["ended_by"]) for a in two["history"]] == [(1, "unknown", None),
                                                                                  (2, "done", "agent")]
    assert two["agent_failures"] == 0 and two["agent_time_s"] == 3.2
    report = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    assert "needed" not in approach(report, "calc-2")
    assert "2 attempts: 1 not recorded, 1 done" in approach(report, "calc-2")


def test_status_shows_the_sums_and_every_attempt(tmp_path: Path, live_pid: int) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2)
    assert pe(root, "init", "--feature=calc")[0] == 0
    for tree in ("calc-1", "calc-2"):
        rewrite(root, tree, HISTORIES["calc-2"])
    # calc-2 is running its second attempt now (a live process stands in for its agent).
    path = root / ".pe/runs/calc-2.json"
    rec = RunRecord.load(path, "calc-2")
    rec.history, rec.attempts, rec.state = rec.history[:1], 2, "running"
    rec.pid, rec.pid_start = live_pid, proc.process_start_ticks(live_pid)
    rec.started_at, rec.usage = now_iso(time.time() - 10), {"input_tokens": 50, "cost_usd": 0.005}
    rec.save(path)

    rc, out, err = pe(root, "status", "--feature=calc", "--json")
    assert rc == 0, err
    rows = {r["tree"]: r for r in json.loads(out)}
    one, two = rows["calc-1"], rows["calc-2"]
    assert round(one["agent_time_s"], 1) == 27.2 and one["input_tokens"] == 1000 and one["turns"] == 3
    assert round(one["cost_usd"], 3) == 0.1 and one["agent_failures"] == 0
    assert [(a["attempt"], a["ended_by"]) for a in one["history"]] == [(1, "pe-died"), (2, "agent")]
    assert one["elapsed_s"] == 3.2  # still the last run's own time, as documented
    assert two["state"] == "running" and two["input_tokens"] == 950 and round(two["cost_usd"], 3) == 0.095
    assert 33 <= two["agent_time_s"] < 60  # 24 s before pe died, and the 10 s and more of this run
    assert [(a["attempt"], a["state"], a["ended_by"]) for a in two["history"]] == [
        (1, "interrupted", "pe-died"), (2, "running", None)]

    rc, table, _ = pe(root, "status", "--feature=calc")
    line = next(ln for ln in table.splitlines() if ln.startswith("calc-1 "))
    assert "27s (2 runs)" in line and "1.1k / $0.100" in line
