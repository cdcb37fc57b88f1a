"""Every tree at a glance: one Row per tree (what `pe status` and `pe execute` print), and its table."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pe import gitfacts, util
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import read_regular_text
from pe.layout import Layout
from pe.tree import state as treestate
from pe.tree import usage
from pe.tree.progress import completion
from pe.tree.stamps import tree_base

HEADERS = ["tree", "strategy", "agent", "state", "time", "commits", "files", "+/-", "dirty", "done %",
           "tokens/cost", "last activity"]


@dataclass
class Row:
    feature: str
    tree: str
    index: int
    path: str
    branch: str
    strategy: str
    agent: str
    model: str | None
    state: str
    detail: str
    pid: int | None
    attempts: int
    started_at: str | None
    ended_at: str | None
    elapsed_s: float | None
    base_sha: str | None
    commits: int | None
    files_changed: int | None
    insertions: int | None
    deletions: int | None
    uncommitted: int | None
    completion: float | None
    input_tokens: int | None
    output_tokens: int | None
    turns: int | None
    cost_usd: float | None
    last_activity: str | None
    last_activity_age_s: float | None
    error: str | None
    warnings: list[str] = field(default_factory=list)  # the last run's: what it changed outside its tree
    sandbox: str | None = None  # where the last run ran: bwrap or none (None: no run yet)


def _row(layout: Layout, feature: Feature, tree: TreeSpec, now: float, scanned: gitfacts.Scan | None) -> Row:
    st = treestate.of(layout, feature, tree)
    rec = st.record
    tree_dir = layout.tree(tree.name)
    base = tree_base(layout, tree.name)
    facts = gitfacts.TreeFacts()
    if st.state != "pending" or tree_dir.exists():
        facts = gitfacts.tree_facts(tree_dir, base, layout.facts_cache, scanned)
    progress = read_regular_text(layout.progress(tree.name))
    elapsed = rec.duration_s
    if st.state == "running":
        started = util.parse_iso(rec.started_at)
        elapsed = round(now - started, 1) if started is not None else None
    last = max(
        (t for t in (facts.last_commit_at,
                     util.mtime([layout.agent_log(tree.name), layout.progress(tree.name),
                                     layout.run_record(tree.name), layout.setup_log(tree.name)]))
         if t is not None),
        default=None,
    )
    use = usage.of(rec)
    agent = tree.agent
    return Row(
        feature=feature.name, tree=tree.name, index=tree.index, path=str(tree_dir.relative_to(layout.root)),
        branch=tree.name, strategy=tree.strategy.name, agent=agent.preset if agent else "-",
        model=agent.model if agent else None, state=st.state, detail=st.detail,
        pid=rec.pid if st.state == "running" else None, attempts=rec.attempts,
        started_at=rec.started_at, ended_at=rec.ended_at, elapsed_s=elapsed, base_sha=base,
        commits=facts.commits_ahead, files_changed=facts.files_changed, insertions=facts.insertions,
        deletions=facts.deletions, uncommitted=facts.uncommitted, completion=completion(progress),
        input_tokens=use.input_tokens, output_tokens=use.output_tokens, turns=use.turns, cost_usd=use.cost_usd,
        last_activity=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(last)) if last else None,
        last_activity_age_s=round(now - last, 1) if last else None, error=facts.error,
        warnings=list(rec.warnings), sandbox=rec.sandbox,
    )


def rows(layout: Layout, features: list[Feature], scans: dict[Path, gitfacts.Scan] | None = None) -> list[Row]:
    """`scans`: trees' scans the caller has just made (gitfacts.scan_all), to reuse."""
    now = time.time()
    pairs = [(f, t) for f in features for t in f.trees]
    known = scans or {}
    # Each row costs one to three git processes; they are independent, so run them side by side.
    return util.parallel(lambda p: _row(layout, p[0], p[1], now, known.get(layout.tree(p[1].name))),
                             pairs, workers=16)


def render(found: list[Row]) -> str:
    from tabulate import tabulate

    def cell(v: Any) -> Any:
        return "" if v is None else v

    table = []
    for r in found:
        agent = r.agent + (f" ({r.model})" if r.model else "")
        detail = util.printable(r.detail).replace("\n", " ")
        detail = detail if len(detail) <= 60 else detail[:57] + "..."
        use = usage.Usage(r.input_tokens, r.output_tokens, r.turns, r.cost_usd)
        table.append([
            r.tree, r.strategy, agent, r.state + (f": {detail}" if detail else ""), util.format_duration(r.elapsed_s),
            cell(r.commits), cell(r.files_changed),
            f"+{r.insertions}/-{r.deletions}" if r.insertions is not None else "", cell(r.uncommitted),
            f"{r.completion * 100:.0f}%" if r.completion is not None else "", usage.tokens_cell(use),
            util.ago(time.time() - r.last_activity_age_s) if r.last_activity_age_s is not None else "",
        ])
    return tabulate(table, headers=HEADERS, disable_numparse=True)


def table(layout: Layout, features: list[Feature], scans: dict[Path, gitfacts.Scan] | None = None) -> str:
    return render(rows(layout, features, scans))
