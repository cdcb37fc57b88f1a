"""Tokens, turns, cost and agent time of a tree's runs, whatever preset wrote them.

Presets record what their CLI reports; the key names differ a little between
CLIs (claude's num_turns and total_cost_usd, others' turns and cost_usd), so
`parse` reads every spelling seen and leaves a missing figure as None.

A tree's figures are `totals(record)`: the sums over every attempt in the run
record's history, plus the current attempt while it runs. This is the one
definition `pe status`, `pe compare`, its report and evidence.json show; the
record's own `usage` and `duration_s` are only the last attempt's.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pe import util
from pe.tree.runrecord import AGENT_ENDINGS, RunRecord


def _num(data: Mapping[str, Any], *keys: str) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    turns: int | None = None
    cost_usd: float | None = None

    @property
    def tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)

    def to_json(self) -> dict[str, Any]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "turns": self.turns,
                "cost_usd": self.cost_usd}


def parse(data: Any) -> Usage:
    """One attempt's figures from a `usage` mapping (anything else reads as no figures)."""
    if not isinstance(data, Mapping):
        return Usage()
    total = _num(data, "tokens", "total_tokens")
    inp = _num(data, "input_tokens", "prompt_tokens")
    out = _num(data, "output_tokens", "completion_tokens")
    if inp is None and out is None and total is not None:
        inp = total
    turns = _num(data, "turns", "num_turns")
    cost = _num(data, "cost_usd", "total_cost_usd", "cost")
    return Usage(
        int(inp) if inp is not None else None,
        int(out) if out is not None else None,
        int(turns) if turns is not None else None,
        cost,
    )


def of(record: RunRecord) -> Usage:
    """The current (or last) attempt's figures only; what a tree cost in all is `totals`."""
    return parse(record.usage)


def _sum(values: Iterable[float | None]) -> float | None:
    """The sum of the known values; None when none is known (unknown is not zero)."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def add(usages: Iterable[Usage]) -> Usage:
    items = list(usages)
    inp, out, turns = (_sum(getattr(u, k) for u in items) for k in ("input_tokens", "output_tokens", "turns"))
    cost = _sum(u.cost_usd for u in items)
    return Usage(None if inp is None else int(inp), None if out is None else int(out),
                 None if turns is None else int(turns), None if cost is None else round(cost, 6))


# How each ending reads in a line like "3 attempts: 1 stopped when pe died, 1 interrupted by you, 1 done".
_ENDINGS = {"pe-died": "stopped when pe died", "user": "interrupted by you", "pe": "stopped by pe",
            "timeout": "timed out", "idle": "stopped as idle"}


@dataclass(frozen=True)
class Attempt:
    """One agent run of a tree, ended or running."""

    attempt: int
    state: str  # done | failed | interrupted, or running, or unknown (no record of it survives)
    ended_by: str | None  # an ENDED_BY key; None while it runs and when no record of it survives
    duration_s: float | None
    usage: Usage
    started_at: str | None = None
    ended_at: str | None = None
    inferred: bool = False  # ended_by worked out from an older pe's record, which did not say

    @property
    def against_agent(self) -> bool:
        """Whether this attempt's ending is the agent's doing (ENDED_BY: not pe's, not the user's)."""
        return self.ended_by in AGENT_ENDINGS

    @property
    def agent_failure(self) -> bool:
        return self.against_agent and self.state != "done"

    def describe(self) -> str:
        if self.state in ("running", "unknown"):
            return "running" if self.state == "running" else "not recorded"
        if self.ended_by in _ENDINGS:
            return _ENDINGS[self.ended_by]
        if self.ended_by == "agent":
            return self.state
        return f"{self.state} ({self.ended_by})"

    def to_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "state": self.state, "ended_by": self.ended_by,
                "ended_by_inferred": self.inferred, "counts_against_agent": self.against_agent,
                "started_at": self.started_at, "ended_at": self.ended_at, "duration_s": self.duration_s,
                "usage": self.usage.to_json()}


@dataclass(frozen=True)
class Totals:
    """A tree's runs, every attempt, and their sums."""

    usage: Usage
    agent_s: float | None  # seconds the agent ran, over every attempt (None: no duration known)
    attempts: tuple[Attempt, ...]

    @property
    def agent_failures(self) -> int:
        """Attempts the agent itself ended without finishing (failed, timed out, idle)."""
        return sum(a.agent_failure for a in self.attempts)

    @property
    def cost_complete(self) -> bool:
        """Every attempt reported its cost: a sum that leaves none out (a run cut off may report nothing)."""
        return bool(self.attempts) and all(a.usage.cost_usd is not None for a in self.attempts)

    def describe(self) -> str:
        """'3 attempts: 1 stopped when pe died, 1 interrupted by you, 1 done'; '' before the first."""
        return describe(self.attempts)


def describe(runs: Sequence[Attempt]) -> str:
    """'3 attempts: 1 stopped when pe died, 1 interrupted by you, 1 done'; '' for none."""
    if not runs:
        return ""
    return f"{len(runs)} attempt{'s' if len(runs) != 1 else ''}: " + count(runs)


def count(runs: Sequence[Attempt]) -> str:
    """'1 stopped when pe died, 2 done': how many attempts ended each way, in order of first appearance."""
    counts: dict[str, int] = {}
    for a in runs:
        counts[a.describe()] = counts.get(a.describe(), 0) + 1
    return ", ".join(f"{c} {what}" for what, c in counts.items())


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _span(entry: Mapping[str, Any]) -> float | None:
    """An attempt's duration from its ISO times (whole seconds), for records that did not keep it."""
    start, end = util.parse_iso(entry.get("started_at")), util.parse_iso(entry.get("ended_at"))
    return round(end - start, 3) if start is not None and end is not None and end >= start else None


def _ended_by(entry: Mapping[str, Any]) -> tuple[str, bool]:
    """Who ended an attempt, and whether that is inferred (an older pe did not record it)."""
    given = entry.get("ended_by")
    if isinstance(given, str) and given:
        return given, False  # a value this pe does not know is kept: only AGENT_ENDINGS count against the agent
    exit_ = entry.get("exit")
    exit_ = exit_ if isinstance(exit_, str) else ""
    if entry.get("state") == "interrupted":
        return "user", True  # an older pe closed an attempt as interrupted only when pe itself was stopped
    # The exit texts of proc.Exit.describe for a timeout and an idle kill:
    if exit_.startswith("timed out"):
        return "timeout", True
    if exit_.startswith("killed after") and "without output" in exit_:
        return "idle", True
    return "agent", True


def _text(entry: Mapping[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) else None


def _from_entry(entry: Mapping[str, Any], number: int, record: RunRecord) -> Attempt:
    state = _text(entry, "state") or "unknown"
    ended_by, inferred = _ended_by(entry)
    duration = _number(entry.get("duration_s"))
    older = "duration_s" not in entry  # an older pe's entry: this pe always writes the key
    if duration is None and older and number == record.attempts and state == record.state:
        # An older pe kept the last attempt's exact duration only at the top of the record.
        duration = _number(record.duration_s)
    if duration is None and ended_by != "pe-died":
        # (A lost attempt's ended_at is when a later pe noticed it, not when it stopped.)
        duration = _span(entry)
    return Attempt(number, state, ended_by, duration, parse(entry.get("usage")), _text(entry, "started_at"),
                   _text(entry, "ended_at"), inferred)


def _running_usage(record: RunRecord, entries: Sequence[Mapping[str, Any]]) -> Usage:
    """The running attempt's figures so far. pe writes `usage` when an attempt ends, so until then
    the record may still hold the previous attempt's, which its history entry already counts."""
    if entries and entries[-1].get("usage") == record.usage:
        return Usage()
    return parse(record.usage)


def _current(record: RunRecord, entries: Sequence[Mapping[str, Any]], now: float) -> Attempt:
    """The record's own attempt, which no history entry holds: running, or cut off, or from before history."""
    if record.state == "running":
        use = _running_usage(record, entries)
        if record.effective_state() == "running":
            started = util.parse_iso(record.started_at)
            elapsed = round(max(0.0, now - started), 1) if started is not None else None
            return Attempt(record.attempts, "running", None, elapsed, use, record.started_at)
        # Its process is gone and nobody recorded the end: pe died with it running (its figures
        # are partial). Not held against the agent.
        return Attempt(record.attempts, "interrupted", "pe-died", None, use, record.started_at, None, True)
    entry = {"state": record.state, "exit": record.exit, "started_at": record.started_at,
             "ended_at": record.ended_at, "duration_s": record.duration_s, "usage": record.usage,
             "ended_by": record.ended_by}
    return _from_entry(entry, record.attempts, record)


def attempts(record: RunRecord, now: float | None = None) -> tuple[Attempt, ...]:
    """Every attempt of the record, oldest first, numbered 1..record.attempts."""
    found: dict[int, Attempt] = {}
    entries = [e for e in record.history if isinstance(e, Mapping)]
    for pos, entry in enumerate(entries, 1):
        raw = entry.get("attempt")
        number = raw if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0 else pos
        found[number] = _from_entry(entry, number, record)  # a later entry for the same attempt knows more
    top = record.attempts if isinstance(record.attempts, int) else 0
    if top > 0 and top not in found and (record.state == "running" or not entries):
        found[top] = _current(record, entries, time.time() if now is None else now)
    for number in range(1, max([top, *found], default=0) + 1):
        # An attempt no entry holds: an older pe killed mid-run, or a retry it did not record.
        # Nobody knows who ended it, so it is not held against the agent.
        found.setdefault(number, Attempt(number, "unknown", None, None, Usage(), inferred=True))
    return tuple(found[n] for n in sorted(found))


def totals(record: RunRecord, now: float | None = None) -> Totals:
    """The tree's figures over every attempt: the one definition everything that shows them reads."""
    runs = attempts(record, now)
    seconds = _sum(a.duration_s for a in runs)
    return Totals(add(a.usage for a in runs), None if seconds is None else round(seconds, 3), runs)


def tokens_cell(u: Usage) -> str:
    """'12.3k / $0.042' style cell for tables."""
    parts = []
    if u.tokens is not None:
        parts.append(f"{u.tokens / 1000:.1f}k" if u.tokens >= 1000 else str(u.tokens))
    if u.cost_usd is not None:
        parts.append(f"${u.cost_usd:.3f}")
    return " / ".join(parts)

