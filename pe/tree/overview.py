"""Every tree at a glance: one Row per tree (what `pe status` and `pe execute` print), and its table.

Time, tokens and cost are the sums over every attempt (pe.tree.usage.totals). A
tree that cleanup removed reads as `archived`, with where its archive is and
whether it was the one adopted, instead of as a tree not created yet.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pe import gitfacts, util
from pe.config.spec import Feature, TreeSpec
from pe.fsutil import read_regular_text
from pe.layout import Layout
from pe.lifecycle import finished
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
    agent_time_s: float | None = None  # over every attempt, the running one included
    agent_failures: int = 0  # attempts the agent itself ended without finishing
    history: list[dict[str, Any]] = field(default_factory=list)  # every attempt (usage.Attempt.to_json)
    adoption: dict[str, Any] | None = None  # the feature's adoption (finished.Adoption.to_json), if any
    adopted: bool = False  # this tree is the one adopted
    archive: str | None = None  # where cleanup archived this tree, from the repo root, once it is removed
    worker: str | None = None  # --runner=dask: the Dask worker the last attempt ran on (its address)


class _Looked(NamedTuple):
    """What a row needs from git."""

    base: str | None  # the commit the tree was created from
    facts: gitfacts.TreeFacts
    branch_kept: bool | None  # for a tree that is gone and may be archived: whether its branch is left


def _look(layout: Layout, tree: str, end: finished.End, scanned: gitfacts.Scan | None, *,
          offline: bool) -> _Looked | None:
    """The tree's git facts; with `offline`, None when they need a git process."""
    tree_dir = layout.tree(tree)
    base = tree_base(layout, tree)
    kept = None
    if not tree_dir.exists() and end.may_be_archived(tree):  # (a tree not created yet costs no git process)
        if offline:
            return None
        kept = gitfacts.branch_tip(layout.root, tree) is not None
    if not offline:
        return _Looked(base, gitfacts.tree_facts(tree_dir, base, layout.facts_cache, scanned), kept)
    facts = gitfacts.tree_facts_on_hand(tree_dir, base, layout.facts_cache, scanned)
    return _Looked(base, facts, kept) if facts is not None else None


class _OnDisk(NamedTuple):
    """What a row reads from pe's own files and the tree's PROGRESS.md: no git process."""

    st: treestate.TreeState
    progress: str  # PROGRESS.md, empty when there is none
    touched: float | None  # the newest mtime of the agent log, PROGRESS.md, run record and setup log


def _on_disk(layout: Layout, feature: Feature, tree: TreeSpec) -> _OnDisk:
    return _OnDisk(treestate.of(layout, feature, tree), read_regular_text(layout.progress(tree.name)),
                   util.mtime([layout.agent_log(tree.name), layout.progress(tree.name),
                               layout.run_record(tree.name), layout.setup_log(tree.name)]))


def _row(layout: Layout, feature: Feature, tree: TreeSpec, now: float, disk: _OnDisk, looked: _Looked,
         end: finished.End) -> Row:
    st, progress = disk.st, disk.progress
    rec = st.record
    tree_dir = layout.tree(tree.name)
    base, facts = looked.base, looked.facts
    elapsed = rec.duration_s
    if st.state == "running":
        started = util.parse_iso(rec.started_at)
        elapsed = round(now - started, 1) if started is not None else None
    last = max((t for t in (facts.last_commit_at, disk.touched) if t is not None), default=None)
    runs = usage.totals(rec, now)
    use = runs.usage
    agent = tree.agent
    state, detail = st.state, st.detail
    adopted = end.adoption is not None and end.adoption.tree == tree.name
    archive = None
    if state == "pending" and looked.branch_kept is not None:
        gone = _archived(layout, tree.name, end, looked.branch_kept)
        if gone is not None:
            state, (archive, detail) = "archived", gone
    if adopted and end.adoption is not None and state in ("done", "archived"):
        # (when: in the line under the table, and in `adoption`)
        how = f" ({end.adoption.mode})" if end.adoption.mode else ""
        detail = f"adopted into {end.adoption.into or '?'}{how}" + (f", {detail}" if archive else "")
    return Row(
        feature=feature.name, tree=tree.name, index=tree.index, path=str(tree_dir.relative_to(layout.root)),
        branch=tree.name, strategy=tree.strategy.name, agent=agent.preset if agent else "-",
        model=agent.model if agent else None, state=state, detail=detail,
        pid=rec.pid if st.state == "running" else None, attempts=rec.attempts,
        started_at=rec.started_at, ended_at=rec.ended_at, elapsed_s=elapsed, base_sha=base,
        commits=facts.commits_ahead, files_changed=facts.files_changed, insertions=facts.insertions,
        deletions=facts.deletions, uncommitted=facts.uncommitted, completion=completion(progress),
        input_tokens=use.input_tokens, output_tokens=use.output_tokens, turns=use.turns, cost_usd=use.cost_usd,
        last_activity=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(last)) if last else None,
        last_activity_age_s=round(now - last, 1) if last else None, error=facts.error,
        warnings=list(rec.warnings), sandbox=rec.sandbox, agent_time_s=runs.agent_s,
        agent_failures=runs.agent_failures, history=[a.to_json() for a in runs.attempts],
        adoption=end.adoption.to_json() if end.adoption else None, adopted=adopted, archive=archive,
        worker=(rec.remote or {}).get("worker"),
    )


def _archived(layout: Layout, tree: str, end: finished.End, kept: bool) -> tuple[str, str] | None:
    """(where its archive is, the row's detail) for a tree cleanup removed; None for one never created."""
    where = end.archive_of(tree, branch_kept=kept)
    if where is None:
        return None
    rel = str(where.relative_to(layout.root))
    return rel, f"in {rel}" + (f" (branch {tree} kept)" if kept else "")


def _end(layout: Layout, feature: Feature) -> finished.End:
    # Archives matter only for a tree that is gone; walking reports/ is for those.
    return finished.end(layout, feature.name,
                        find_archives=any(not layout.tree(t.name).exists() for t in feature.trees))


def rows(layout: Layout, features: list[Feature], scans: Mapping[Path, gitfacts.Scan] | None = None) -> list[Row]:
    """`scans`: trees' scans the caller has just made (gitfacts.scan_all, pe.tree.ahead.ScansAhead), to reuse."""
    now = time.time()
    ends = {f.name: _end(layout, f) for f in features}
    pairs = [(f, t) for f in features for t in f.trees]
    known = scans or {}

    def look(i: int, offline: bool) -> _Looked | None:
        feature, tree = pairs[i]
        return _look(layout, tree.name, ends[feature.name], known.get(layout.tree(tree.name)), offline=offline)

    # pe's own files first: `scans` may still be running (ScansAhead), and these reads need none of
    # them, so they overlap the git processes instead of following the last one (issue 18).
    disk = [_on_disk(layout, feature, tree) for feature, tree in pairs]
    # A row needs one to three git processes, or none when `scans` has its status and its commit
    # facts are cached. Those that need git run side by side; everything else runs one row after
    # another: a row is file reads, and threads made them 3x slower (GIL hand-offs, issue 18).
    looks = [look(i, True) for i in range(len(pairs))]
    todo = [i for i, found in enumerate(looks) if found is None]
    for i, found in zip(todo, util.parallel(lambda i: look(i, False), todo, workers=16), strict=True):
        looks[i] = found
    out = []
    for (feature, tree), on_disk, found in zip(pairs, disk, looks, strict=True):
        assert found is not None  # (offline=False always answers)
        out.append(_row(layout, feature, tree, now, on_disk, found, ends[feature.name]))
    return out


def render(found: list[Row]) -> str:
    from pe.util import tabulate  # without its slow import line (pe/util.py)

    def cell(v: Any) -> Any:
        return "" if v is None else v

    table = []
    for r in found:
        agent = r.agent + (f" ({r.model})" if r.model else "") + (f" on {r.worker}" if r.worker else "")
        detail = util.printable(r.detail).replace("\n", " ")
        detail = detail if len(detail) <= 60 else detail[:57] + "..."
        use = usage.Usage(r.input_tokens, r.output_tokens, r.turns, r.cost_usd)
        table.append([
            r.tree, r.strategy, agent, r.state + (f": {detail}" if detail else ""), _time_cell(r),
            cell(r.commits), cell(r.files_changed),
            f"+{r.insertions}/-{r.deletions}" if r.insertions is not None else "", cell(r.uncommitted),
            f"{r.completion * 100:.0f}%" if r.completion is not None else "", usage.tokens_cell(use),
            util.ago(time.time() - r.last_activity_age_s) if r.last_activity_age_s is not None else "",
        ])
    return "\n".join([tabulate(table, headers=HEADERS, disable_numparse=True), *_endings(found)])


def _time_cell(r: Row) -> str:
    """The agent's time over every attempt, and how many there were when more than one."""
    cell = util.format_duration(r.agent_time_s)
    return cell + (f" ({len(r.history)} runs)" if len(r.history) > 1 else "")


def _endings(found: list[Row]) -> list[str]:
    """One line under the table per feature that was adopted or whose trees were archived."""
    lines = []
    for feature in dict.fromkeys(r.feature for r in found):
        mine = [r for r in found if r.feature == feature]
        adoption = next((r.adoption for r in mine if r.adoption), None)
        archived = [r.archive for r in mine if r.archive]
        if adoption is None and not archived:
            continue
        parts = []
        if adoption is not None:
            parts.append("finished: " + finished.Adoption(feature, tree_tip=None, **adoption).describe())
        if archived:
            where = os.path.commonpath(archived)
            parts.append(f"{len(archived)} tree{'s' if len(archived) != 1 else ''} archived in {where}/")
        if adoption is None:
            parts.append("none adopted")
        elif len(archived) < len(mine):
            parts.append(f"pe cleanup --feature={feature} archives and removes the rest")
        lines.append(util.printable(f"{feature}: " + "; ".join(parts)))
    return ["", *lines] if lines else []


def table(layout: Layout, features: list[Feature], scans: Mapping[Path, gitfacts.Scan] | None = None) -> str:
    return render(rows(layout, features, scans))
