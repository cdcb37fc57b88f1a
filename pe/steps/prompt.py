"""The prompt each agent gets: plan, strategy, context, what to leave behind, and how it will be judged.

The judging part lists the manifest's checks as pe compare will run them in the
tree (pe.config.checks.argv builds the argv, as for the real run) and prints the
scoring rule, so an agent can run the same gate before it says it is done.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from pe.compare.rule import SCORING_RULE
from pe.config.argv import PYTHON_NAMES
from pe.config.checks import CheckSpec
from pe.config.checks import argv as check_argv
from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.tree.results import PROGRESS_FILE, PROGRESS_SECTIONS, RESULTS_FILE, RESULTS_SECTIONS
from pe.util import format_duration

# Placeholders pe fills in only when it runs a check; in the shell lines the agent is given they
# become shell variables. NUL cannot occur in an argv word, so these cannot clash with real text.
_REPORT_DIR = "\0report_dir\0"
_PORT = "\0port\0"
_TREE = "\0tree\0"  # only when the tree's directory is not known: the check runs from the tree root
_SHELL = {_REPORT_DIR: '"$d"', _PORT: '"$PE_PORT"', _TREE: '"$PWD"'}


def _shell_word(word: str) -> str:
    """One argv word as shell text: quoted, its placeholders left as (quoted) variables."""
    out, rest = [], word
    while rest:
        at = min(((rest.find(m), m) for m in _SHELL if m in rest), default=None)
        if at is None:
            out.append(shlex.quote(rest))
            break
        i, marker = at
        if i:
            out.append(shlex.quote(rest[:i]))
        out.append(_SHELL[marker])
        rest = rest[i + len(marker):]
    return "".join(out) or "''"


def _command(spec: CheckSpec, tree_dir: Path | None) -> str:
    if tree_dir is None:
        # Not known here: the template as written, `python` explained in the text.
        words = [w.replace("{report_dir}", _REPORT_DIR).replace("{port}", _PORT).replace("{tree}", _TREE)
                 for w in spec.command]
        return " ".join(_shell_word(w) for w in words)
    values = {"tree": str(tree_dir), "report_dir": _REPORT_DIR, "port": _PORT}
    return " ".join(_shell_word(w) for w in check_argv(spec, tree_dir, values))


def _how_judged(feature: Feature, tree_dir: Path | None) -> str:
    rule = f"The rule pe compare ranks the trees by (printed in its report too):\n\n```text\n{SCORING_RULE}\n```"
    if not feature.checks:
        return f"""## How pe will judge this tree

This feature has no checks configured (the manifest's `checks:`): pe compares the trees
on the diff, new dependencies and the agent's runs.

{rule}"""
    lines = "\n".join(_command(spec, tree_dir) for spec in feature.checks)
    notes = []
    for spec in feature.checks:
        what = [f"{spec.kind}, time limit {format_duration(spec.timeout_s)}"]
        if spec.kind == "test" or spec.junit:
            what.append("passes when it exits 0 and no test fails or errors; counts come from "
                        + (f"the JUnit report {spec.junit}" if spec.junit else "a JUnit XML report in {report_dir}")
                        + ", else pytest's or unittest's summary line")
        else:
            what.append("passes when it exits 0")
        if spec.metric:
            better = "higher" if spec.higher_is_better else "lower"
            what.append(f"its figure is the last match of `{spec.metric}` in its output"
                        f"{' (' + spec.unit + ')' if spec.unit else ''}, {better} is better")
        if spec.exclusive:
            what.append("it runs in one tree at a time, so timings compare")
        notes.append(f"- `{spec.name}`: " + "; ".join(what) + ".")
    python_used = any(spec.command and spec.command[0] in PYTHON_NAMES for spec in feature.checks)
    if not python_used:
        python = ""
    elif tree_dir is None:
        python = (f"`python` is this tree's .venv/bin/python when it has one, else the Python that runs pe "
                  f"({sys.executable}).\n\n")
    elif (tree_dir / ".venv" / "bin" / "python").exists():
        python = "`python` is this tree's .venv/bin/python (its setup made it), as shown.\n\n"
    else:
        python = f"`python` is the Python that runs pe ({sys.executable}): this tree has no .venv.\n\n"
    note_text = "\n".join(notes)
    uses_report_dir = any("{report_dir}" in w for spec in feature.checks for w in spec.command)
    scratch = ("d=$(mktemp -d)  # {report_dir}: pe gives each check an empty directory of its own "
               "(also $PE_REPORT_DIR)\n") if uses_report_dir else ""
    return f"""## How pe will judge this tree

When every agent is done, `pe compare` runs these checks on your branch's last commit (what
`pe adopt` would take), in a clean checkout set up like this tree, from its root, without a
shell, with the tree's environment (PE_TREE, PE_PORT, ...) plus PE_REPORT_DIR and PE_CHECK.
pe commits what you leave uncommitted when you exit; files git ignores are not in that
checkout, so do not rely on them. A tree can be recommended only if every check passes.
Run them yourself before you finish, here, from the tree root (the paths are this tree's):

```sh
{scratch}{lines}
```

{python}{note_text}

{rule}"""


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


def lessons(layout: Layout, feature: Feature) -> str:
    """What earlier runs in this repository taught (pe/history/lessons.py), or '' when the manifest
    says `lessons: false`, there is no history, or it cannot be read: a prompt never fails for it."""
    if not feature.lessons:
        return ""
    import sqlite3

    from pe.history import db
    from pe.history import lessons as history_lessons

    try:
        conn = db.open_for_reading(layout)
        try:
            return history_lessons.section(conn, feature.name)
        finally:
            if conn is not None:
                conn.close()
    except sqlite3.Error:
        return ""  # a damaged history costs the agent its lessons, never its run


def _lessons(text: str) -> str:
    return f"\n{text.rstrip()}\n" if text else ""


def initial(feature: Feature, tree: TreeSpec, context: str, *, tree_dir: Path | None = None,
            lessons: str = "") -> str:
    """The first run's prompt; `tree_dir` (the tree's directory) lets the checks be shown exactly as pe runs them;
    `lessons` is the section lessons() gives."""
    ctx = f"\n## Context from the user\n\n{context}\n" if context else ""
    return f"""# Task: implement feature `{feature.name}` (implementation {tree.index} of {feature.count})

You are one of {feature.count} agents implementing the same plan in separate git
worktrees, each with a different strategy; the results will be compared on evidence.

## Your strategy: {tree.strategy.name}

{tree.strategy.prompt}

## The plan ({feature.plan})

{feature.plan_text.rstrip()}
{ctx}{_lessons(lessons)}
{_deliverables()}

{_how_judged(feature, tree_dir)}
"""


def resume(feature: Feature, tree: TreeSpec, context: str, progress: str, last_end: str,
           since: list[str] | None = None, *, tree_dir: Path | None = None, lessons: str = "") -> str:
    """A later run's prompt; `tree_dir` and `lessons` as for initial()."""
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
{_lessons(lessons)}
{_deliverables()}

{_how_judged(feature, tree_dir)}
"""
