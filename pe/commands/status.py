"""pe status: where every tree stands. Read-only and lock-free, so it works while execute runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pe import gitfacts
from pe.commands import _common
from pe.config import manifest
from pe.config.manifest import Feature, TreeSpec
from pe.errors import EXIT_USAGE, PeError
from pe.layout import Layout
from pe.steps.worktree import tree_base
from pe.tree import state as treestate
from pe.tree import usage
from pe.tree.progress import completion, refresh
from pe.tree.results import PROGRESS_FILE

NAME = "status"
ORDER = 40
HELP = "a table of every tree: state, time, commits, changes, completion, cost"
DESCRIPTION = """\
One row per tree. States: pending, setting up, setup failed, ready (agent not
started), running (with pid), done, failed (with reason), interrupted, stale
(the plan, strategy or agent changed since it finished). Commits, files and
lines are the tree's committed change against its base (RESULTS.md and
PROGRESS.md not counted); "uncommitted" counts entries `git status` shows;
"done %" is the share of ticked checklist items in PROGRESS.md. Read-only and
lock-free: it works while execute runs. --json gives the same rows with every
field (see the README).

examples:
  pe status
  pe status --feature=auth-system --json
  pe status --watch            # redraw every 2 s until ^C
  pe status --refresh-progress # also rewrite PROGRESS.md of unfinished trees
"""

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _common.add_feature(parser, required=False)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (fields: see the README)")
    parser.add_argument("--watch", nargs="?", type=float, const=2.0, default=None, metavar="SECONDS",
                        help="redraw every SECONDS (default 2) until ^C")
    parser.add_argument("--refresh-progress", action="store_true",
                        help="rewrite PROGRESS.md of every started, unfinished, not running tree (agent's text kept)")
    _common.add_repo(parser)


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return time.mktime(time.strptime(iso, "%Y-%m-%dT%H:%M:%S%z"))
    except ValueError:
        return None


def _row(layout: Layout, feature: Feature, tree: TreeSpec, now: float, scanned: gitfacts.Scan | None) -> Row:
    st = treestate.of(layout, feature, tree)
    rec = st.record
    tree_dir = layout.tree(tree.name)
    base = tree_base(layout, tree.name)
    facts = gitfacts.TreeFacts()
    if st.state != "pending" or tree_dir.exists():
        facts = gitfacts.tree_facts(tree_dir, base, layout.facts_cache, scanned)
    try:
        progress = (tree_dir / PROGRESS_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        progress = ""
    elapsed = rec.duration_s
    if st.state == "running":
        started = _epoch(rec.started_at)
        elapsed = round(now - started, 1) if started is not None else None
    last = max(
        (t for t in (facts.last_commit_at,
                     gitfacts.mtime([layout.agent_log(tree.name), tree_dir / PROGRESS_FILE,
                                     layout.run_record(tree.name), layout.logs(tree.name) / "setup.log"]))
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
    )


def rows(layout: Layout, features: list[Feature], scans: dict[Path, gitfacts.Scan] | None = None) -> list[Row]:
    """`scans`: trees' scans the caller has just made (gitfacts.scan_all), to reuse."""
    now = time.time()
    pairs = [(f, t) for f in features for t in f.trees]
    known = scans or {}
    # Each row costs one to three git processes; they are independent, so run them side by side.
    return gitfacts.parallel(lambda p: _row(layout, p[0], p[1], now, known.get(layout.tree(p[1].name))),
                             pairs, workers=16)


def _duration(secs: float | None) -> str:
    if secs is None:
        return ""
    if secs < 60:
        return f"{secs:.0f}s"
    if secs < 3600:
        return f"{secs // 60:.0f}m{secs % 60:02.0f}s"
    return f"{secs // 3600:.0f}h{secs % 3600 // 60:02.0f}m"


def render(found: list[Row]) -> str:
    from tabulate import tabulate

    def cell(v: Any) -> Any:
        return "" if v is None else v

    table = []
    for r in found:
        agent = r.agent + (f" ({r.model})" if r.model else "")
        detail = r.detail if len(r.detail) <= 60 else r.detail[:57] + "..."
        use = usage.Usage(r.input_tokens, r.output_tokens, r.turns, r.cost_usd)
        table.append([
            r.tree, r.strategy, agent, r.state + (f": {detail}" if detail else ""), _duration(r.elapsed_s),
            cell(r.commits), cell(r.files_changed),
            f"+{r.insertions}/-{r.deletions}" if r.insertions is not None else "", cell(r.uncommitted),
            f"{r.completion * 100:.0f}%" if r.completion is not None else "", usage.tokens_cell(use),
            gitfacts.ago(time.time() - r.last_activity_age_s) if r.last_activity_age_s is not None else "",
        ])
    return tabulate(table, headers=HEADERS, disable_numparse=True)


def table(layout: Layout, features: list[Feature], scans: dict[Path, gitfacts.Scan] | None = None) -> str:
    return render(rows(layout, features, scans))


def load_features(layout: Layout, feature: str | None) -> tuple[list[Feature], list[str]]:
    """The features to show, and one-line errors for manifests that do not load."""
    if feature:
        return [manifest.load(layout, feature)], []
    found, errors = [], []
    for name in manifest.feature_names(layout):
        try:
            found.append(manifest.load(layout, name))
        except PeError as exc:
            errors.append(str(exc))  # one bad manifest must not hide every other feature
    return found, errors


def refresh_progress(layout: Layout, features: list[Feature]) -> list[str]:
    """PROGRESS.md for trees that started, are not done, and are not running now."""
    written = []
    for f in features:
        for t in f.trees:
            st = treestate.of(layout, f, t)
            base = tree_base(layout, t.name)
            if base is None or st.record.attempts == 0 or st.state in ("done", "running", "pending"):
                continue
            refresh(layout.tree(t.name), base, st.record, layout.agent_log(t.name))
            written.append(t.name)
    return written


def _frame(layout: Layout, features: list[Feature], as_json: bool) -> str:
    found = rows(layout, features)
    if as_json:
        return json.dumps([asdict(r) for r in found], indent=2)
    if not found:
        return "no features yet: pe init --feature=NAME --plan=PATH"
    return render(found)


def watch(layout: Layout, features: list[Feature], interval: float, as_json: bool) -> int:
    tty = sys.stdout.isatty()
    try:
        while True:
            frame = _frame(layout, features, as_json)
            stamp = time.strftime("%H:%M:%S")
            if tty:
                # Clear and home the cursor: one table on screen, redrawn in place.
                sys.stdout.write(f"\x1b[H\x1b[2J{stamp}  pe status (every {interval:g}s, ^C to stop)\n\n{frame}\n")
            else:
                sys.stdout.write(f"--- {stamp}\n{frame}\n")
            sys.stdout.flush()
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0  # ^C is how a watch ends, not an error


def run(args: argparse.Namespace) -> int:
    layout = _common.layout(args)
    features, errors = load_features(layout, args.feature)
    for err in errors:
        print(f"pe: error: {err}", file=sys.stderr)
    if args.watch is not None and args.watch <= 0:
        raise PeError(f"--watch: expected a positive number of seconds, got {args.watch:g}")
    if args.refresh_progress:
        for name in refresh_progress(layout, features):
            print(f"refreshed trees/{name}/{PROGRESS_FILE}", file=sys.stderr)
    if args.watch is not None:
        return watch(layout, features, args.watch, args.json)
    if features or not errors:  # "no features yet" would be wrong beside a manifest that does not load
        print(_frame(layout, features, args.json))
    return EXIT_USAGE if errors else 0
