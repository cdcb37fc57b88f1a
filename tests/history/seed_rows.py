"""Rows written straight into a history database (pe/history/db.py), for the tests of what reads it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from pe.history import db
from pe.layout import Layout


def open_db(root: Path) -> sqlite3.Connection:
    """`root`/.pe/history.sqlite3, its schema current (created if need be)."""
    return db.open_for_writing(Layout(root))


def tree(conn: sqlite3.Connection, feature: str, index: int, strategy: str, *, agent: str = "command",
         created: str = "2024-05-01T10:00:00", state: str = "done", attempts: int = 1) -> str:
    """One tree round; its round id."""
    round_id = f"{feature}-{index}@{created}"
    conn.execute("INSERT INTO trees (round_id, feature, tree, tree_index, created_at, strategy, agent, state, attempts)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (round_id, feature, f"{feature}-{index}", index, created, strategy, agent, state, attempts))
    return round_id


def attempt(conn: sqlite3.Connection, round_id: str, n: int, failure: str | None, ended: str,
            reason: str = "") -> None:
    conn.execute("INSERT INTO attempts (round_id, attempt, state, failure, reason, ended_at) VALUES (?, ?, ?, ?, ?, ?)",
                 (round_id, n, "failed" if failure else "done", failure, reason, ended))


def compare(conn: sqlite3.Connection, feature: str, at: str, recommended: str | None = None) -> str:
    compare_id = f"{feature}@{at}"
    conn.execute("INSERT INTO compares (compare_id, feature, generated_at, recommended) VALUES (?, ?, ?, ?)",
                 (compare_id, feature, at, recommended))
    return compare_id


def judged(conn: sqlite3.Connection, compare_id: str, round_id: str, tree_name: str, *, eligible: bool,
           checks: list[dict[str, Any]] | None = None, failed_tests: list[str] | None = None,
           tradeoffs: str | None = None, recommended: bool = False) -> None:
    conn.execute("INSERT INTO judged (compare_id, round_id, tree, eligible, recommended, checks, failed_tests,"
                 " tradeoffs) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (compare_id, round_id, tree_name, int(eligible), int(recommended), json.dumps(checks or []),
                  json.dumps(failed_tests or []), tradeoffs))


def adopt(conn: sqlite3.Connection, round_id: str, feature: str, tree_name: str, at: str) -> None:
    conn.execute("INSERT INTO adoptions (round_id, feature, tree, adopted_at) VALUES (?, ?, ?, ?)",
                 (round_id, feature, tree_name, at))


def strategy_history(conn: sqlite3.Connection, features: int = 10) -> None:
    """`features` features of four trees each, one compare each: performance adopted in 6,
    simple in the rest; extensible eligible in 8 but never adopted; innovative eligible in 2,
    never adopted (the one that never wins)."""
    order = ("simple", "performance", "extensible", "innovative")
    for f in range(features):
        name, day = f"f{f}", f"2024-05-{f + 1:02d}"
        rounds = [tree(conn, name, i + 1, s, created=f"{day}T10:00:00") for i, s in enumerate(order)]
        cid = compare(conn, name, f"{day}T12:00:00")
        eligible = (True, True, f < 8, f < 2)
        for i, (rid, ok) in enumerate(zip(rounds, eligible, strict=True)):
            judged(conn, cid, rid, f"{name}-{i + 1}", eligible=ok)
        winner = 1 if f < 6 else 0
        adopt(conn, rounds[winner], name, f"{name}-{winner + 1}", f"{day}T13:00:00")
