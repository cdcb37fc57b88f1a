"""pe demo: the whole cycle, offline, in a fresh scratch repository."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pe import git
from pe.errors import PeError

NAME = "demo"
DESCRIPTION = """\
Creates a tiny real project (a word-frequency function to implement, a plan,
a manifest) in a new git repository, then runs pe on it as you would: init,
execute with three strategies side by side, a resume that has nothing left
to do, the status table, compare (the checks run in every tree, a ranking
and a recommendation), adopt of the winner into main, and cleanup (every tree
archived to reports/, then removed). The agent is pe's DEMO AGENT: a scripted stand-in
that writes a prepared implementation per strategy, so it runs without a key.

examples:
  pe demo
  pe demo --dir=/tmp/pe-demo
"""

PROJECT = {
    "README.md": "# wordfreq\n\nA tiny library: the most frequent words of a text.\n",
    "wordfreq.py": (
        '"""Word frequencies."""\n\n\n'
        "def top_words(text: str, n: int) -> list[tuple[str, int]]:\n"
        '    raise NotImplementedError("see specs/wordfreq-plan.md")\n'
    ),
    "specs/wordfreq-plan.md": (
        "# Plan: top_words\n\n"
        "Implement `wordfreq.top_words(text, n)`: the n most frequent words of `text`\n"
        "as (word, count) pairs, most frequent first, ties in alphabetical order.\n"
        "Words are case-insensitive; surrounding punctuation is not part of a word.\n"
        "Add unit tests (`python -m unittest`).\n"
    ),
    "features/wordfreq.yaml": (
        "# yaml-language-server: $schema=.schema/feature.schema.json\n"
        "feature: wordfreq\n"
        "plan: specs/wordfreq-plan.md\n"
        "count: 3\n"
        "strategies: [simple, performance, innovative]\n"
        "# pe's scripted DEMO AGENT; use a real one in your project (see the README).\n"
        "agent:\n"
        "  preset: command\n"
        "  command: [python, -m, pe.demo_agent, '{prompt_file}']\n"
        "timeout: 2m\n"
        "# the evidence pe compare gathers in every finished tree\n"
        "checks:\n"
        "  test: [python, -m, unittest, -q]\n"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="where to create the demo repository (new or empty directory)")


def _step(title: str, argv: list[str]) -> int:
    from pe.main import main

    print(f"\n$ pe {' '.join(argv)}    # {title}", flush=True)
    return main(argv)


def make_project(where: Path) -> None:
    for rel, text in PROJECT.items():
        path = where / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git.git(where, "init", "--quiet", "--initial-branch=main")
    git.git(where, "add", "--all")
    identity = ("-c", "user.name=pe demo", "-c", "user.email=demo@pe.invalid")
    git.git(where, *identity, "commit", "--quiet", "-m", "wordfreq: empty project")


def run(args: argparse.Namespace) -> int:
    where = args.dir or Path(tempfile.mkdtemp(prefix="pe-demo-"))
    where = where.resolve()
    if where.exists() and any(where.iterdir()):
        raise PeError(f"--dir {where} is not empty: give a new or empty directory")
    where.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    print(f"pe demo: a scratch repository at {where}")
    make_project(where)
    d = f"--dir={where}"
    steps = [
        ("create 3 worktrees", ["init", "--feature=wordfreq", d]),
        ("3 agents in parallel (DEMO AGENT)", ["execute", "--feature=wordfreq", d]),
        ("nothing left to do: every tree is done", ["resume", "--feature=wordfreq", d]),
        ("where every tree stands", ["status", d]),
        ("run the checks in every tree, rank them, recommend one", ["compare", "--feature=wordfreq", d]),
    ]
    for title, argv in steps:
        if (rc := _step(title, argv)) != 0:
            return _failed(argv, rc, where)
    best = json.loads((where / "reports" / "wordfreq" / "evidence.json").read_text())["recommended"]
    for title, argv in [
        (f"bring the recommended tree, {best}, into main", ["adopt", "--feature=wordfreq", f"--tree={best}", d]),
        ("archive every tree to reports/ (bundles included), then remove it", ["cleanup", "--feature=wordfreq", d]),
    ]:
        if (rc := _step(title, argv)) != 0:
            return _failed(argv, rc, where)
    print(
        f"\npe demo: done in {time.monotonic() - start:.1f}s. Look around: cd {where}\n"
        "  reports/wordfreq/IMPLEMENTATION_COMPARISON.md   the comparison and its scoring rule\n"
        "  git log --oneline main                          the adopted implementation\n"
        "  reports/wordfreq/<tree>/                        each tree's archive (git bundle, logs, RESULTS.md)"
    )
    return 0


def _failed(argv: list[str], rc: int, where: Path) -> int:
    print(f"\npe demo: step `pe {argv[0]}` failed (exit {rc}); the repository is kept at {where}")
    return rc
