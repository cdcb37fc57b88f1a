"""--strategy=auto and --agent=auto: the mix of trees this repository's history argues for.

The rule, per tree slot of the default order (strategies: simple, performance, extensible,
innovative, cycling over count; agents: the manifest's agent, then every other preset the
history names), from query.Counts of this repository's tree rounds:

  - a strategy with fewer than MIN_RUNS runs keeps its place ("too few runs to judge: 2");
  - a strategy with at least MIN_RUNS runs, never adopted, and eligible less often than the
    other judged strategies together, is replaced by another tree of the best one: the
    highest adopted rate, then eligible rate, among those with at least MIN_RUNS runs;
  - every other strategy keeps its place;
  - no history, or none with MIN_RUNS runs: the default order, said in one line.

Ties go to the default order, so the same history always gives the same mix. Agents follow
the same rule, keyed by preset. The mix is chosen when the feature's trees are created and
written to its manifest (a rerun, pe resume and pe compare see the same trees); once trees
exist the manifest's mix stays, as a new one would redo their work.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pe.config.spec import Overrides
from pe.errors import PeError
from pe.history import query
from pe.history.query import MIN_RUNS, Counts
from pe.layout import Layout, tree_name

AUTO = "auto"


@dataclass(frozen=True)
class Mix:
    strategies: tuple[str, ...]  # one per tree, tree 1 first (agents, for by="agent")
    reasons: tuple[str, ...]  # one line per choice, or one line saying why the default
    from_history: bool


_NTH = ("a", "a second", "a third", "a fourth", "a fifth", "a sixth", "a seventh", "an eighth", "a ninth", "a tenth")


def _ordinal(n: int) -> str:
    return _NTH[n - 1] if 1 <= n <= len(_NTH) else "another"


def _key(by: str) -> Callable[[sqlite3.Row], str | None]:
    if by == "strategy":
        return query.strategy
    if by == "agent":
        return lambda r: r["agent"]  # the preset: what --agent names (a model is the manifest's business)
    raise ValueError(f"propose: by={by!r}")


def propose(conn: sqlite3.Connection | None, count: int, default: Sequence[str], *, by: str = "strategy") -> Mix:
    """The mix for `count` trees (the rule in the module doc); sqlite3.Error if the history cannot be read."""
    order = tuple(dict.fromkeys(default))
    if not order or count < 1:
        raise ValueError("propose: needs a default order and a count of at least 1")
    slots = tuple(order[i % len(order)] for i in range(count))
    noun = by
    if conn is None:
        return Mix(slots, (f"no history in this repository yet: the default order ({', '.join(slots)})",), False)
    counts = query.counts_by(query.outcomes(conn), _key(by))
    judged = {n: counts[n] for n in order if n in counts and counts[n].runs >= MIN_RUNS}
    if not judged:
        runs = sum(c.runs for c in counts.values())
        return Mix(slots, (f"history too thin to choose from ({runs} runs, no {noun} with {MIN_RUNS}): "
                           f"the default order ({', '.join(slots)})",), False)

    def rank(n: str) -> tuple[float, float, int]:
        c = judged[n]
        return (-(c.rate("adopted") or 0.0), -(c.rate("eligible") or 0.0), order.index(n))

    best = min(judged, key=rank)
    replace = [_loses(n, counts.get(n, Counts()), judged, best) for n in slots]
    chosen = tuple(best if r else n for n, r in zip(slots, replace, strict=True))
    reasons = []
    for i, (n, r) in enumerate(zip(slots, replace, strict=True)):
        c = counts.get(n, Counts())
        if c.runs < MIN_RUNS:
            reasons.append(f"{n}: too few runs to judge: {c.runs}; kept")
            continue
        facts = f"{n}: adopted {c.adopted} of {c.runs} times, eligible {c.eligible} of {c.runs}"
        if r:
            reasons.append(f"{facts}; replaced by {_ordinal(chosen[: i + 1].count(best))} {best} tree")
        else:
            reasons.append(f"{facts}; kept")
    return Mix(chosen, tuple(reasons), True)


def _loses(name: str, c: Counts, judged: dict[str, Counts], best: str) -> bool:
    """Never adopted in enough runs, and eligible less often than the other judged ones together."""
    others = [judged[m] for m in judged if m != name]
    if name == best or c.runs < MIN_RUNS or c.adopted or not others:
        return False
    return c.eligible / c.runs < sum(o.eligible for o in others) / sum(o.runs for o in others)


@dataclass(frozen=True)
class Auto:
    """--strategy=auto / --agent=auto resolved: the flags to use, what to print, what to write."""

    overrides: Overrides
    lines: tuple[str, ...] = ()
    rewrite: dict[str, Any] | None = None  # the existing manifest with the mix, written once the lock is held


def resolve(layout: Layout, name: str, ov: Overrides) -> Auto:
    """`ov` with 'auto' replaced by the mix the history proposes (nothing to do without 'auto')."""
    want_strategy, want_agent = ov.strategy == AUTO, ov.agent == AUTO
    if not (want_strategy or want_agent):
        return Auto(ov)
    from pe.config import manifest
    from pe.config.schema import preset_names
    from pe.config.strategies import BUILTIN

    if want_agent and ov.agent_command is not None:
        raise PeError("--agent=auto and --agent-command both name the agent: give one of them")
    exists = layout.manifest(name).is_file()
    data = manifest.read_manifest(layout, name) if exists else {}
    count = ov.count or (data["count"] if isinstance(data.get("count"), int) else manifest.DEFAULT_COUNT)
    flags = " ".join(f for f, on in (("--strategy=auto", want_strategy), ("--agent=auto", want_agent)) if on)
    if exists and any(layout.tree(tree_name(name, i)).exists() for i in range(1, count + 1)):
        return Auto(dataclasses.replace(ov, strategy=None if want_strategy else ov.strategy,
                                        agent=None if want_agent else ov.agent),
                    (f"{flags}: the trees of {name} exist: keeping the mix features/{name}.yaml gives them "
                     f"(pe cleanup --feature={name}, then {flags}, to choose again)",))
    custom = [s["name"] for s in data.get("strategies", []) if isinstance(s, dict) and "name" in s]
    own = _preset(data.get("agent")) or manifest.DEFAULT_AGENT
    lines: list[str] = []
    strategy, agent = ov.strategy, ov.agent
    conn, unreadable = _open(layout)
    try:
        if want_strategy:
            m = _propose(conn, unreadable, count, [*BUILTIN, *custom], "strategy")
            strategy = ",".join(m.strategies)
            lines += [f"--strategy=auto: {', '.join(m.strategies)}", *(f"  {r}" for r in m.reasons)]
        if want_agent:
            known = [p for p in _presets_seen(conn) if p in preset_names() and p != own and p != "command"]
            m = _propose(conn, unreadable, count, [own, *known], "agent")
            agent = _agent_flag(m.strategies)
            lines += [f"--agent=auto: {', '.join(m.strategies)}", *(f"  {r}" for r in m.reasons)]
    finally:
        if conn is not None:
            conn.close()
    chosen = dataclasses.replace(ov, strategy=strategy, agent=agent)
    rewrite = None
    if exists:
        from pe.config.overrides import apply_overrides

        rewrite = apply_overrides(data, Overrides(count=ov.count, strategy=strategy if want_strategy else None,
                                                  agent=agent if want_agent else None), preset_names())
    return Auto(chosen, tuple(lines), rewrite)


def _open(layout: Layout) -> tuple[sqlite3.Connection | None, str]:
    from pe.history import db

    try:
        return db.open_for_reading(layout), ""
    except sqlite3.Error as exc:
        return None, str(exc)


def _propose(conn: sqlite3.Connection | None, unreadable: str, count: int, default: Sequence[str], by: str) -> Mix:
    try:
        if not unreadable:
            return propose(conn, count, default, by=by)
    except sqlite3.Error as exc:
        unreadable = str(exc)
    m = propose(None, count, default, by=by)
    return dataclasses.replace(m, reasons=(f"the history could not be read ({unreadable}): the default order "
                                           f"({', '.join(m.strategies)})",))


def _presets_seen(conn: sqlite3.Connection | None) -> list[str]:
    if conn is None:
        return []
    try:
        rows = conn.execute("SELECT agent FROM trees WHERE agent IS NOT NULL GROUP BY agent ORDER BY MIN(created_at)")
        return [str(r[0]) for r in rows]
    except sqlite3.Error:
        return []  # _propose says the history could not be read


def _preset(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("preset"), str):
        return str(entry["preset"])
    return None


def _agent_flag(agents: Sequence[str]) -> str:
    """The --agent value for one agent per tree: 'claude', or 'claude:2,codex:1' (runs in tree order)."""
    if len(set(agents)) == 1:
        return agents[0]
    groups: list[list[Any]] = []
    for a in agents:
        if groups and groups[-1][0] == a:
            groups[-1][1] += 1
        else:
            groups.append([a, 1])
    return ",".join(f"{a}:{n}" for a, n in groups)


def save(layout: Layout, auto: Auto) -> None:
    """Once the lock is held: write the existing manifest with the mix; print why this mix, one line each."""
    if auto.rewrite is not None:
        from pe.config import edit

        path = edit.write(layout, auto.rewrite)  # the user's comments kept
        print(f"wrote the mix to {path.relative_to(layout.root)} (check it in)")
    for line in auto.lines:
        print(line)
