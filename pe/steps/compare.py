"""compare:<feature>: IMPLEMENTATION_COMPARISON.md, every claim backed by evidence.

The report has the seed's shape: Summary; per approach Pros and Cons;
Performance considerations; Recommendation. Each pro and con is a measured
fact (a check, the diff, dependencies, the agent's run) or a quote from the
tree's RESULTS.md, labelled as such. A metrics table covers every tree, and
the scoring rule that produced the ranking is printed in the report. The raw
evidence goes to reports/<feature>/evidence.json.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pe.compare.checks import CheckResult
from pe.compare.evidence import (
    SCORING_RULE,
    TreeEvidence,
    bench_pool,
    bench_value,
    gather,
    ranking,
    recommended,
    result_section,
)
from pe.config.spec import Feature
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.tree.usage import tokens_cell
from pe.util import now_iso

REPORT = "IMPLEMENTATION_COMPARISON.md"
EVIDENCE = "evidence.json"
_QUOTE_MAX = 600


def _bullets(text: str, limit: int = 3) -> list[str]:
    """The first list items of a RESULTS.md section, else its first sentence."""
    items = [re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", ln).strip() for ln in text.splitlines()
             if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+\S", ln)]
    if not items and text.strip():
        items = [re.split(r"(?<=[.!?])\s", text.strip().replace("\n", " "), maxsplit=1)[0]]
    return [i if len(i) <= 200 else i[:197] + "..." for i in items[:limit]]


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) > _QUOTE_MAX:
        text = text[:_QUOTE_MAX].rsplit(" ", 1)[0] + " [...]"
    return "\n".join("> " + ln if ln else ">" for ln in text.splitlines())


def _secs(v: float | None) -> str:
    return "" if v is None else (f"{v:.1f}s" if v < 100 else f"{v / 60:.0f}m")


def _factor(best: float, value: float, higher: bool) -> float:
    """How many times worse than the best (1.0 = the best); a zero best makes any other value infinitely worse."""
    worse, better = (best, value) if higher else (value, best)
    if worse == better:
        return 1.0
    return worse / better if better > 0 else float("inf")


def _fx(factor: float) -> str:
    return "best" if factor == 1.0 else ("worse than a zero best" if factor == float("inf") else f"{factor:.2f}x")


def _bench_lines(found: list[TreeEvidence]) -> dict[str, dict[str, tuple[float, float]]]:
    """bench check -> tree -> (value, factor against the best); only trees whose bench passed."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for name in sorted({c.name for ev in found for c in ev.checks if c.kind == "bench"}):
        values = {ev.tree: v for ev in found if (c := ev.check(name)) and (v := bench_value(c)) is not None}
        pool = [v for ev in bench_pool(found) if (v := values.get(ev.tree)) is not None] or list(values.values())
        if not pool:
            continue
        higher = any(c.higher_is_better for ev in found if (c := ev.check(name)))
        best = max(pool) if higher else min(pool)
        out[name] = {t: (v, _factor(best, v, higher)) for t, v in values.items()}
    return out


def _pros_cons(ev: TreeEvidence, found: list[TreeEvidence]) -> tuple[list[str], list[str]]:
    pros: list[str] = []
    cons: list[str] = []
    done = [o for o in found if o.done]
    if not ev.done:
        cons.append(f"Measured: not finished ({ev.state}{': ' + ev.detail if ev.detail else ''}); no checks were run.")
    passed = [c for c in ev.checks if c.ok]
    if ev.checks and len(passed) == len(ev.checks):
        pros.append("Measured: every check passed: " + "; ".join(f"{c.name} ({c.describe()})" for c in ev.checks) + ".")
    for c in ev.checks:
        if not c.ok:
            cons.append(f"Measured: check {c.name} {c.describe()} (log: {c.log}).")
    eligible = {o.tree for o in bench_pool(found)}
    for name, per_tree in _bench_lines(found).items():
        if ev.tree not in per_tree or len(per_tree) < 2:
            continue
        value, factor = per_tree[ev.tree]
        # The bar is set by trees that pass every check; a failing tree may be fast because it is wrong.
        best_tree = min(per_tree, key=lambda t: (t not in eligible, per_tree[t][1]))
        check = ev.check(name)
        unit = (check.unit if check else "") or "s"
        times = "" if factor == float("inf") else f"{factor:.1f}x "
        if factor <= 1.0001 and ev.tree not in eligible:
            pros.append(f"Measured: {value:g}{unit} on {name}, but it does not pass every check.")
        elif factor <= 1.0001:
            pros.append(f"Measured: fastest on {name} ({value:g}{unit}).")
        elif factor >= 1.25:
            cons.append(f"Measured: {times}slower than {best_tree} on {name} "
                        f"({value:g}{unit} vs {per_tree[best_tree][0]:g}{unit}).")
    if ev.stat is not None and ev.done and len(done) > 1:
        sizes = [o.stat.lines for o in done if o.stat is not None]
        desc = f"{ev.stat.files} files, +{ev.stat.insertions}/-{ev.stat.deletions}"
        if ev.stat.lines == min(sizes):
            pros.append(f"Measured: smallest change ({desc}).")
        elif min(sizes) and ev.stat.lines >= 2 * min(sizes):
            cons.append(f"Measured: {ev.stat.lines / min(sizes):.1f}x the lines of the smallest change ({desc}).")
    if ev.deps.added:
        cons.append(f"Measured: adds dependencies: {ev.deps.describe_added()}.")
    if ev.deps.lockfiles:
        cons.append(f"Measured: changes lockfiles: {', '.join(ev.deps.lockfiles)}.")
    if ev.stat is not None and ev.done and not ev.deps.added and not ev.deps.lockfiles:
        pros.append("Measured: adds no dependency.")
    if ev.attempts > 1:
        cons.append(f"Measured: the agent needed {ev.attempts} runs.")
    for item in _bullets(result_section(ev, "Key Design Decisions")):
        pros.append(f'From RESULTS.md (Key Design Decisions): "{item}"')
    for item in _bullets(result_section(ev, "Trade-offs Made")):
        cons.append(f'From RESULTS.md (Trade-offs Made): "{item}"')
    return pros, cons


def _check_cell(c: CheckResult) -> str:
    cell = "pass" if c.ok else c.status.upper()
    if c.counts:
        cell += f" {c.counts.passed}/{c.counts.total}"
    return cell + (f" {c.metric:g}{c.unit}" if c.metric is not None else f" {c.duration_s:.2f}s")


def _metrics(found: list[TreeEvidence]) -> str:
    from tabulate import tabulate

    names = list(dict.fromkeys(c.name for ev in found for c in ev.checks))
    rows = []
    for pos, ev in enumerate(ranking(found), 1):
        cells: list[Any] = [pos, ev.tree, ev.strategy, ev.agent + (f" ({ev.model})" if ev.model else ""), ev.state]
        for name in names:
            c = ev.check(name)
            cells.append(_check_cell(c) if c is not None else "")
        s = ev.stat
        deps = ", ".join(n for n, _ in ev.deps.added) or ("lockfile" if ev.deps.lockfiles else "none")
        score = "" if ev.score is None else f"{ev.score:.1f}" + ("" if ev.eligible else " (not eligible)")
        cells += [s.files if s else "", f"+{s.insertions}/-{s.deletions}" if s else "", deps if s else "",
                  _secs(ev.agent_time_s), ev.usage.turns if ev.usage.turns is not None else "",
                  tokens_cell(ev.usage), score]
        rows.append(cells)
    headers = ["rank", "tree", "strategy", "agent", "state", *names, "files", "lines", "new deps", "agent time",
               "turns", "tokens/cost", "score"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _summary(feature: Feature, found: list[TreeEvidence], best: TreeEvidence | None) -> str:
    done = [ev for ev in found if ev.done]
    lines = [f"{len(found)} trees of `{feature.name}`; {len(done)} finished."]
    if best is not None:
        lines.append(f"Recommended: **{best.tree}** ({best.strategy}), score {best.score:.1f}/100, "
                     "the best eligible tree under the scoring rule below.")
    else:
        lines.append("**No tree is recommended**: none finished with every check passing.")
    for ev in found:
        if ev.done and not ev.eligible:
            lines.append(f"{ev.tree} ({ev.strategy}) fails its checks and is not recommended: {'; '.join(ev.why_not)}.")
        elif not ev.done:
            lines.append(f"{ev.tree} ({ev.strategy}) did not finish ({ev.state}).")
    return " ".join(lines)


def _recommendation(feature: Feature, found: list[TreeEvidence], best: TreeEvidence | None) -> list[str]:
    out = []
    if best is not None:
        out += [f"**{best.tree}** ({best.strategy} strategy), score {best.score:.1f} of 100 "
                f"({', '.join(f'{k} {v:g}' for k, v in best.parts.items())}).", "",
                f"Adopt it with `pe adopt --feature={feature.name} --tree={best.tree}`.", ""]
    else:
        top = next((ev for ev in ranking(found) if ev.score is not None), None)
        out += ["**No tree is recommended.** No tree finished with every check passing."]
        if top is not None:
            out += ["", f"The highest score, {top.score:.1f}, is {top.tree}'s, and it is NOT recommended: "
                    + "; ".join(top.why_not) + "."]
        out += ["", f"Fix the failures (e.g. `pe resume --feature={feature.name} --context=\"...\"`), "
                "then compare again.", ""]
    others = [ev for ev in ranking(found) if ev is not best]
    if others:
        out.append("Not recommended:")
        for ev in others:
            why = "; ".join(ev.why_not) if ev.why_not else f"lower score ({ev.score:.1f})"
            out.append(f"- {ev.tree} ({ev.strategy}): {why}.")
        out.append("")
    return out


def render(feature: Feature, found: list[TreeEvidence], judge: str | None = None) -> str:
    best = recommended(found)
    base = next((ev.base_sha for ev in found if ev.base_sha), None)
    check_names = list(dict.fromkeys(c.name for ev in found for c in ev.checks))
    out = [f"# Implementation comparison: {feature.name}", "",
           f"_Generated {now_iso()} by `pe compare` from the trees' branches against base "
           f"{(feature.base or 'the current branch')} ({(base or '?')[:12]}); checks: "
           f"{', '.join(check_names) or 'none configured (add checks: to the manifest)'}._", "",
           "## Summary", "", _summary(feature, found, best), "", "## Metrics", "", _metrics(found), "",
           "Lines and files exclude RESULTS.md and PROGRESS.md. Check cells: result, test counts, then the "
           "metric or duration. Raw evidence: evidence.json; check logs under .pe/checks/.", "", "## Approaches", ""]
    for ev in sorted(found, key=lambda e: e.index):
        out += [f"### {ev.tree} ({ev.strategy})", ""]
        summary = result_section(ev, "Approach Summary")
        out += [_quote(summary) if summary else "_No RESULTS.md approach summary._", ""]
        pros, cons = _pros_cons(ev, found)
        out += ["**Pros**", "", *([f"- {p}" for p in pros] or ["- _none measured_"]), ""]
        out += ["**Cons**", "", *([f"- {c}" for c in cons] or ["- _none measured_"]), ""]
        for name in ("Files Created/Modified", "Testing Strategy"):
            items = _bullets(result_section(ev, name), limit=6)
            if items:
                out += [f"{name} (from RESULTS.md): " + "; ".join(items), ""]
    out += ["## Performance considerations", ""]
    benches = _bench_lines(found)
    if not benches:
        out += ["_No bench check ran (add e.g. `checks: {bench: {command: [...], metric: 'time: ([0-9.]+)'}}`)._", ""]
    for name, per_tree in benches.items():
        out.append(f"- {name}: " + ", ".join(f"{t} {v:g} ({_fx(f)})" for t, (v, f) in
                                              sorted(per_tree.items(), key=lambda kv: kv[1][1])))
    out.append("")
    for ev in sorted(found, key=lambda e: e.index):
        text = result_section(ev, "Performance Considerations")
        if text:
            out += [f"{ev.tree}, from its RESULTS.md:", "", _quote(text), ""]
    out += ["## Recommendation", "", *_recommendation(feature, found, best)]
    out += ["## Scoring rule", "", "```text", SCORING_RULE, "```", ""]
    if judge is not None:
        out += [judge.rstrip(), ""]
    return "\n".join(out)


def evidence_json(feature: Feature, found: list[TreeEvidence]) -> dict[str, Any]:
    best = recommended(found)
    return {"feature": feature.name, "generated_at": now_iso(), "rule": SCORING_RULE,
            "recommended": best.tree if best else None, "ranking": [ev.tree for ev in ranking(found)],
            "trees": [ev.to_json() for ev in sorted(found, key=lambda e: e.index)]}


def build(layout: Layout, feature: Feature, *, run_checks: bool = True, jobs: int | None = None,
          judge: Callable[[Path, list[TreeEvidence]], str] | None = None) -> tuple[Path, list[TreeEvidence]]:
    """Gather, write evidence.json and the report; the report's path and the evidence."""
    found = gather(layout, feature, run_checks=run_checks, jobs=jobs)
    out_dir = layout.reports(feature.name)
    write_atomic(out_dir / EVIDENCE, json.dumps(evidence_json(feature, found), indent=2) + "\n")
    report = out_dir / REPORT
    text = render(feature, found)
    write_atomic(report, text)
    if judge is not None:
        # The judge reads the finished report and evidence; its narrative gets its own section.
        write_atomic(report, render(feature, found, judge(report, found)))
    return report, found


def write_report(layout: Layout, feature: Feature) -> Path:
    """The compare:<feature> task: checks, evidence and the report, no judge."""
    return build(layout, feature)[0]
