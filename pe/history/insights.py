"""What the run history says about strategies, agents and their pairs (`pe insights`).

compute() reads the database once and returns one frozen Insights: per group (a strategy,
an agent/model, a strategy + agent pair, and all rounds together) how far its tree rounds
got, what they took, what failed. The rates come from query.Counts, the one place that
decides a rate; every figure carries the count it rests on, and a figure resting on fewer
than query.MIN_RUNS is None (its counts stay: "2 runs: too few for a rate").

The lists (failures, failing checks and tests, failing setups) are counted so that one bad
round cannot look like a trend: a check or test counts once per round (its latest compare,
as eligibility does), a failure once per attempt, an installer once per round.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pe.errors import PeError, one_line
from pe.history import db, query, survival
from pe.history.query import MIN_RUNS, Counts
from pe.layout import Layout

TOP = 10  # entries kept per list: what a reader (or a prompt's lessons) can use

Row = sqlite3.Row
Key = Callable[[Row], str | None]


@dataclass(frozen=True)
class Rate:
    """`count` of `of` tree rounds; `rate` None below MIN_RUNS."""

    count: int
    of: int
    rate: float | None

    def describe(self) -> str:
        if self.rate is None:
            return f"{self.count} of {self.of} ({self.of} runs: too few for a rate)"
        return f"{self.count} of {self.of} ({self.rate:.0%})"


@dataclass(frozen=True)
class Average:
    """A mean or median over `n` rounds that have the value; `value` None when none has it
    (or, for `survival`, fewer than MIN_RUNS do: a share of lines is a rate)."""

    value: float | None
    n: int


@dataclass(frozen=True)
class PerAdopted:
    """Total cost of the group's rounds over its adopted ones: what one adopted tree cost."""

    value: float | None  # None with no adoption or fewer than MIN_RUNS runs
    total_usd: float
    priced: int  # rounds whose cost is known (the rest add nothing to total_usd)
    adopted: int
    runs: int


@dataclass(frozen=True)
class Tally:
    """`name` (a failure reason, check, test or installer) seen in `count` of `of`."""

    name: str
    count: int
    of: int


@dataclass(frozen=True)
class Group:
    key: str
    counts: Counts
    completion: Rate
    eligibility: Rate
    recommended: Rate
    adopted: Rate
    survival: Average  # mean share of adopted lines still there, over adopted rounds checked
    agent_s: Average  # median
    cost_usd: Average  # median
    cost_per_adopted: PerAdopted
    failures: tuple[Tally, ...]  # attempts.failure, of the group's attempts
    failing_checks: tuple[Tally, ...]  # of the group's judged rounds
    failing_tests: tuple[Tally, ...]  # of the group's judged rounds
    failing_setups: tuple[Tally, ...]  # by installer, of the group's rounds that used it


@dataclass(frozen=True)
class Insights:
    since: str | None
    min_runs: int
    rounds: int  # tree rounds in the history (since `since`), run or not
    total: Group
    strategies: tuple[Group, ...]
    agents: tuple[Group, ...]
    pairs: tuple[Group, ...]

    def group(self, dimension: str, key: str) -> Group | None:
        """`dimension` strategies, agents or pairs; `key` as query.strategy/agent/pair make it."""
        groups: tuple[Group, ...] = getattr(self, dimension)
        return next((g for g in groups if g.key == key), None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)


@dataclass(frozen=True)
class _Facts:
    """What the lists are counted from, read once for every group."""

    failures: Mapping[str, Sequence[str]]  # round -> each attempt's failure (None: it did not fail)
    attempts: Mapping[str, int]  # round -> attempts recorded
    checks: Mapping[str, frozenset[str]]  # round -> checks failed in its latest compare
    tests: Mapping[str, frozenset[str]]  # round -> tests failed in its latest compare


def compute(conn: sqlite3.Connection, *, since: str | None = None) -> Insights:
    """The insights of every tree round created at or after `since` (an ISO date or time)."""
    rows = query.outcomes(conn, since=since)
    facts = _facts(conn)
    return Insights(
        since=since,
        min_runs=MIN_RUNS,
        rounds=len(rows),
        total=_group("all", rows, facts),
        strategies=_groups(rows, query.strategy, facts),
        agents=_groups(rows, query.agent, facts),
        pairs=_groups(rows, query.pair, facts),
    )


def _groups(rows: Iterable[Row], key: Key, facts: _Facts) -> tuple[Group, ...]:
    found: dict[str, list[Row]] = {}
    for r in rows:
        k = key(r)
        if k is not None:
            found.setdefault(k, []).append(r)
    return tuple(_group(k, v, facts) for k, v in found.items())


def _group(key: str, rows: Sequence[Row], facts: _Facts) -> Group:
    c = query.counts(rows)
    # The same rounds query.counts calls runs: a round whose agent never ran (its setup
    # failed) took no agent time and cost nothing; only the setup figures count it.
    ran = [r for r in rows if (r["attempts"] or 0) > 0]
    costs = [float(r["cost_usd"]) for r in ran if r["cost_usd"] is not None]
    total = sum(costs)
    survived = [float(r["survival"]) for r in ran if r["adopted"] and r["survival"] is not None]
    judged = [r["round_id"] for r in ran if r["round_id"] in facts.checks]
    return Group(
        key=key,
        counts=c,
        completion=_rate(c, "completed"),
        eligibility=_rate(c, "eligible"),
        recommended=_rate(c, "recommended"),
        adopted=_rate(c, "adopted"),
        survival=Average(statistics.fmean(survived) if len(survived) >= MIN_RUNS else None, len(survived)),
        agent_s=_median(r["agent_s"] for r in ran),
        cost_usd=_median(costs),
        cost_per_adopted=PerAdopted(
            value=total / c.adopted if c.adopted and c.runs >= MIN_RUNS else None,
            total_usd=round(total, 6), priced=len(costs), adopted=c.adopted, runs=c.runs),
        failures=_failures(ran, facts),
        failing_checks=_per_round(judged, facts.checks),
        failing_tests=_per_round(judged, facts.tests),
        failing_setups=_setups(rows),
    )


def _rate(c: Counts, what: str) -> Rate:
    return Rate(count=getattr(c, what), of=c.runs, rate=c.rate(what))


def _median(values: Iterable[float | None]) -> Average:
    known = [float(v) for v in values if v is not None]
    return Average(statistics.median(known) if known else None, len(known))


def _top(counter: Counter[str], of: int) -> tuple[Tally, ...]:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(Tally(name, n, of) for name, n in ranked[:TOP])


def _failures(ran: Sequence[Row], facts: _Facts) -> tuple[Tally, ...]:
    counter: Counter[str] = Counter()
    attempts = 0
    for r in ran:
        rid = r["round_id"]
        attempts += facts.attempts.get(rid, 0)
        counter.update(f for f in facts.failures.get(rid, ()) if f)
    return _top(counter, attempts)


def _per_round(judged: Sequence[str], found: Mapping[str, frozenset[str]]) -> tuple[Tally, ...]:
    counter: Counter[str] = Counter()
    for rid in judged:
        counter.update(found[rid])
    return _top(counter, len(judged))


def _setups(rows: Sequence[Row]) -> tuple[Tally, ...]:
    used: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for r in rows:
        names = set(_names(_load(r["installers"])))
        used.update(names)
        if r["setup_ok"] is not None and not r["setup_ok"]:
            failed.update(names)
    ranked = sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(Tally(name, n, used[name]) for name, n in ranked[:TOP])


def _facts(conn: sqlite3.Connection) -> _Facts:
    failures: dict[str, list[str]] = {}
    attempts: Counter[str] = Counter()
    for a in conn.execute("SELECT round_id, failure FROM attempts ORDER BY round_id, attempt"):
        attempts[a["round_id"]] += 1
        failures.setdefault(a["round_id"], []).append(a["failure"])
    checks: dict[str, frozenset[str]] = {}
    tests: dict[str, frozenset[str]] = {}
    # Each round's latest judgement, as the outcomes view takes its eligibility from.
    latest = """SELECT j.round_id, j.checks, j.failed_tests FROM judged j JOIN compares c USING (compare_id)
        WHERE c.generated_at = (SELECT MAX(c2.generated_at) FROM judged j2 JOIN compares c2 USING (compare_id)
                                WHERE j2.round_id = j.round_id)"""
    for j in conn.execute(latest):
        judged = _load(j["checks"])
        checks[j["round_id"]] = frozenset(failed_checks(judged))
        tests[j["round_id"]] = frozenset(_names(_load(j["failed_tests"]))) | frozenset(_check_tests(judged))
    return _Facts(failures, attempts, checks, tests)


def _load(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None  # an unreadable cell says nothing; it must not hide the rest of the history


def _names(value: Any) -> list[str]:
    """Names from a JSON list of names (or of objects with a name), or a {check: [names]} map."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [n for v in value.values() for n in _names(v)] if all(
            isinstance(v, list) for v in value.values()) else [str(k) for k in value]
    if isinstance(value, list):
        out: list[str] = []
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, Mapping) and isinstance(v.get("name"), str):
                out.append(v["name"])
        return out
    return []


def _failed(result: Any) -> bool:
    if isinstance(result, bool):
        return not result
    if isinstance(result, str):
        return result != "passed"
    if isinstance(result, Mapping):
        if "status" in result:
            return result["status"] != "passed"
        return result.get("ok", result.get("passed", True)) is False
    return False


def _check_tests(value: Any) -> list[str]:
    """The failing tests a judged row's checks name (CheckResult.failed_tests), beside its failed_tests."""
    found = value.values() if isinstance(value, Mapping) else value if isinstance(value, list) else []
    return [t for c in found if isinstance(c, Mapping) and isinstance(c.get("failed_tests"), list)
            for t in c["failed_tests"] if isinstance(t, str)]


def failed_checks(value: Any) -> list[str]:
    """The checks that did not pass in a judged row's `checks`: a list of CheckResult objects
    ({"name", "status"}), or a {name: status | {"status"...} | ok} map."""
    if isinstance(value, Mapping):
        return [str(name) for name, result in value.items() if _failed(result)]
    if isinstance(value, list):
        return [v["name"] for v in value
                if isinstance(v, Mapping) and isinstance(v.get("name"), str) and _failed(v)]
    return []


@dataclass(frozen=True)
class Gathered:
    insights: Insights | None  # None: no history in this repository yet
    note: str | None  # why the survival of adopted work was not looked at again, if it was not


def gather(layout: Layout, *, since: str | None = None) -> Gathered:
    """pe insights: look again at how adopted work survived (survival.check), then compute.

    The look writes the database; where it cannot be written (a read-only .pe/, a newer pe's
    schema) the insights come from what is there, and the note says so."""
    if not db.path(layout).is_file():
        return Gathered(None, None)
    note = None
    try:
        conn = db.open_for_writing(layout)
    except (PeError, sqlite3.Error, OSError) as exc:
        note = f"the history cannot be written here ({one_line(exc) or exc}): survival of adopted work not re-checked"
        found = db.open_for_reading(layout)
        if found is None:
            return Gathered(None, None)
        conn = found
    else:
        try:
            survival.check(layout, conn)
        except sqlite3.Error as exc:
            note = f"survival of adopted work not re-checked: {exc}"
    try:
        return Gathered(compute(conn, since=since), note)
    finally:
        conn.close()
