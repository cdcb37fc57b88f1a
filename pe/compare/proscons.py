"""Per approach, what the report says for and against it: what pe measured, apart from what the agent claims.

Pros and Cons hold only measured facts (a check, a failing test by name, the
bench, the diff, dependencies, the agent's runs), each "Measured: ...". What
the tree's RESULTS.md says (its design decisions, its trade-offs) is the
agent's claim: it goes to its own list, labelled as unverified, never among
the cons: a trade-off an agent lists ("about 2x faster than a full sort") may
well be a strength, and pe has not checked it either way.
"""

from __future__ import annotations

import re

from pe.compare.checks import CheckResult
from pe.compare.evidence import result_section
from pe.compare.rule import NOISE
from pe.compare.scoring import Comparison, Scored, name_list, within_noise
from pe.tree import usage

# How many failing tests are named under a check, and in a con, before "and N more".
CHECK_NAMES_MAX = 10
CON_NAMES_MAX = 5
CLAIM_SECTIONS = ("Key Design Decisions", "Trade-offs Made")
CLAIMS_TITLE = "**The agent says** (quoted from its RESULTS.md; not verified by pe)"


def bullets(text: str, limit: int = 3) -> list[str]:
    """The first list items of a RESULTS.md section, else its first sentence."""
    items = [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", ln).strip() for ln in text.splitlines()
             if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+\S", ln)]
    if not items and text.strip():
        items = [re.split(r"(?<=[.!?])\s", text.strip().replace("\n", " "), maxsplit=1)[0]]
    return [i if len(i) <= 200 else i[:197] + "..." for i in items[:limit]]


def claims(s: Scored) -> list[str]:
    """The agent's own account, quoted by section: shown apart from what pe measured."""
    return [f'From RESULTS.md ({name}): "{item}"' for name in CLAIM_SECTIONS
            for item in bullets(result_section(s.ev, name))]


def check_lines(s: Scored) -> list[str]:
    """Markdown list items: every check's result, its failing tests named under it."""
    ev = s.ev
    if not ev.done:
        return ["- _not run: the agent has not finished_"]
    if not ev.checks:
        return ["- _no check ran_"]
    out = []
    for ch in ev.checks:
        out.append(f"- {ch.name}: {ch.describe()} (log: {ch.log})")
        if ch.failed_tests:
            out.append(f"  - failing: {name_list(ch.failed_tests, CHECK_NAMES_MAX)}")
    return out


def _failing_con(ch: CheckResult) -> str:
    return f"Measured: fails {name_list(ch.failed_tests, CON_NAMES_MAX)} (check {ch.name})."


def _bench(s: Scored, c: Comparison, pros: list[str], cons: list[str]) -> None:
    ev = s.ev
    for name, per_tree in c.bench.items():
        if ev.tree not in per_tree or len(per_tree) < 2:
            continue
        value, factor = per_tree[ev.tree]
        # The bar is set by trees that pass every check; a failing tree may be fast because it is wrong.
        best_tree = min(per_tree, key=lambda t: (t not in c.bench_pool, per_tree[t][1]))
        best_value = per_tree[best_tree][0]
        check = ev.check(name)
        unit = (check.unit if check else "") or "s"
        times = "" if factor == float("inf") else f"{factor:.1f}x "
        if factor <= 1.0001 and ev.tree not in c.bench_pool:
            pros.append(f"Measured: {value:g}{unit} on {name}, but it does not pass every check.")
        elif factor <= 1.0001:
            pros.append(f"Measured: fastest on {name} ({value:g}{unit}).")
        elif within_noise(factor) and ev.tree in c.bench_pool:
            pros.append(f"Measured: as fast as {best_tree} on {name} within the {NOISE:.0%} noise band "
                        f"({value:g}{unit} vs {best_value:g}{unit}).")
        elif factor >= 1.25:
            cons.append(f"Measured: {times}slower than {best_tree} on {name} "
                        f"({value:g}{unit} vs {best_value:g}{unit}).")


def _cross(s: Scored, c: Comparison, pros: list[str], cons: list[str]) -> None:
    """The cross-tests, both ways: others' tests against this tree, and its tests against the others."""
    x = c.cross
    if x is None or not x.cells:
        return
    against = [cell for cell in x.cells if cell.target == s.tree and cell.ran]
    failed = [cell for cell in against if not cell.passed]
    for cell in failed:
        names = name_list(cell.failed_tests, CON_NAMES_MAX) if cell.failed_tests else "them"
        cons.append(f"Measured: fails {cell.source}'s tests ({names}).")
    if against and not failed:
        pros.append(f"Measured: passes every peer's tests ({', '.join(cell.source for cell in against)}).")
    caught = [cell.target for cell in x.cells if cell.source == s.tree and cell.ran and not cell.passed]
    if caught and any(src.name == s.tree and src.credible for src in x.sources):
        pros.append(f"Measured: its tests find failures in {' and '.join(caught)} that the project's checks miss.")


def pros_cons(s: Scored, c: Comparison) -> tuple[list[str], list[str]]:
    """What pe measured for and against one tree; RESULTS.md's claims are claims(), never here."""
    ev = s.ev
    pros: list[str] = []
    cons: list[str] = []
    done = [o.ev for o in c.finished]
    if not ev.done:
        cons.append(f"Measured: not finished ({ev.state}{': ' + ev.detail if ev.detail else ''}); no checks were run.")
    passed = [ch for ch in ev.checks if ch.ok]
    if ev.checks and len(passed) == len(ev.checks):
        # The checks' details are listed just above the pros; naming them is enough here.
        pros.append(f"Measured: every check passed ({', '.join(ch.name for ch in ev.checks)}).")
    for ch in ev.checks:
        if not ch.ok:
            cons.append(f"Measured: check {ch.name} {ch.describe()} (log: {ch.log}).")
            if ch.failed_tests:
                cons.append(_failing_con(ch))
    _cross(s, c, pros, cons)
    _bench(s, c, pros, cons)
    if ev.stat is not None and ev.done and len(done) > 1:
        sizes = [o.stat.lines for o in done if o.stat is not None]
        # The con measures against the trees the size part is scored against (those passing every
        # check, when any does), and names the one it means.
        bar = min((o for o in done if o.stat is not None and o.tree in c.bench_pool),
                  key=lambda o: (o.stat.lines if o.stat else 0, o.index), default=None)
        desc = f"{ev.stat.files} files, +{ev.stat.insertions}/-{ev.stat.deletions}"
        if ev.stat.lines == min(sizes):
            pros.append(f"Measured: smallest change ({desc}).")
        elif bar is not None and bar.stat is not None and bar.stat.lines and ev.stat.lines >= 2 * bar.stat.lines:
            cons.append(f"Measured: {ev.stat.lines / bar.stat.lines:.1f}x the lines of {bar.tree}'s change ({desc}).")
    if ev.deps.added:
        cons.append(f"Measured: adds dependencies: {ev.deps.describe_added()}.")
    if ev.deps.lockfiles:
        cons.append(f"Measured: changes lockfiles: {', '.join(ev.deps.lockfiles)}.")
    if ev.stat is not None and ev.done and not ev.deps.added and not ev.deps.lockfiles:
        pros.append("Measured: adds no dependency.")
    failed = [a for a in ev.history if a.agent_failure]
    if ev.done and failed:
        # Only the agent's own endings: a run pe's crash or the user cut short says nothing about the agent.
        cons.append(f"Measured: the agent needed {len(failed) + 1} runs ({usage.count(failed)}).")
    return pros, cons
