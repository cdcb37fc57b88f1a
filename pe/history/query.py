"""The history read back: tree rounds with their outcome, and the counts every figure rests on.

One place for "how did trees of this strategy (agent, pair) do": pe insights prints these
counts and their rates, --strategy=auto chooses a mix from them, and the lessons cite them.
A rate below MIN_RUNS runs is not shown, only its count: two adoptions of three say little.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MIN_RUNS = 5


@dataclass(frozen=True)
class Counts:
    """Tree rounds of one group and how far they got."""

    runs: int = 0  # tree rounds whose agent ran at least once
    completed: int = 0  # agent finished (state done)
    eligible: int = 0  # judged eligible by their latest compare
    recommended: int = 0
    adopted: int = 0

    def rate(self, what: str, of: str = "runs") -> float | None:
        """`what` / `of` (e.g. adopted / runs), or None when `of` counts fewer than MIN_RUNS."""
        base = getattr(self, of)
        return getattr(self, what) / base if base >= MIN_RUNS else None

    def describe(self, what: str, of: str = "runs") -> str:
        """'adopted 2 of 9' (always the counts; the rate is for the reader to take or leave)."""
        return f"{what} {getattr(self, what)} of {getattr(self, of)}"


def outcomes(conn: sqlite3.Connection, *, since: str | None = None, feature: str | None = None) -> list[sqlite3.Row]:
    """Every tree round (the `outcomes` view), oldest first; `since` an ISO date or time (created_at >= since)."""
    sql, args = "SELECT * FROM outcomes WHERE 1 = 1", []
    if since is not None:
        sql += " AND created_at >= ?"
        args.append(since)
    if feature is not None:
        sql += " AND feature = ?"
        args.append(feature)
    return list(conn.execute(sql + " ORDER BY created_at, feature, tree_index", args))


def counts(rows: Iterable[Mapping[str, Any] | sqlite3.Row]) -> Counts:
    ran = [r for r in rows if (r["attempts"] or 0) > 0]
    return Counts(
        runs=len(ran),
        completed=sum(r["state"] == "done" for r in ran),
        eligible=sum(bool(r["eligible"]) for r in ran),
        recommended=sum(bool(r["recommended"]) for r in ran),
        adopted=sum(bool(r["adopted"]) for r in ran),
    )


def counts_by(rows: Iterable[sqlite3.Row], key: Callable[[sqlite3.Row], str | None]) -> dict[str, Counts]:
    """Counts per group (`key` of a row; None leaves the row out), groups in first-seen order."""
    groups: dict[str, list[sqlite3.Row]] = {}
    for r in rows:
        k = key(r)
        if k is not None:
            groups.setdefault(k, []).append(r)
    return {k: counts(v) for k, v in groups.items()}


def strategy(r: sqlite3.Row) -> str | None:
    return r["strategy"]


def agent(r: sqlite3.Row) -> str | None:
    """'claude' or 'claude/sonnet': the agent preset and its model, when one was named."""
    return None if r["agent"] is None else r["agent"] + (f"/{r['model']}" if r["model"] else "")


def pair(r: sqlite3.Row) -> str | None:
    a = agent(r)
    return None if r["strategy"] is None or a is None else f"{r['strategy']} + {a}"
