"""compare:<feature>: a side-by-side report of the finished trees.

Reads only: git facts per tree against the base it was created from, the run
records, and each RESULTS.md. Written to reports/<feature>/IMPLEMENTATION_COMPARISON.md.
"""

from __future__ import annotations

from pathlib import Path

from pe import git
from pe.fsutil import write_atomic
from pe.layout import Layout
from pe.manifest import Feature
from pe.results import RESULTS_FILE, sections
from pe.runrecord import RunRecord, now_iso
from pe.steps.worktree import tree_base


def diffstat(tree_dir: Path, base_sha: str) -> tuple[int, int, int]:
    """(files, insertions, deletions) of the tree's committed work against its base."""
    raw = git.out(tree_dir, "diff", "--numstat", base_sha, "HEAD", "--")
    files = ins = dels = 0
    for line in raw.splitlines():
        added, removed, _ = line.split("\t", 2)
        files += 1
        ins += int(added) if added.isdigit() else 0
        dels += int(removed) if removed.isdigit() else 0
    return files, ins, dels


def write_report(layout: Layout, feature: Feature) -> Path:
    from tabulate import tabulate

    rows = []
    summaries = []
    for tree in feature.trees:
        tree_dir = layout.tree(tree.name)
        record = RunRecord.load(layout.run_record(tree.name), tree.name)
        base = tree_base(layout, tree.name)
        if base is None or not tree_dir.is_dir():
            rows.append([tree.name, tree.strategy.name, "not created", "", "", ""])
            continue
        files, ins, dels = diffstat(tree_dir, base)
        rows.append([tree.name, tree.strategy.name, record.effective_state(), files, f"+{ins}/-{dels}",
                     f"{record.duration_s:.0f}s" if record.duration_s is not None else ""])
        results = tree_dir / RESULTS_FILE
        if results.exists():
            secs = sections(results.read_text(encoding="utf-8", errors="replace"))
            summary = next((v for k, v in secs.items() if k.lower() == "approach summary"), "")
            summaries.append(f"### {tree.name} ({tree.strategy.name})\n\n{summary}\n")
    table = tabulate(rows, headers=["tree", "strategy", "state", "files", "lines", "agent time"], tablefmt="github")
    text = (
        f"# Implementation comparison: {feature.name}\n\n_Generated {now_iso()} from the trees' branches._\n\n"
        f"## Summary\n\n{table}\n\n## Approaches (quoted from RESULTS.md)\n\n" + "\n".join(summaries)
    )
    out = layout.reports(feature.name) / "IMPLEMENTATION_COMPARISON.md"
    write_atomic(out, text)
    return out
