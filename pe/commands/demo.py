"""pe demo: the whole cycle, offline, in a fresh scratch repository."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from pe import git
from pe.errors import PeError

NAME = "demo"
DESCRIPTION = """\
Creates a tiny real project (a word-frequency function to implement, a plan,
a benchmark, a manifest) in a new git repository, then runs pe on it as you
would, and shows the contest: init; execute with three strategies side by
side, where one agent dies mid-run; a resume that runs that tree again and
no other; the status table; compare, where one implementation fails a test
(named) and cannot be recommended, and the bench check decides between the
other two; adopt of the winner into main; and cleanup (every tree archived to
reports/, then removed, one line per tree). The agent is pe's DEMO AGENT: a
scripted stand-in that writes a prepared implementation per strategy, so it
runs offline, without a key, in seconds.

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
        "Add unit tests (`python -m unittest`). It must stay fast on long texts (`python bench.py`).\n"
    ),
    "bench.py": (
        '"""How fast top_words is on a 6,000-word text: pe compare\'s bench check (lower is better)."""\n\n'
        "import random\nimport time\n\nfrom wordfreq import top_words\n\n"
        "rng = random.Random(7)\n"
        'vocab = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(300)]\n'
        "words = rng.choices(vocab, k=6_000)\n"
        'text = " ".join(w.capitalize() + "," if i % 7 == 0 else w for i, w in enumerate(words))\n'
        "times = []\n"
        "for _ in range(3):\n"
        "    start = time.perf_counter()\n"
        "    top_words(text, 10)\n"
        "    times.append(time.perf_counter() - start)\n"
        'print(f"top_words on 6,000 words: best of 3: {min(times) * 1000:.2f} ms")\n'
    ),
    "features/wordfreq.yaml": (
        "# yaml-language-server: $schema=.schema/feature.schema.json\n"
        "feature: wordfreq\n"
        "plan: specs/wordfreq-plan.md\n"
        "count: 3\n"
        "strategies: [simple, performance, innovative]\n"
        "# pe's scripted DEMO AGENT; use a real one in your project (see the README).\n"
        "# The one in wordfreq-2 dies mid-run the first time (SIGKILL), as a crashed agent would.\n"
        "agent:\n"
        "  preset: command\n"
        "  command: [python, -m, pe.demo_agent, '{prompt_file}']\n"
        "  env: {DEMO_AGENT_DIES_IN: wordfreq-2}\n"
        "timeout: 2m\n"
        "# the evidence pe compare gathers in every finished tree\n"
        "checks:\n"
        "  test: [python, -m, unittest, -q]\n"
        "  bench:\n"
        "    command: [python, bench.py]\n"
        "    metric: 'best of 3: ([0-9.]+) ms'\n"
        "    unit: ms\n"
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, help="where to create the demo repository (new or empty directory)")


def _step(title: str, argv: list[str]) -> int:
    from pe.main import main

    print(f"\n$ pe {' '.join(argv)}    # {title}", flush=True)
    return main(argv)


def _steps(steps: list[tuple[str, list[str], int]], where: Path) -> int:
    """Each step in turn; 0, or the exit status of the first that did not end as the demo expects."""
    for title, argv, expected in steps:
        if (rc := _step(title, argv)) != expected:
            return _failed(argv, rc, where)
    return 0


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
    rc = _steps([
        ("create 3 worktrees", ["init", "--feature=wordfreq", d], 0),
        ("3 agents in parallel (DEMO AGENT); the one in wordfreq-2 dies mid-run",
         ["execute", "--feature=wordfreq", d], 1),
        ("only wordfreq-2 runs again, from its PROGRESS.md; the done trees are skipped",
         ["resume", "--feature=wordfreq", d], 0),
        ("where every tree stands", ["status", d], 0),
        ("run the checks (test, bench) in every tree, rank them, recommend one",
         ["compare", "--feature=wordfreq", d], 0),
    ], where)
    if rc:
        return rc
    evidence = json.loads((where / "reports" / "wordfreq" / "evidence.json").read_text())
    best = evidence["recommended"]
    rc = _steps([
        (f"bring the recommended tree, {best}, into main", ["adopt", "--feature=wordfreq", f"--tree={best}", d], 0),
        ("archive every tree to reports/ (bundles included), then remove it",
         ["cleanup", "--feature=wordfreq", d], 0),
    ], where)
    if rc:
        return rc
    print("\npe demo: what happened")
    for line in recap(evidence):
        print(f"  {line}")
    print(
        f"\npe demo: done in {time.monotonic() - start:.1f}s. Look around: cd {where}\n"
        "  reports/wordfreq/IMPLEMENTATION_COMPARISON.md   the comparison and its scoring rule\n"
        "  git log --oneline main                          the adopted implementation\n"
        "  reports/wordfreq/<tree>/                        each tree's archive (git bundle, logs, RESULTS.md)"
    )
    return 0


def recap(evidence: dict[str, Any]) -> list[str]:
    """The contest in a few lines, from compare's evidence.json: who died, who failed what, what decided."""
    trees = {t["tree"]: t for t in evidence.get("trees", []) if isinstance(t, dict) and "tree" in t}
    lines = []
    for name, t in trees.items():
        if (t.get("attempts") or 0) > 1:
            lines.append(f"{name}'s agent died mid-run; pe resume ran it again, from its PROGRESS.md, "
                         "and no other tree")
    for name, t in trees.items():
        failed = [f"{c['name']} check fails {', '.join(c['failed_tests'])}" for c in t.get("checks", [])
                  if c.get("failed_tests")]
        if not t.get("eligible") and failed:
            lines.append(f"{name} ({t.get('strategy')}) cannot be recommended: its {'; '.join(failed)}")
    best = trees.get(evidence.get("recommended") or "")
    rivals = sorted((t for t in trees.values() if t.get("eligible") and t is not best),
                    key=lambda t: -(t.get("score") or 0))
    if best is not None and rivals:
        other = rivals[0]
        speed = (best.get("score_parts") or {}).get("speed", 0) - (other.get("score_parts") or {}).get("speed", 0)
        margin = (best.get("score") or 0) - (other.get("score") or 0)
        bench = _bench(best), _bench(other)
        said = f"{best['tree']} ({best.get('strategy')}) is recommended, score {best.get('score')} against " \
               f"{other.get('score')} for {other['tree']} ({other.get('strategy')})"
        if bench[0] and bench[1] and bench[0][0] > 0:
            said += f": the bench check, {bench[0][0]:g}{bench[0][1]} against {bench[1][0]:g}{bench[1][1]} " \
                    f"({bench[1][0] / bench[0][0]:.0f}x faster)"
            if speed >= margin:
                said += ", decided it"
        lines.append(said)
    return lines


def _bench(tree: dict[str, Any]) -> tuple[float, str] | None:
    for c in tree.get("checks", []):
        if c.get("name") == "bench" and isinstance(c.get("metric"), (int, float)):
            return float(c["metric"]), str(c.get("unit") or "")
    return None


def _failed(argv: list[str], rc: int, where: Path) -> int:
    print(f"\npe demo: step `pe {argv[0]}` failed (exit {rc}); the repository is kept at {where}")
    return rc
