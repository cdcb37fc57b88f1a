"""The one benchmark harness: sides of a row run alternately (A B A B ...) after a warm-up round.

A row has two or more sides (pe, and the floor or baseline it is measured against), each a
command with an optional untimed set-up that runs before every timed run. One round runs every
side once, in order; the first round is a warm-up and is dropped; then `pairs` rounds are kept.
Per side: the median and min-max of its wall times. Per ratio (side / side, taken round by
round, so both see the same moment's load): the median and min-max, and the target it must meet
(met when the median ratio is at or under it). The machine's load (/proc/loadavg) is read
before and after every row.

    from harness import Side, Ratio, Row, run_rows, add_arguments
    row = Row("help", "pe --help against python -c 'import argparse'",
              [Side("pe", ["python", "-m", "pe", "--help"]), Side("floor", ["python", "-c", "import argparse"])],
              [Ratio("pe", "floor", 3.0)])

Not a test: nothing here fails on a figure. See README.md, Performance.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Side:
    """One command of a row: an argv (run without a shell) or a callable; `prepare` runs untimed before each run."""

    label: str
    run: Sequence[str] | Callable[[], None]
    cwd: Path | None = None
    prepare: Callable[[], None] | None = None
    env: dict[str, str] | None = None


@dataclass
class Ratio:
    """`num` / `den`, round by round; `target`: the most the median may be (None: shown, not judged).

    With `diff`, the figure is `num` - `den` in seconds instead (a cost per run), and so is the target.
    """

    num: str
    den: str
    target: float | None = None
    diff: bool = False


@dataclass
class Row:
    key: str  # what --rows selects
    title: str
    sides: list[Side]
    ratios: list[Ratio]
    setup: Callable[[], None] | None = None  # untimed, once, before the warm-up
    notes: list[str] = field(default_factory=list)


def loadavg() -> tuple[float, float, float, str]:
    """The 1, 5 and 15-minute load averages and running/total tasks, or zeros where /proc is not there."""
    try:
        parts = Path("/proc/loadavg").read_text().split()
        return float(parts[0]), float(parts[1]), float(parts[2]), parts[3]
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0, 0.0, "?"


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of `values` (at least one)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def per_round_ratios(num: Sequence[float], den: Sequence[float], diff: bool = False) -> list[float]:
    """The ratio (or difference) of each round's two times (aligned: same index, same round)."""
    if len(num) != len(den):
        raise ValueError("ratio of unequal series")
    return [a - b if diff else a / b for a, b in zip(num, den, strict=True)]


def judge(median_ratio: float, target: float | None) -> bool | None:
    return None if target is None else median_ratio <= target


def _time(side: Side) -> float:
    if side.prepare is not None:
        side.prepare()
    if callable(side.run):
        start = time.perf_counter()
        side.run()
        return time.perf_counter() - start
    env = None if side.env is None else {**os.environ, **side.env}
    start = time.perf_counter()
    proc = subprocess.run(list(side.run), cwd=side.cwd, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{side.label}: {' '.join(side.run)} exited {proc.returncode}:\n"
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")
    return elapsed


def measure(row: Row, pairs: int, warmup: int = 1) -> dict[str, Any]:
    """Run `row`: its setup, `warmup` dropped rounds, then `pairs` kept rounds of every side in order."""
    if row.setup is not None:
        row.setup()
    before = loadavg()
    start = time.perf_counter()
    times: dict[str, list[float]] = {s.label: [] for s in row.sides}
    for i in range(warmup + pairs):
        for side in row.sides:
            t = _time(side)
            if i >= warmup:
                times[side.label].append(t)
    after = loadavg()
    ratios = []
    for r in row.ratios:
        values = per_round_ratios(times[r.num], times[r.den], r.diff)
        s = summary(values)
        ratios.append({"num": r.num, "den": r.den, "diff": r.diff, "target": r.target, **s,
                       "met": judge(s["median"], r.target), "values": values})
    return {
        "key": row.key, "title": row.title, "pairs": pairs, "warmup": warmup, "notes": row.notes,
        "sides": [{"label": s.label, "command": _describe(s), **summary(times[s.label]), "values": times[s.label]}
                  for s in row.sides],
        "ratios": ratios, "load_before": before[:3], "load_after": after[:3],
        "tasks_before": before[3], "tasks_after": after[3], "seconds": time.perf_counter() - start,
    }


def _describe(side: Side) -> str:
    if callable(side.run):
        return (side.run.__doc__ or side.label).strip()
    return shlex.join(side.run)


def commit(where: Path = ROOT) -> str:
    """HEAD of the checkout being measured, with `+dirty` when pe/ has uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=where, capture_output=True,
                          text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "pe"], cwd=where, capture_output=True,
                           text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "git": git.removeprefix("git version ")}


def add_arguments(parser: argparse.ArgumentParser, row_keys: Sequence[str], pairs: int = 5) -> None:
    parser.add_argument("--rows", default=",".join(row_keys),
                        help=f"comma-separated rows to run (default: all of {','.join(row_keys)})")
    parser.add_argument("--pairs", type=int, default=pairs, help=f"kept rounds per row after the warm-up "
                        f"(default {pairs}; at least 5 for figures you publish)")
    parser.add_argument("--warmup", type=int, default=1, help="dropped rounds before them (default 1)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure, with each run's times, as JSON "
                        "('-' for stdout, then the table goes to stderr)")


def selected(rows: Sequence[Row], spec: str) -> list[Row]:
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    known = {r.key: r for r in rows}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(unknown)} (known: {', '.join(known)})")
    return [known[k] for k in keys]


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_side(s: dict[str, Any]) -> str:
    return f"{fmt_s(s['median'])} ({fmt_s(s['min'])}-{fmt_s(s['max'])})"


def fmt_ratio(r: dict[str, Any]) -> str:
    if r.get("diff"):
        return f"{r['median'] * 1000:+.1f} ms ({r['min'] * 1000:+.1f} to {r['max'] * 1000:+.1f})"
    return f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"


def fmt_target(r: dict[str, Any]) -> str:
    return f"{r['target'] * 1000:g} ms" if r.get("diff") else f"{r['target']:g}"


def op(r: dict[str, Any]) -> str:
    return "-" if r.get("diff") else "/"


def fmt_load(load: Sequence[float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def print_row(res: dict[str, Any], out: Any) -> None:
    print(f"\n## {res['key']}: {res['title']}", file=out)
    print(f"{res['pairs']} rounds after {res['warmup']} warm-up, {res['seconds']:.0f} s; load (1/5/15 min) "
          f"{fmt_load(res['load_before'])} before, {fmt_load(res['load_after'])} after", file=out)
    for note in res["notes"]:
        print(f"  {note}", file=out)
    width = max(len(s["label"]) for s in res["sides"])
    for s in res["sides"]:
        print(f"  {s['label']:<{width}}  {fmt_side(s):<28}  {s['command']}", file=out)
    for r in res["ratios"]:
        verdict = "" if r["target"] is None else f"target <= {fmt_target(r)}: {'met' if r['met'] else 'NOT met'}"
        print(f"  {'difference' if r.get('diff') else 'ratio'} {r['num']} {op(r)} {r['den']}: {fmt_ratio(r)}  "
              f"{verdict}", file=out)


def print_summary(results: Sequence[dict[str, Any]], out: Any) -> None:
    print("\n| row | ratio | median (min-max) | target | met | load before/after (1 min) |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for res in results:
        for r in res["ratios"]:
            met = "—" if r["met"] is None else ("yes" if r["met"] else "**no**")
            target = "—" if r["target"] is None else f"≤ {fmt_target(r)}"
            print(f"| {res['key']} | {r['num']} {op(r)} {r['den']} | {fmt_ratio(r)} | {target} | {met} "
                  f"| {res['load_before'][0]:.2f} / {res['load_after'][0]:.2f} |", file=out)


def run_rows(rows: Sequence[Row], args: argparse.Namespace, header: dict[str, Any] | None = None) -> int:
    """Measure the rows `args.rows` names, print each as it ends and a summary; write --json. Returns 0."""
    if args.pairs < 1:
        raise SystemExit("--pairs must be at least 1")
    out = sys.stderr if args.json == "-" else sys.stdout
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit(), "command": " ".join([Path(sys.executable).name, *sys.argv]), **machine(),
            "load_start": loadavg()[:3], **(header or {})}
    where = f" (pe from {info['pe_from']})" if "pe_from" in info else ""
    print(f"date {info['date']}, pe at {info['commit']}{where}; {info['platform']}, {info['cpus']} cpus, "
          f"python {info['python']}, git {info['git']}; load {fmt_load(info['load_start'])}", file=out)
    print(f"command: {info['command']}", file=out, flush=True)
    if args.pairs < 5:
        print(f"({args.pairs} pairs: a quick look, not figures to publish, which need at least 5)", file=out)
    results = []
    for row in selected(rows, args.rows):
        res = measure(row, args.pairs, args.warmup)
        results.append(res)
        print_row(res, out)
        out.flush()
    info["load_end"] = loadavg()[:3]
    print_summary(results, out)
    print(f"\nload (1/5/15 min): {fmt_load(info['load_start'])} at the start, {fmt_load(info['load_end'])} at the end",
          file=out)
    if args.json:
        text = json.dumps({**info, "rows": results}, indent=2)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0
