"""What pe compare tells people: the Comparison rendered as the report, evidence.json, --json and terminal lines.

The report has the seed's shape: Summary; per approach its checks (failing
tests by name), Pros and Cons, and what the agent says; Performance
considerations; Recommendation. Pros and cons are measured facts only
(pe.compare.proscons); quotes from the tree's RESULTS.md are the agent's
claims and are labelled so, apart from them. A metrics table covers every tree, and
the scoring rule that produced the ranking is printed in the report. The raw
evidence goes to reports/<feature>/evidence.json. Every renderer reads one
Comparison and derives no verdict of its own.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pe.compare.checks import CheckResult
from pe.compare.evidence import TreeEvidence, gather, result_section
from pe.compare.proscons import CLAIMS_TITLE, bullets, check_lines, claims, pros_cons
from pe.compare.rule import NOISE
from pe.compare.scoring import Comparison, Scored, name_list, rank, within_noise
from pe.compare.verdict import JudgeOutcome
from pe.config.spec import AgentSpec, Feature
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.tree import usage
from pe.tree.usage import tokens_cell
from pe.util import printable

REPORT = "IMPLEMENTATION_COMPARISON.md"
_QUOTE_MAX = 600

# The judge: given the written report and the verdict, its section of the report and its vote.
Judge = Callable[[Path, Comparison], JudgeOutcome]


def _quote(text: str) -> str:
    text = text.strip()
    if len(text) > _QUOTE_MAX:
        text = text[:_QUOTE_MAX].rsplit(" ", 1)[0] + " [...]"
    return "\n".join("> " + ln if ln else ">" for ln in text.splitlines())


def _secs(v: float | None) -> str:
    # A check's time: tenths of a second count when comparing trees (util.format_duration rounds to 1 s).
    return "" if v is None else (f"{v:.1f}s" if v < 100 else f"{v / 60:.0f}m")


def _fx(factor: float) -> str:
    if factor == 1.0:
        return "best"
    if factor == float("inf"):
        return "worse than a zero best"
    if factor < 1.0:  # only a tree outside the pool can beat the pool's best
        return f"{factor:.2f}x: better than the best tree that passes every check"
    return f"{factor:.2f}x" + (f", within {NOISE:.0%}: counted as the best" if within_noise(factor) else "")


def _runs(ev: TreeEvidence) -> str:
    """'Agent runs (measured): 3 attempts: 1 stopped when pe died, ...'; '' before the first run."""
    if not ev.history:
        return ""
    line = f"Agent runs (measured): {usage.describe(ev.history)}"
    if ev.agent_time_s is not None:
        line += f"; {_secs(ev.agent_time_s)} of agent time in all"
    if any(not a.against_agent for a in ev.history):
        line += ". Only the runs the agent ended itself are held against it"
    return line + "."


def _check_cell(c: CheckResult) -> str:
    cell = "pass" if c.ok else c.status.upper()
    if c.counts:
        cell += f" {c.counts.passed}/{c.counts.total}"
    return cell + (f" {c.metric:g}{c.unit}" if c.metric is not None else f" {c.duration_s:.2f}s")


def _metrics(c: Comparison) -> str:
    # Imported here: tabulate is only needed when a report is written.
    from pe.util import tabulate

    rows = []
    for s in c.trees:
        ev = s.ev
        cells: list[Any] = [s.rank, ev.tree, ev.strategy, ev.agent + (f" ({ev.model})" if ev.model else ""), ev.state]
        for name in c.check_names:
            ch = ev.check(name)
            cells.append(_check_cell(ch) if ch is not None else "")
        st = ev.stat
        deps = ", ".join(n for n, _ in ev.deps.added) or ("lockfile" if ev.deps.lockfiles else "none")
        score = "" if s.score is None else f"{s.score:.1f}" + ("" if s.eligible else " (not eligible)")
        cells += [st.files if st else "", f"+{st.insertions}/-{st.deletions}" if st else "", deps if st else "",
                  _secs(ev.agent_time_s), ev.usage.turns if ev.usage.turns is not None else "",
                  tokens_cell(ev.usage), score]
        rows.append(cells)
    headers = ["rank", "tree", "strategy", "agent", "state", *c.check_names, "files", "lines", "new deps",
               "agent time", "turns", "tokens/cost", "score"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _cross(c: Comparison) -> list[str]:
    """The cross-test matrix: whose tests (rows) against whose commit (columns), and what counted."""
    x = c.cross
    if x is None:
        return []
    out = ["## Cross-tests", ""]
    if x.plan is not None and x.plan.get("why"):
        wrote = any(s.name == "plan" for s in x.sources)
        out += [f"Tests from the plan ({x.plan.get('preset')}): " + ("" if wrote else "none: ")
                + f"{x.plan['why']}.", ""]
    if x.plan is not None and x.plan.get("copies"):
        out += [f"The tests written from the plan: {x.plan['copies']}/; the agent's log: {x.plan['log']}.", ""]
    if not x.cells:
        return [*out, f"_Not run: {x.note}._" if x.note else "_Not run._", ""]
    from pe.util import tabulate  # (as in _metrics)

    rows = []
    for s in x.sources:
        a = x.agreement(s)
        row: list[Any] = [s.name, len(s.files)]
        for t in x.targets:
            cell = x.cell(s.name, t)
            if t == s.name:
                row.append("(own)")
            elif cell is None:
                row.append("-")
            elif not cell.ran:
                row.append("not run")
            else:
                row.append("pass" if cell.passed else f"FAIL {cell.failures}")
        row.append("yes" if s.credible and s.files and a.agreed else ("no" if s.credible and s.files else "-"))
        row.append(s.why)
        rows.append(row)
    out += [tabulate(rows, headers=["tests of", "files", *x.targets, "agreed", "note"], tablefmt="github",
                     disable_numparse=True), ""]
    out.append("Rows: whose new or changed test files; columns: the commit they ran against, with the test "
               f"checks ({', '.join(x.checks)}). Logs under .pe/checks/<tree>/.cross/<source>/.")
    for cell in x.cells:
        if cell.ran and not cell.passed and cell.failed_tests:
            out.append(f"- {cell.target} fails {cell.source}'s {name_list(cell.failed_tests, 5)}")
        elif not cell.ran and cell.why:
            out.append(f"- {cell.source}'s tests against {cell.target}: {cell.why}")
    return [*out, ""]


def _summary(c: Comparison) -> str:
    best = c.recommended
    lines = [f"{len(c.trees)} trees of `{c.feature}`; {len(c.finished)} finished."]
    if best is not None:
        lines.append(f"Recommended: **{best.tree}** ({best.strategy}), score {best.score:.1f}/100, "
                     "the best eligible tree under the scoring rule below.")
        if c.tie_break:
            lines.append(c.tie_break + ".")
    else:
        lines.append("**No tree is recommended**: none finished with every check passing.")
    if c.synthesis:
        lines.append(c.synthesis + ".")
    for s in c.by_index:
        if s.ev.done and not s.eligible:
            lines.append(f"{s.tree} ({s.strategy}) is not recommended: {'; '.join(s.why_not)}.")
        elif not s.ev.done:
            lines.append(f"{s.tree} ({s.strategy}) did not finish ({s.ev.state}).")
    return " ".join(lines)


def _recommendation(c: Comparison) -> list[str]:
    best = c.recommended
    out = []
    if best is not None:
        out += [f"**{best.tree}** ({best.strategy} strategy), score {best.score:.1f} of 100 "
                f"({', '.join(f'{k} {v:g}' for k, v in best.parts.items())}).", "",
                f"Adopt it with `pe adopt --feature={c.feature} --tree={best.tree}`.", ""]
        if c.tie_break:
            out += [c.tie_break + " (the scoring rule's tie-breaks).", ""]
        if c.synthesis:
            out += [c.synthesis + ".", ""]
    else:
        top = next((s for s in c.trees if s.score is not None), None)
        out += ["**No tree is recommended.** No tree finished with every check passing."]
        if top is not None:
            out += ["", f"The highest score, {top.score:.1f}, is {top.tree}'s, and it is NOT recommended: "
                    + "; ".join(top.why_not) + "."]
        out += ["", f"Fix the failures (e.g. `pe resume --feature={c.feature} --context=\"...\"`), "
                "then compare again.", ""]
    others = [s for s in c.trees if s is not best]
    if others:
        out.append("Not recommended:")
        for s in others:
            if s.why_not:
                why = "; ".join(s.why_not)
            elif best is not None and s.score == best.score:
                why = f"the same score ({s.score:.1f}), ranked below by the tie-breaks"
            else:
                why = f"lower score ({s.score:.1f})"
            out.append(f"- {s.tree} ({s.strategy}): {why}.")
        out.append("")
    return out


def render_markdown(c: Comparison, judge: str | None = None) -> str:
    """IMPLEMENTATION_COMPARISON.md; `judge` is the judge's section, appended last."""
    out = [f"# Implementation comparison: {c.feature}", "",
           f"_Generated {c.generated_at} by `pe compare` from the trees' branches against base "
           f"{(c.base or 'the current branch')} ({(c.base_sha or '?')[:12]}); checks: "
           f"{', '.join(c.check_names) or 'none configured (add checks: to the manifest)'}._", "",
           "## Summary", "", _summary(c), "", "## Metrics", "", _metrics(c), "",
           "Lines and files exclude RESULTS.md and PROGRESS.md. Check cells: result, test counts, then the "
           "metric or duration. Raw evidence: evidence.json; check logs under .pe/checks/.", "", *_cross(c),
           "## Approaches", ""]
    for s in c.by_index:
        out += [f"### {s.tree} ({s.strategy})", ""]
        summary = result_section(s.ev, "Approach Summary")
        out += ["The agent's summary, from its RESULTS.md:", "", _quote(summary)] if summary else \
            ["_No RESULTS.md approach summary._"]
        out.append("")
        runs = _runs(s.ev)
        if runs:
            out += [runs, ""]
        pros, cons = pros_cons(s, c)
        out += ["**Checks** (measured)", "", *check_lines(s), ""]
        out += ["**Pros** (measured)", "", *([f"- {p}" for p in pros] or ["- _none measured_"]), ""]
        out += ["**Cons** (measured)", "", *([f"- {x}" for x in cons] or ["- _none measured_"]), ""]
        said = claims(s)
        if said:
            out += [CLAIMS_TITLE, "", *(f"- {x}" for x in said), ""]
        for name in ("Files Created/Modified", "Testing Strategy"):
            items = bullets(result_section(s.ev, name), limit=6)
            if items:
                out += [f"{name} (from RESULTS.md): " + "; ".join(items), ""]
    out += ["## Performance considerations", ""]
    if not c.bench:
        out += ["_No bench check ran (add e.g. `checks: {bench: {command: [...], metric: 'time: ([0-9.]+)'}}`)._", ""]
    for name, per_tree in c.bench.items():
        out.append(f"- {name}: " + ", ".join(f"{t} {v:g} ({_fx(f)})" for t, (v, f) in
                                              sorted(per_tree.items(), key=lambda kv: kv[1][1])))
    out.append("")
    for s in c.by_index:
        text = result_section(s.ev, "Performance Considerations")
        if text:
            out += [f"{s.tree}, from its RESULTS.md (the agent's claim, not verified by pe):", "", _quote(text), ""]
    out += ["## Recommendation", "", *_recommendation(c)]
    out += ["## Scoring rule", "", "```text", c.rule, "```", ""]
    if judge is not None:
        out += [judge.rstrip(), ""]
    return "\n".join(out)


def tree_json(s: Scored) -> dict[str, Any]:
    """One tree in evidence.json: its evidence, then the rule's verdict on it."""
    return {**s.ev.to_json(), "eligible": s.eligible, "why_not": list(s.why_not), "score": s.score,
            "score_parts": dict(s.parts)}


def evidence_json(c: Comparison) -> dict[str, Any]:
    """evidence.json's content (also what --json prints), as plain JSON values.

    Round-tripped through json so that it equals what is written and printed: a tuple in the
    evidence (CheckResult.failed_tests) would otherwise compare unequal to the list read back.
    """
    return json.loads(json.dumps(_evidence(c)))


def _evidence(c: Comparison) -> dict[str, Any]:
    return {"feature": c.feature, "generated_at": c.generated_at, "rule": c.rule,
            "recommended": c.recommended.tree if c.recommended else None, "tie_break": c.tie_break,
            "ranking": [s.tree for s in c.trees],
            "trees": [tree_json(s) for s in c.by_index],
            "cross_tests": c.cross.to_json() if c.cross is not None else None,
            "judge": dict(c.judge) if c.judge is not None else None, "synthesis": c.synthesis}


def json_text(c: Comparison) -> str:
    """The --json output: evidence.json's text, without its final newline."""
    return json.dumps(_evidence(c), indent=2)


def summary_lines(c: Comparison, report: Path, root: Path) -> list[str]:
    """pe compare's terminal output: the ranking, the recommendation, where the report is."""
    lines = []
    for s in c.trees:
        checks = ", ".join(f"{ch.name} {'ok' if ch.ok else ch.status.upper()}" for ch in s.ev.checks) or "no checks"
        peers = [cell for cell in c.cross.cells if cell.target == s.tree and cell.ran] if c.cross else []
        if peers:
            checks += f", peers' tests {sum(cell.passed for cell in peers)}/{len(peers)}"
        score = "" if s.score is None else f"score {s.score:5.1f}"
        flag = "" if s.eligible else "  NOT eligible: " + "; ".join(s.why_not)
        lines.append(f"{s.rank}. {s.tree:<20} {s.strategy:<12} {score:<11} {checks}{flag}")
    best = c.recommended
    if c.tie_break:
        lines.append(c.tie_break)
    if c.synthesis:
        lines.append(printable(c.synthesis))
    lines.append("")
    if best is not None:
        lines.append(f"recommended: {best.tree} ({best.strategy}), score {best.score:.1f}; "
                     f"adopt with: pe adopt --feature={c.feature} --tree={best.tree}")
    else:
        lines.append("no tree is recommended: none finished with every check passing")
    lines.append(f"report: {report.relative_to(root)}")
    return lines


def judge_facts(c: Comparison, layout: Layout) -> dict[str, str]:
    """What the judge's prompt states about the comparison (pe.compare.judge.PROMPT's fields)."""
    best = c.recommended
    return {
        "feature": c.feature, "count": str(len(c.trees)),
        "trees": ", ".join(f"`{layout.tree(s.tree)}` ({s.strategy})" for s in c.by_index),
        "recommended": best.tree if best else "none (no tree passed every check)",
    }


def build(layout: Layout, feature: Feature, *, run_checks: bool = True, jobs: int | None = None,
          judge: Judge | None = None, cross_tests: bool = True,
          plan_tests: AgentSpec | None = None) -> tuple[Comparison, Path]:
    """gather -> rank -> evidence.json and the report; the verdict and the report's path."""
    got = gather(layout, feature, run_checks=run_checks, jobs=jobs, cross_tests=cross_tests, plan_tests=plan_tests)
    c = rank(feature, got.trees, cross=got.cross)
    write_atomic(layout.evidence(feature.name), json_text(c) + "\n")
    report = layout.reports(feature.name) / REPORT
    write_atomic(report, render_markdown(c))
    if judge is not None:
        # The judge reads the finished report and evidence; its narrative gets its own section.
        outcome = judge(report, c)
        if feature.judge_weight and outcome.verdicts:
            # Its vote enters the score: rank again (same clock: --json and evidence.json must agree).
            c = rank(feature, got.trees, cross=got.cross, verdicts=outcome.verdicts,
                     judge_weight=feature.judge_weight, generated_at=c.generated_at)
        c = dataclasses.replace(c, judge=outcome.to_json(feature.judge_weight))
        write_atomic(layout.evidence(feature.name), json_text(c) + "\n")
        write_atomic(report, render_markdown(c, outcome.section))
    return c, report
