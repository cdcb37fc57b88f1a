"""`pe history`: the past runs, one row per tree attempt, newest last."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from pe import util

COLUMNS = ("feature", "tree", "strategy", "agent", "attempt", "ended", "failure", "duration", "cost",
           "eligible", "recommended", "adopted")


@dataclass(frozen=True)
class Attempt:
    """One agent attempt of a tree round (attempt None: the round's agent never ran, e.g. its setup failed)."""

    round_id: str
    feature: str
    tree: str
    strategy: str | None
    agent: str | None
    model: str | None
    created_at: str | None
    attempt: int | None
    state: str | None
    ended_by: str | None
    exit: str | None
    failure: str | None
    started_at: str | None
    duration_s: float | None
    cost_usd: float | None
    # The round's latest verdict (outcomes view): the same for each of its attempts.
    eligible: bool | None
    recommended: bool | None
    adopted: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_SQL = """SELECT o.round_id, o.feature, o.tree, o.strategy, o.agent, o.model, o.created_at,
    a.attempt, COALESCE(a.state, o.state) AS state, a.ended_by, a.exit,
    COALESCE(a.failure, CASE WHEN a.attempt IS NULL THEN o.failure END) AS failure,
    a.started_at, a.duration_s, a.cost_usd, o.eligible, o.recommended, o.adopted
FROM outcomes o LEFT JOIN attempts a USING (round_id)
WHERE (? IS NULL OR o.feature = ?)
ORDER BY COALESCE(a.started_at, o.created_at), o.created_at, o.feature, o.tree_index, a.attempt"""


def attempts(conn: sqlite3.Connection, feature: str | None = None) -> list[Attempt]:
    def flag(v: Any) -> bool | None:
        return None if v is None else bool(v)

    out = []
    for r in conn.execute(_SQL, (feature, feature)):
        d = dict(r)
        d.update(eligible=flag(d["eligible"]), recommended=flag(d["recommended"]), adopted=bool(d["adopted"]))
        out.append(Attempt(**d))
    return out


def _ended(a: Attempt) -> str:
    # Who ended it matters when it was not the agent: pe dying or the user is not the agent's fault.
    by = f" ({a.ended_by.replace('-', ' ')})" if a.ended_by and a.ended_by != "agent" else ""
    return (a.state or "") + by


def _flag(v: bool | None) -> str:
    return "" if v is None else ("yes" if v else "no")


def render(found: list[Attempt]) -> str:
    from pe.util import tabulate  # only for the table, not for --json

    table = []
    for a in found:
        agent = (a.agent or "") + (f"/{a.model}" if a.model else "")
        cells = [a.feature, a.tree, a.strategy or "", agent, "" if a.attempt is None else str(a.attempt),
                 _ended(a), a.failure or "", util.format_duration(a.duration_s) if a.duration_s is not None else "",
                 f"${a.cost_usd:.2f}" if a.cost_usd is not None else "",
                 _flag(a.eligible), _flag(a.recommended), _flag(a.adopted)]
        # Strategy names, failure reasons and states may come from manifests, agents or an import.
        table.append([util.printable(c).replace("\n", " ") for c in cells])
    return tabulate(table, headers=COLUMNS, disable_numparse=True)
