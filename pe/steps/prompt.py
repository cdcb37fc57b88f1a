"""The prompt each agent gets: plan, strategy, context, and what to leave behind."""

from __future__ import annotations

from pe.config.spec import Feature, TreeSpec
from pe.tree.results import PROGRESS_FILE, PROGRESS_SECTIONS, RESULTS_FILE, RESULTS_SECTIONS


def _deliverables() -> str:
    results = "\n".join(f"## {s}" for s in RESULTS_SECTIONS)
    progress = "\n".join(f"## {s}" for s in PROGRESS_SECTIONS)
    return f"""## What you must leave behind

1. The implementation itself, in this working tree (you may commit; pe commits
   whatever you leave uncommitted when you exit).
2. `{PROGRESS_FILE}` in the tree root, kept current while you work, with these
   sections (use `- [x]` / `- [ ]` checklists under Completed / Remaining TODOs):
{progress}
3. `{RESULTS_FILE}` in the tree root, written when you are done, with every one of
   these sections filled in (pe rejects the run without them):
{results}

Work only inside this directory. Exit with status 0 only when the work is done."""


def initial(feature: Feature, tree: TreeSpec, context: str) -> str:
    ctx = f"\n## Context from the user\n\n{context}\n" if context else ""
    return f"""# Task: implement feature `{feature.name}` (implementation {tree.index} of {feature.count})

You are one of {feature.count} agents implementing the same plan in separate git
worktrees, each with a different strategy; the results will be compared on evidence.

## Your strategy: {tree.strategy.name}

{tree.strategy.prompt}

## The plan ({feature.plan})

{feature.plan_text.rstrip()}
{ctx}
{_deliverables()}
"""


def resume(feature: Feature, tree: TreeSpec, context: str, progress: str, last_end: str,
           since: list[str] | None = None) -> str:
    ctx = context or "(none given)"
    done = "".join(f"- {line}\n" for line in since or [])
    done = f"\n## What pe did since your last run\n\n{done}" if done else ""
    return f"""# Resume: feature `{feature.name}` (implementation {tree.index} of {feature.count})

An earlier run in this worktree did not finish ({last_end}). Continue from where it
stopped: do not start over, and keep the strategy below. Read {PROGRESS_FILE} and the
git log first.
{done}
## Your strategy: {tree.strategy.name}

{tree.strategy.prompt}

## Why this resume: context from the user

{ctx}

## {PROGRESS_FILE} as it stands

{progress.rstrip() or "(empty)"}

## The plan ({feature.plan})

{feature.plan_text.rstrip()}

{_deliverables()}
"""
