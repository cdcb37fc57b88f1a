"""The sandbox's start cost: `true` inside bwrap (as pe.sandbox.wrap builds it) against plain `true`.

    python bench/bench_sandbox.py [--pairs N] [--json FILE]

On bench/harness.py: both alternate after a warm-up; medians and ranges of each, and the
per-pair difference (target: under 20 ms per start). Not a test: nothing here fails.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Ratio, Row, Side, add_arguments, run_rows

from pe import sandbox


def tree_policy(root: Path, network: bool) -> sandbox.Policy:
    """The shape of a tree's policy: the tree, its admin dir and the object store writable, its `.git` read-only."""
    tree, admin, objects = root / "trees" / "b-1", root / ".git" / "worktrees" / "b-1", root / ".git" / "objects"
    for d in (tree, admin, objects):
        d.mkdir(parents=True, exist_ok=True)
    (tree / ".git").write_text(f"gitdir: {admin}\n")
    return sandbox.Policy(writable=(tree, admin, objects), readonly=(tree / ".git",), cwd=tree, network=network)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    keys = ["network", "no-network"]
    add_arguments(ap, keys, pairs=50)
    args = ap.parse_args()
    reason = sandbox.probe()
    if reason is not None:
        print(f"bwrap is not usable here: {reason}")
        return 0
    bwrap_version = subprocess.run([shutil.which("bwrap") or "bwrap", "--version"], capture_output=True,
                                   text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="pe-bench-sandbox-") as d:
        rows = []
        for key, network in zip(keys, (True, False), strict=True):
            policy = tree_policy(Path(d) / key, network)
            t = time.perf_counter()
            wrapped = sandbox.wrap(["true"], policy)
            build = time.perf_counter() - t
            rows.append(Row(key, f"true in bwrap, network={network}, against plain true", [
                Side("sandboxed", wrapped), Side("plain", ["true"]),
            ], [Ratio("sandboxed", "plain", 0.020, diff=True), Ratio("sandboxed", "plain")],
                notes=[f"{bwrap_version}; building the argv (sandbox.wrap) took {build * 1000:.2f} ms"]))
        return run_rows(rows, args)


if __name__ == "__main__":
    raise SystemExit(main())
