"""The sandbox's start cost: `true` inside bwrap (as pe.sandbox.wrap builds it) against plain `true`.

    python bench/bench_sandbox.py [--reps N]

Both run alternately in one loop, so both see the same machine load; medians are printed,
with the difference per start (target: under 20 ms). Not a test: nothing here fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pe import sandbox


def start(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def tree_policy(root: Path, network: bool) -> sandbox.Policy:
    """The shape of a tree's policy: the tree, its admin dir and the object store writable, its `.git` read-only."""
    tree, admin, objects = root / "trees" / "b-1", root / ".git" / "worktrees" / "b-1", root / ".git" / "objects"
    for d in (tree, admin, objects):
        d.mkdir(parents=True, exist_ok=True)
    (tree / ".git").write_text(f"gitdir: {admin}\n")
    return sandbox.Policy(writable=(tree, admin, objects), readonly=(tree / ".git",), cwd=tree, network=network)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=50, help="starts of each (default 50)")
    args = ap.parse_args()
    print(f"machine: {platform.platform()}, {os.cpu_count()} cpus, python {platform.python_version()}")
    reason = sandbox.probe()
    if reason is not None:
        print(f"bwrap is not usable here: {reason}")
        return 0
    bwrap_version = subprocess.run([shutil.which("bwrap") or "bwrap", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    print(f"{bwrap_version}; {args.reps} starts of each, alternated")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pe-bench-sandbox-") as d:
        for network in (True, False):
            policy = tree_policy(Path(d), network)
            t = time.perf_counter()
            wrapped = sandbox.wrap(["true"], policy)
            build = time.perf_counter() - t
            plain, boxed = [], []
            for _ in range(args.reps):
                plain.append(start(["true"]))
                boxed.append(start(wrapped))
            p, b = statistics.median(plain), statistics.median(boxed)
            rows.append((f"true in bwrap, network={network}", b, p, build))
    width = max(len(r[0]) for r in rows)
    print(f"{'benchmark':<{width}}  {'sandboxed':>10}  {'plain true':>10}  {'difference':>10}  {'wrap()':>8}  target")
    for name, b, p, build in rows:
        print(f"{name:<{width}}  {b * 1000:>8.1f}ms  {p * 1000:>8.1f}ms  {(b - p) * 1000:>8.1f}ms  "
              f"{build * 1000:>6.2f}ms  < 20 ms per start")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
