"""Start-up figures of two pe checkouts side by side: `pe --help`, `pe status`, a no-op `pe resume`,
and with --agents N, `pe execute` of N agents that sleep 1 s (what starting, supervising and
finishing an agent costs beyond the sleep).

    python bench/bench_versions.py OLD_CHECKOUT [NEW_CHECKOUT] [--reps N] [--agents N]

Each checkout's pe runs from its own source (PYTHONPATH), alternately, on a repository it
made itself with three finished trees (bench_core's sleeping agent, no sandbox either side),
so both see the same machine load. Prints medians and new/old ratios. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import bench_core

COMMANDS = {"pe --help": ["--help"], "pe status": ["status"], "no-op pe resume": ["resume", "--feature=r"]}


def _env(checkout: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(checkout)}


def _time(argv: list[str], cwd: Path, checkout: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=_env(checkout), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def _agents(where: Path, checkouts: list[Path], n: int, reps: int) -> dict[Path, list[float]]:
    """`pe execute` right after `pe init`, N agents sleeping 1 s; old and new alternately."""
    roots = {}
    for i, checkout in enumerate(checkouts):
        roots[checkout] = bench_core.make_repo(where / f"agents{i}", 10)
        bench_core.manifest(roots[checkout], "p", n, sleep=1.0, sandbox="none")
    walls: dict[Path, list[float]] = {c: [] for c in checkouts}
    for _ in range(reps):
        for checkout, root in roots.items():
            bench_core.reset(root)
            subprocess.run([sys.executable, "-m", "pe", "init", "--feature=p"], cwd=root, env=_env(checkout),
                           check=True, stdout=subprocess.DEVNULL)
            walls[checkout].append(_time([sys.executable, "-m", "pe", "execute", "--feature=p"], root, checkout))
    return walls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[1])
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--agents", type=int, default=0, help="also time execute of this many 1-second agents")
    args = ap.parse_args()
    checkouts = [args.old.resolve(), args.new.resolve()]
    for checkout in checkouts:  # compiled, as pip leaves an installed pe
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "pe")], check=True)
    with tempfile.TemporaryDirectory(prefix="pe-bench-versions-") as d:
        repos = {}
        for i, checkout in enumerate(checkouts):
            root = bench_core.make_repo(Path(d) / f"v{i}", 50)
            bench_core.manifest(root, "r", 3)
            subprocess.run([sys.executable, "-m", "pe", "execute", "--feature=r"], cwd=root, env=_env(checkout),
                           check=True, stdout=subprocess.DEVNULL)
            repos[checkout] = root
        times: dict[str, dict[Path, list[float]]] = {name: {c: [] for c in checkouts} for name in COMMANDS}
        for _ in range(args.reps):
            for checkout, root in repos.items():
                for name, argv in COMMANDS.items():
                    times[name][checkout].append(_time([sys.executable, "-m", "pe", *argv], root, checkout))
        if args.agents:
            times[f"execute, {args.agents} agents"] = _agents(Path(d), checkouts, args.agents, max(5, args.reps // 4))
    old, new = checkouts
    print(f"old: {old}\nnew: {new}")
    for name, by in times.items():
        a, b = statistics.median(by[old]) * 1000, statistics.median(by[new]) * 1000
        print(f"{name:<16}  old {a:6.1f} ms  new {b:6.1f} ms  new/old {b / a:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
