"""A seeded history: 17 tree rounds of three strategies and two agents, written row by row.

The figures the tests expect of it are worked out by hand in tests/history/test_insights.py;
change a row here and they change there. The shape of the JSON cells (checks: CheckResult
objects, failed_tests and installers: lists of names) is what pe's sync writes.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from pe.history import db

SONNET = ("claude", "sonnet")
CODEX = ("codex", None)

# round id: (strategy, agent, created_at, state, agent_s, cost_usd, attempt failures (None: ended ok))
ROUNDS: dict[str, tuple[str, tuple[str, str | None], str, str, float | None, float | None, list[str | None]]] = {
    "s1": ("simple", SONNET, "2025-01-05T10:00:00+0000", "done", 100, 1.00, [None]),
    "s2": ("simple", SONNET, "2025-01-05T10:00:01+0000", "done", 200, 2.00, [None]),
    "s3": ("simple", SONNET, "2025-01-05T10:00:02+0000", "done", 300, 3.00, ["timeout", None]),
    "s4": ("simple", SONNET, "2025-01-06T10:00:00+0000", "done", 400, 4.00, [None]),
    "s5": ("simple", SONNET, "2025-01-06T10:00:01+0000", "done", 500, 5.00, [None]),
    "s6": ("simple", SONNET, "2025-01-06T10:00:02+0000", "failed", 50, 0.50, ["crash"]),
    "s7": ("simple", SONNET, "2025-01-07T10:00:00+0000", "done", 600, 6.00, [None]),
    "p1": ("performance", CODEX, "2025-02-05T10:00:00+0000", "done", 120, 0.20, [None]),
    "p2": ("performance", CODEX, "2025-02-05T10:00:01+0000", "done", 240, 0.40, [None]),
    "p3": ("performance", CODEX, "2025-02-05T10:00:02+0000", "failed", 360, 0.60, ["timeout", "timeout"]),
    "p4": ("performance", CODEX, "2025-02-05T10:00:03+0000", "setup failed", None, None, []),
    "p5": ("performance", CODEX, "2025-02-06T10:00:00+0000", "done", 480, 0.80, [None]),
    "p6": ("performance", CODEX, "2025-02-06T10:00:01+0000", "done", 600, 1.00, [None]),
    "i1": ("innovative", SONNET, "2025-03-05T10:00:00+0000", "done", 1000, 10.00, [None]),
    "i2": ("innovative", SONNET, "2025-03-05T10:00:01+0000", "failed", 10, 0.10, ["rate limit"]),
    "i3": ("innovative", SONNET, "2025-03-05T10:00:02+0000", "failed", 20, 0.20, ["timeout"]),
    "i4": ("innovative", SONNET, "2025-03-05T10:00:03+0000", "done", 30, 0.30, [None]),
}
FEATURES = {"s": "alpha", "p": "beta", "i": "gamma"}
INSTALLERS = {"p1": ["pip"], "p4": ["npm"], "p5": ["npm"]}

PASSED = {"name": "test", "kind": "test", "status": "passed", "failed_tests": []}
LINT_OK = {"name": "lint", "kind": "lint", "status": "passed", "failed_tests": []}


def failed(name: str, *tests: str) -> dict[str, Any]:
    return {"name": name, "kind": name, "status": "failed", "failed_tests": list(tests)}


ONE, TWO = "tests/test_a.py::test_one", "tests/test_a.py::test_two"
# compare id: (feature, generated_at, {round: (eligible, recommended, checks, failed_tests)})
COMPARES: dict[str, tuple[str, str, dict[str, tuple[int, int, list[dict[str, Any]], list[str]]]]] = {
    # An older compare of alpha failed s7's lint too: only its latest (below) counts.
    "c-alpha-1": ("alpha", "2025-01-08T10:00:00+0000", {
        "s7": (0, 0, [failed("test", ONE, TWO), failed("lint")], [ONE, TWO]),
    }),
    "c-alpha-2": ("alpha", "2025-01-09T10:00:00+0000", {
        **{r: (1, 1, [PASSED, LINT_OK], []) for r in ("s1", "s2", "s3", "s4", "s5")},
        "s7": (0, 0, [failed("test", ONE, TWO), LINT_OK], [ONE, TWO]),
    }),
    "c-beta": ("beta", "2025-02-08T10:00:00+0000", {
        "p1": (1, 0, [PASSED, LINT_OK], []),
        "p2": (0, 0, [failed("test", ONE), failed("lint")], [ONE]),
        "p5": (1, 1, [PASSED, LINT_OK], []),
        "p6": (1, 0, [PASSED, LINT_OK], []),
    }),
    "c-gamma": ("gamma", "2025-03-08T10:00:00+0000", {
        "i1": (1, 0, [PASSED, LINT_OK], []),
        "i4": (0, 0, [failed("test", ONE), LINT_OK], [ONE]),
    }),
}
ADOPTED = ("s1", "s2", "s3", "s4", "s5", "p5")
# round: (lines_added, lines_surviving) of its latest look; s1 had an earlier, better one.
SURVIVAL = {"s1": (10, 8), "s2": (10, 5), "s3": (10, 10), "s4": (4, 0), "s5": (4, 3)}


def seed(conn: sqlite3.Connection) -> None:
    with db.transaction(conn):
        for rid, (strategy, (agent, model), created, state, agent_s, cost, failures) in ROUNDS.items():
            feature = FEATURES[rid[0]]
            conn.execute(
                "INSERT INTO trees (round_id, feature, tree, tree_index, created_at, strategy, agent, model, "
                "setup_ok, installers, state, attempts, agent_s, cost_usd, failure) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, feature, f"{feature}-{rid[1]}", int(rid[1]), created, strategy, agent, model,
                 0 if state == "setup failed" else 1, json.dumps(INSTALLERS.get(rid, [])), state, len(failures),
                 agent_s, cost, "setup failed" if state == "setup failed" else next(
                     (f for f in failures if f), None)))
            for n, failure in enumerate(failures, start=1):
                conn.execute(
                    "INSERT INTO attempts (round_id, attempt, state, failure, ended_by, started_at, duration_s, "
                    "cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (rid, n, "failed" if failure else "done", failure, "agent", f"{created[:-5]}.{n}+0000",
                     (agent_s or 0) / len(failures), (cost or 0) / len(failures)))
        for cid, (feature, at, judged) in COMPARES.items():
            conn.execute("INSERT INTO compares (compare_id, feature, generated_at) VALUES (?, ?, ?)", (cid, feature, at))
            for rid, (eligible, recommended, checks, tests) in judged.items():
                conn.execute(
                    "INSERT INTO judged (compare_id, round_id, tree, eligible, recommended, checks, failed_tests) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (cid, rid, f"{feature}-{rid[1]}", eligible, recommended, json.dumps(checks), json.dumps(tests)))
        for rid in ADOPTED:
            feature = FEATURES[rid[0]]
            conn.execute("INSERT INTO adoptions (round_id, feature, tree, commit_sha, into_branch, mode, adopted_at) "
                         "VALUES (?, ?, ?, ?, ?, 'squash', ?)",
                         (rid, feature, f"{feature}-{rid[1]}", "0" * 39 + rid[1], "main", ROUNDS[rid][2]))
        conn.execute("INSERT INTO survival VALUES ('s1', '2025-04-01T00:00:00+0000', 1, 10, 10)")
        for rid, (added, surviving) in SURVIVAL.items():
            conn.execute("INSERT INTO survival VALUES (?, '2025-05-01T00:00:00+0000', 1, ?, ?)",
                         (rid, added, surviving))
