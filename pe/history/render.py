"""pe insights as a reader sees it: a table per dimension, then where runs fail.

Every cell says how many runs it rests on: a rate is "6 of 9 (67%)", and below MIN_RUNS the
counts alone ("2 of 4"), so a reader never takes two adoptions of three for a trend.
"""

from __future__ import annotations

from collections.abc import Sequence

from pe import util
from pe.history.insights import Average, Group, Insights, PerAdopted, Rate, Tally

HEADERS = ("runs", "completed", "eligible", "recommended", "adopted", "lines surviving",
           "agent time (median)", "cost (median)", "cost per adopted")
SHOWN = 5  # entries per list line


def _rate(r: Rate) -> str:
    return f"{r.count} of {r.of}" + (f" ({r.rate:.0%})" if r.rate is not None else "")


def _survival(a: Average) -> str:
    if a.value is not None:
        return f"{a.value:.0%} of {a.n} checked"
    return f"{a.n} checked" if a.n else ""


def _median(a: Average, money: bool) -> str:
    if a.value is None:
        return ""
    shown = f"${a.value:.2f}" if money else util.format_duration(a.value)
    return f"{shown} ({a.n})"


def _per_adopted(p: PerAdopted) -> str:
    if p.value is not None:
        return f"${p.value:.2f} ({p.adopted} adopted)"
    if not p.priced:
        return ""
    return f"${p.total_usd:.2f} total, {p.adopted} adopted"


def _row(g: Group) -> list[str]:
    return [util.printable(g.key), str(g.counts.runs), _rate(g.completion), _rate(g.eligibility),
            _rate(g.recommended), _rate(g.adopted), _survival(g.survival), _median(g.agent_s, money=False),
            _median(g.cost_usd, money=True), _per_adopted(g.cost_per_adopted)]


def _table(title: str, groups: Sequence[Group]) -> list[str]:
    from pe.util import tabulate  # only for the text, not for --json

    if not groups:
        return []
    body = tabulate([_row(g) for g in groups], headers=(title, *HEADERS), disable_numparse=True)
    return [body, ""]


def _tallies(items: Sequence[Tally], of: str, verb: str = "") -> str:
    # Test names and failure reasons come from agents' output: no escape sequence reaches the terminal.
    shown = [f"{util.printable(t.name)}{verb} {t.count} of {t.of}" for t in items[:SHOWN]]
    more = f", {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(shown) + f" {of}" + more


def _failing(g: Group, heading: str) -> list[str]:
    lines = []
    if g.failures:
        lines.append("  failures: " + _tallies(g.failures, "attempts"))
    if g.failing_checks:
        lines.append("  checks:   " + _tallies(g.failing_checks, "judged rounds", " failed"))
    if g.failing_tests:
        lines.append("  tests:    " + _tallies(g.failing_tests, "judged rounds", " failed"))
    if g.failing_setups:
        lines.append("  setups:   " + _tallies(g.failing_setups, "rounds that used it", " failed"))
    return [f"{heading}:", *lines] if lines else []


def text(ins: Insights) -> str:
    since = f" since {ins.since}" if ins.since else ""
    out = [f"{ins.rounds} tree rounds{since}, {ins.total.counts.runs} whose agent ran. "
           f"A rate needs {ins.min_runs} runs; below that, the counts alone.", ""]
    out += _table("strategy", ins.strategies)
    out += _table("agent", ins.agents)
    out += _table("strategy + agent", ins.pairs)
    failing = _failing(ins.total, "all rounds")
    for dimension, groups in (("strategy", ins.strategies), ("agent", ins.agents)):
        if len(groups) > 1:  # with one group, its lines are the total's again
            for g in groups:
                failing += _failing(g, f"{dimension} {util.printable(g.key)}")
    if failing:
        out += ["Where runs failed", *failing]
    else:
        out.append("No recorded failures: no failed attempt, check, test or setup.")
    return "\n".join(out).rstrip()
