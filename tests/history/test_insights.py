"""pe insights' figures on a seeded history, against values worked out by hand (tests/history/seeded.py)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.history import db, insights
from pe.history.insights import Average, PerAdopted, Rate, Tally
from pe.history.query import Counts
from pe.layout import Layout
from tests.history.seeded import ONE, TWO, seed


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = db.open_for_writing(Layout(tmp_path))
    seed(c)
    with contextlib.closing(c):
        yield c


def test_per_strategy_by_hand(conn: sqlite3.Connection) -> None:
    ins = insights.compute(conn)
    assert [g.key for g in ins.strategies] == ["simple", "performance", "innovative"]
    simple = ins.group("strategies", "simple")
    assert simple is not None
    # 7 rounds ran; s6 failed; s7 was not eligible; s1-s5 eligible, recommended, adopted.
    assert simple.counts == Counts(runs=7, completed=6, eligible=5, recommended=5, adopted=5)
    assert simple.completion == Rate(6, 7, pytest.approx(0.857142857))
    assert simple.eligibility == Rate(5, 7, pytest.approx(0.714285714))
    assert simple.adopted == Rate(5, 7, pytest.approx(0.714285714))
    # Latest looks: 8/10, 5/10, 10/10, 0/4, 3/4 -> (0.8 + 0.5 + 1 + 0 + 0.75) / 5 (s1's older 10/10 not counted).
    assert simple.survival == Average(pytest.approx(0.61), 5)
    assert simple.agent_s == Average(300.0, 7)  # 50 100 200 [300] 400 500 600
    assert simple.cost_usd == Average(3.0, 7)  # 0.5 1 2 [3] 4 5 6
    assert simple.cost_per_adopted == PerAdopted(pytest.approx(4.3), 21.5, 7, 5, 7)  # $21.50 / 5
    assert simple.failures == (Tally("crash", 1, 8), Tally("timeout", 1, 8))  # 8 attempts (s3 had 2)
    # s7's latest compare failed only the test check; its older one also failed lint: not counted.
    assert simple.failing_checks == (Tally("test", 1, 6),)
    assert simple.failing_tests == (Tally(ONE, 1, 6), Tally(TWO, 1, 6))
    assert simple.failing_setups == ()

    perf = ins.group("strategies", "performance")
    assert perf is not None
    # p4's setup failed before its agent ran: not a run, but it counts for its installer.
    assert perf.counts == Counts(runs=5, completed=4, eligible=3, recommended=1, adopted=1)
    assert perf.recommended == Rate(1, 5, pytest.approx(0.2))
    assert perf.completion == Rate(4, 5, pytest.approx(0.8))
    assert perf.survival == Average(None, 0)  # p5 adopted, never looked at
    assert perf.agent_s == Average(360.0, 5)
    assert perf.cost_usd == Average(pytest.approx(0.6), 5)
    assert perf.cost_per_adopted == PerAdopted(pytest.approx(3.0), pytest.approx(3.0), 5, 1, 5)
    assert perf.failures == (Tally("timeout", 2, 6),)
    assert perf.failing_checks == (Tally("lint", 1, 4), Tally("test", 1, 4))
    assert perf.failing_tests == (Tally(ONE, 1, 4),)
    assert perf.failing_setups == (Tally("npm", 1, 2),)  # p4 failed, p5 used npm fine; pip never failed


def test_below_the_minimum_count_the_counts_and_no_rate(conn: sqlite3.Connection) -> None:
    innovative = insights.compute(conn).group("strategies", "innovative")
    assert innovative is not None
    assert innovative.counts == Counts(runs=4, completed=2, eligible=1, recommended=0, adopted=0)
    assert innovative.completion == Rate(2, 4, None)
    assert innovative.eligibility == Rate(1, 4, None)
    assert innovative.adopted == Rate(0, 4, None)
    assert innovative.completion.describe() == "2 of 4 (4 runs: too few for a rate)"
    assert innovative.cost_per_adopted == PerAdopted(None, pytest.approx(10.6), 4, 0, 4)
    assert innovative.agent_s == Average(25.0, 4)  # 10 [20 30] 1000: medians are not rates, shown with n
    assert innovative.failures == (Tally("rate limit", 1, 4), Tally("timeout", 1, 4))
    data = json.loads(insights.compute(conn).to_json())
    row = next(g for g in data["strategies"] if g["key"] == "innovative")
    assert row["adopted"] == {"count": 0, "of": 4, "rate": None}
    assert data["min_runs"] == 5


def test_all_rounds_agents_and_pairs(conn: sqlite3.Connection) -> None:
    ins = insights.compute(conn)
    assert ins.rounds == 17
    t = ins.total
    assert t.counts == Counts(runs=16, completed=12, eligible=9, recommended=6, adopted=6)
    assert t.eligibility == Rate(9, 16, pytest.approx(0.5625))
    assert t.adopted == Rate(6, 16, pytest.approx(0.375))
    assert t.survival == Average(pytest.approx(0.61), 5)
    assert t.agent_s == Average(270.0, 16)  # ... 240 [240 300] 360 ...: (240 + 300) / 2
    assert t.cost_usd == Average(pytest.approx(0.9), 16)  # ... 0.8 [0.8 1.0] 1.0 ...
    assert t.cost_per_adopted.value == pytest.approx(5.85)  # $35.10 / 6
    assert t.failures == (Tally("timeout", 4, 18), Tally("crash", 1, 18), Tally("rate limit", 1, 18))
    assert t.failing_checks == (Tally("test", 3, 12), Tally("lint", 1, 12))
    assert t.failing_tests == (Tally(ONE, 3, 12), Tally(TWO, 1, 12))
    assert [g.key for g in ins.agents] == ["claude/sonnet", "codex"]
    sonnet = ins.group("agents", "claude/sonnet")
    assert sonnet is not None
    assert sonnet.counts == Counts(runs=11, completed=8, eligible=6, recommended=5, adopted=5)
    assert sonnet.adopted == Rate(5, 11, pytest.approx(0.4545454545))
    assert [g.key for g in ins.pairs] == ["simple + claude/sonnet", "performance + codex",
                                          "innovative + claude/sonnet"]


def test_since_keeps_the_later_rounds(conn: sqlite3.Connection) -> None:
    ins = insights.compute(conn, since="2025-02-01")
    assert ins.rounds == 10
    assert ins.total.counts == Counts(runs=9, completed=6, eligible=4, recommended=1, adopted=1)
    assert [g.key for g in ins.strategies] == ["performance", "innovative"]


def test_an_empty_history(tmp_path: Path) -> None:
    with contextlib.closing(db.open_for_writing(Layout(tmp_path))) as c:
        ins = insights.compute(c)
    assert ins.rounds == 0 and ins.strategies == ()
    assert ins.total.completion == Rate(0, 0, None)
    assert ins.total.agent_s == Average(None, 0)
