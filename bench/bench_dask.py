"""--runner=dask against the local runner (issue 16): N sleeping agents, two at a time, in one run.

    python bench/bench_dask.py [--agents N] [--sleep S] [--reps R]

A loopback cluster of two workers (pe cluster start --workers=2) against the local runner with
--jobs=2, the same concurrency, so the ratio is what dispatching costs: the bundle of each tree's
branch, the scratch clone, pe's graph on the worker, and the fetch home. Needs the dask extra.
Not a test: nothing here fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import PE, make_repo, manifest, reset


def run(argv: list[str], cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, check=False, capture_output=True, text=True)
    if done.returncode != 0:  # a failed round says why, not only that it failed
        raise SystemExit(f"{' '.join(argv[2:])} exited {done.returncode}:\n{done.stdout[-4000:]}{done.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=6)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pe-bench-dask-") as tmp:
        root = make_repo(Path(tmp), files=50)
        manifest(root, "bench", args.agents, sleep=args.sleep, sandbox="none")
        home = make_repo(Path(tmp) / "cluster", files=1)
        address = subprocess.run([*PE, "cluster", "start", "--workers=2"], cwd=home, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
        times: dict[str, list[float]] = {"local": [], "dask": []}
        try:
            for _ in range(args.reps):  # interleaved: a load change hits both alike
                for runner in ("local", "dask"):
                    reset(root)
                    extra = [f"--scheduler={address}"] if runner == "dask" else []
                    t = time.perf_counter()
                    run([*PE, "execute", "--feature=bench", "--plain", "--jobs=2", f"--runner={runner}", *extra], root)
                    times[runner].append(time.perf_counter() - t)
        finally:
            subprocess.run([*PE, "cluster", "stop"], cwd=home, check=False, capture_output=True)
    local, dask = statistics.median(times["local"]), statistics.median(times["dask"])
    floor = args.sleep * -(-args.agents // 2)
    print(f"{args.agents} agents sleeping {args.sleep:g}s, 2 at a time (floor {floor:.1f}s), median of {args.reps}:")
    print(f"  local runner: {local:.2f}s")
    print(f"  dask runner:  {dask:.2f}s (2 loopback workers)")
    print(f"  ratio dask/local: {dask / local:.2f}; dispatch overhead per agent: "
          f"{(dask - local) / args.agents * 2 * 1000:.0f} ms of wall time per slot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
