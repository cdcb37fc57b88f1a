"""usage.totals: a tree's figures are the sums over its run history, records of an older pe included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pe import proc
from pe.tree import usage
from pe.tree.runrecord import RunRecord
from pe.util import now_iso


def entry(attempt: int, state: str, ended_by: str | None = None, duration_s: float | None = None,
          **extra: object) -> dict[str, object]:
    """A history entry as pe/steps/agent.py writes one; without ended_by/duration_s as an older pe did."""
    e: dict[str, object] = {"attempt": attempt, "state": state, "exit": extra.pop("exit", None),
                            "reason": None, "started_at": extra.pop("started_at", None),
                            "ended_at": extra.pop("ended_at", None), "usage": extra.pop("usage", {}),
                            "warnings": []}
    if ended_by is not None:
        e["ended_by"] = ended_by
    if duration_s is not None:
        e["duration_s"] = duration_s
    return e


def test_sums_every_attempt_and_leaves_pes_own_endings_out_of_the_agents_failures() -> None:
    rec = RunRecord("t-1", state="done", attempts=3, duration_s=7.1, usage={"input_tokens": 40, "cost_usd": 0.04},
                    history=[
                        entry(1, "interrupted", "pe-died", 10.0, usage={"input_tokens": 30, "output_tokens": 3,
                                                                         "turns": 2, "cost_usd": 0.03}),
                        entry(2, "interrupted", "user", 10.0, usage={"num_turns": 1, "total_cost_usd": 0.03}),
                        entry(3, "done", "agent", 7.1, usage={"input_tokens": 40, "cost_usd": 0.04}),
                    ])
    t = usage.totals(rec)
    assert t.agent_s == pytest.approx(27.1)
    assert (t.usage.input_tokens, t.usage.output_tokens, t.usage.turns) == (70, 3, 3)
    assert t.usage.cost_usd == pytest.approx(0.10)
    assert [(a.attempt, a.state, a.ended_by) for a in t.attempts] == [
        (1, "interrupted", "pe-died"), (2, "interrupted", "user"), (3, "done", "agent")]
    assert t.agent_failures == 0 and t.cost_complete
    assert t.describe() == "3 attempts: 1 stopped when pe died, 1 interrupted by you, 1 done"
    assert [a.to_json()["counts_against_agent"] for a in t.attempts] == [False, False, True]


def test_the_agents_own_failures_count() -> None:
    rec = RunRecord("t-1", state="done", attempts=3, history=[
        entry(1, "failed", "agent", 5.0), entry(2, "failed", "timeout", 60.0), entry(3, "done", "agent", 4.0)])
    t = usage.totals(rec)
    assert t.agent_failures == 2 and t.agent_s == 69.0
    assert t.describe() == "3 attempts: 1 failed, 1 timed out, 1 done"
    assert not t.cost_complete  # no attempt reported a cost


def test_an_older_pes_history_is_inferred() -> None:
    # No ended_by, no duration_s: interrupted means the user stopped it, anything else the agent;
    # the time comes from the timestamps, the last attempt's from the record's own duration_s.
    rec = RunRecord("t-1", state="done", attempts=3, duration_s=5.25, history=[
        entry(1, "interrupted", exit="interrupted", started_at="2026-01-01T10:00:00+0000",
              ended_at="2026-01-01T10:00:12+0000"),
        entry(2, "failed", exit="timed out after 60s", started_at="2026-01-01T10:01:00+0000",
              ended_at="2026-01-01T10:02:00+0000"),
        entry(3, "done", exit="exit status 0", started_at="2026-01-01T10:03:00+0000",
              ended_at="2026-01-01T10:03:06+0000"),
    ])
    t = usage.totals(rec)
    assert [(a.ended_by, a.duration_s, a.inferred) for a in t.attempts] == [
        ("user", 12.0, True), ("timeout", 60.0, True), ("agent", 5.25, True)]
    assert t.agent_s == pytest.approx(77.25) and t.agent_failures == 1


def test_a_lost_attempts_time_is_not_guessed_from_when_it_was_noticed() -> None:
    # pe notices a lost attempt (its supervisor gone, no end file) whenever it next runs: hours later, maybe.
    rec = RunRecord("t-1", state="interrupted", attempts=1, history=[
        {**entry(1, "interrupted", "pe-died", started_at="2026-01-01T10:00:00+0000",
                 ended_at="2026-01-01T18:00:00+0000"), "duration_s": None}])
    t = usage.totals(rec)
    assert t.attempts[0].duration_s is None and t.agent_s is None and t.agent_failures == 0


def test_a_record_from_before_history_and_attempts_no_record_survives() -> None:
    # Before history, the record held only the last attempt.
    rec = RunRecord("t-1", state="done", attempts=1, duration_s=20.0, usage={"turns": 4},
                    started_at="2026-01-01T10:00:00+0000", ended_at="2026-01-01T10:00:20+0000")
    t = usage.totals(rec)
    assert [(a.attempt, a.state, a.ended_by, a.duration_s) for a in t.attempts] == [(1, "done", "agent", 20.0)]
    assert t.usage.turns == 4 and t.agent_s == 20.0
    # An older pe killed mid-run kept no entry for that attempt: it is listed, and not held against the agent.
    rec = RunRecord("t-1", state="done", attempts=2, duration_s=3.2, history=[entry(2, "done", duration_s=3.2)])
    t = usage.totals(rec)
    assert [(a.attempt, a.state, a.ended_by) for a in t.attempts] == [(1, "unknown", None), (2, "done", "agent")]
    assert t.agent_failures == 0 and t.agent_s == 3.2
    assert t.describe() == "2 attempts: 1 not recorded, 1 done"
    assert usage.totals(RunRecord("t-1")).attempts == () and usage.totals(RunRecord("t-1")).agent_s is None


def test_the_running_attempt_counts_and_a_dead_one_is_pes(live_pid: int) -> None:
    started = time.time() - 5
    rec = RunRecord("t-1", state="running", attempts=2, pid=live_pid, pid_start=proc.process_start_ticks(live_pid),
                    started_at=now_iso(started), usage={"input_tokens": 7},
                    history=[entry(1, "interrupted", "pe-died", 20.0, usage={"input_tokens": 100})])
    t = usage.totals(rec, now=started + 6.5)
    assert [(a.attempt, a.state, a.ended_by) for a in t.attempts] == [(1, "interrupted", "pe-died"),
                                                                     (2, "running", None)]
    assert t.agent_s == pytest.approx(26.5, abs=1.0) and t.usage.input_tokens == 107
    assert t.describe() == "2 attempts: 1 stopped when pe died, 1 running"
    # The same record once its agent is gone and nobody recorded the end: pe died under it.
    rec.pid = rec.pid_start = None
    t = usage.totals(rec)
    assert [(a.attempt, a.state, a.ended_by) for a in t.attempts][-1] == (2, "interrupted", "pe-died")
    assert t.agent_failures == 0 and t.agent_s == 20.0


def test_malformed_history_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    rec = RunRecord("t-1", state="done", attempts=2, history=[
        "junk", {"attempt": "one", "state": "failed", "duration_s": "x", "usage": [1]},  # type: ignore[list-item]
        entry(2, "done", "agent", True)])  # type: ignore[arg-type]
    t = usage.totals(rec)
    assert [a.attempt for a in t.attempts] == [1, 2] and t.agent_s is None
