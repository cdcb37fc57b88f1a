"""Start-up figures of two pe checkouts side by side: `pe --help`, `pe status`, a no-op `pe resume`,
and with --agents N, `pe execute` of N agents that sleep 1 s (what starting, supervising and
finishing an agent costs beyond the sleep).

    python bench/bench_versions.py OLD_CHECKOUT [NEW_CHECKOUT] [--pairs N] [--agents N] [--json FILE]

Each checkout's pe runs from its own source (PYTHONPATH), alternately (bench/harness.py: a
warm-up, then old and new in turn), on a repository it made itself with three finished trees
(bench_core's sleeping agent, no sandbox either side), so both see the same machine load.
Prints medians, ranges and the per-pair new/old ratio. Not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_core
from harness import Ratio, Row, Side, add_arguments, run_rows

PE = bench_core.PE
COMMANDS = {"help": ["--help"], "status": ["status"], "resume": ["resume", "--feature=r"]}


def _env(checkout: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(checkout)}


def _head(checkout: Path) -> str:
    return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=checkout, capture_output=True,
                          text=True).stdout.strip() or "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path, nargs="?", default=Path(__file__).resolve().parents[1])
    ap.add_argument("--agents", type=int, default=0, help="also time execute of this many 1-second agents")
    add_arguments(ap, [*COMMANDS, "agents"], pairs=21)
    args = ap.parse_args()
    if not args.agents and "--rows" not in sys.argv:
        args.rows = ",".join(COMMANDS)
    if "agents" in args.rows.split(",") and not args.agents:
        ap.error("the agents row needs --agents N")
    checkouts = {"old": args.old.resolve(), "new": args.new.resolve()}
    for checkout in checkouts.values():  # compiled, as pip leaves an installed pe
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "pe")], check=True,
                       stdout=subprocess.DEVNULL)
    print(f"old: {checkouts['old']}\nnew: {checkouts['new']}")
    with tempfile.TemporaryDirectory(prefix="pe-bench-versions-") as d:
        repos = {name: Path(d) / f"v-{name}" / "repo" for name in checkouts}
        agents = {name: Path(d) / f"agents-{name}" / "repo" for name in checkouts}

        def done_trees() -> None:
            if all(r.exists() for r in repos.values()):
                return
            for name, root in repos.items():
                bench_core.make_repo(root.parent, 50)
                bench_core.manifest(root, "r", 3)
                subprocess.run([*PE, "execute", "--feature=r"], cwd=root, env={**os.environ, **_env(checkouts[name])},
                               check=True, stdout=subprocess.DEVNULL)

        def agent_repos() -> None:
            for root in agents.values():
                bench_core.make_repo(root.parent, 10)
                bench_core.manifest(root, "p", args.agents, sleep=1.0, sandbox="none")

        def fresh(name: str) -> None:
            bench_core.reset(agents[name])
            subprocess.run([*PE, "init", "--feature=p"], cwd=agents[name], env={**os.environ, **_env(checkouts[name])},
                           check=True, stdout=subprocess.DEVNULL)

        rows = [Row(key, f"pe {' '.join(argv)}, old against new", [
            Side(name, [*PE, *argv], repos[name], env=_env(c)) for name, c in checkouts.items()
        ], [Ratio("new", "old")], setup=done_trees) for key, argv in COMMANDS.items()]
        rows.append(Row("agents", f"pe execute, {args.agents} agents sleeping 1 s, right after pe init", [
            Side(name, [*PE, "execute", "--feature=p"], agents[name], env=_env(c),
                 prepare=lambda name=name: fresh(name))
            for name, c in checkouts.items()
        ], [Ratio("new", "old")], setup=agent_repos))
        return run_rows(rows, args, {"commit": ", ".join(f"{n} {_head(c)}" for n, c in checkouts.items())})


if __name__ == "__main__":
    raise SystemExit(main())
