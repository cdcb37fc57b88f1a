"""Tree setup: what 3 trees cost against 1, for a small real npm project and a small real uv project.

    python bench/bench_setup.py [--rounds N] [--only npm|uv]

Each measurement is `pe init` (create the trees and run setup:<tree> for each,
all trees in parallel) in a fresh repository, timed from the outside. Two
cache states, each measured for 1 tree and for 3 trees in the same run:
- cold: the package manager's cache is a new empty directory (npm_config_cache,
  UV_CACHE_DIR), so tree 1 downloads everything;
- warm: the cache already holds the packages (a developer's usual case).
Target (issue 3): 3 trees cost at most 1.5x one. For comparison, the same
table has the bare install command run 1 and 3 times at once in plain copies
of the project (no worktrees, no pe), which is what a setup script per tree does. Needs npm and uv on PATH and
the registries reachable. Not a test: nothing here fails; it prints a markdown
table (the medians of --rounds runs) for bench/setup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PE = [sys.executable, "-m", "pe"]
# Small, real, and each a web app that would want its own port.
NPM_PROJECT = {"name": "bench-web", "version": "1.0.0", "private": True,
               "dependencies": {"express": "4.21.2"}}
UV_PROJECT = """[project]
name = "bench-web"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["flask==3.1.0"]
"""


def sh(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, **(env or {})})


def template(where: Path, kind: str) -> Path:
    """A committed project with its lockfile (made once, outside every timing)."""
    root = where / f"template-{kind}"
    root.mkdir()
    (root / "specs").mkdir()
    (root / "specs" / "plan.md").write_text("# plan\n")
    (root / "index.js" if kind == "npm" else root / "app.py").write_text("// app\n" if kind == "npm" else "# app\n")
    if kind == "npm":
        (root / "package.json").write_text(json.dumps(NPM_PROJECT, indent=2) + "\n")
        sh(["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"], root)
    else:
        (root / "pyproject.toml").write_text(UV_PROJECT)
        sh(["uv", "lock", "--quiet"], root)
    (root / ".gitignore").write_text("node_modules/\n.venv/\n")
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"], root)
    return root


def manifest(root: Path, count: int) -> None:
    (root / "features").mkdir(exist_ok=True)
    (root / "features" / "bench.yaml").write_text(
        f"feature: bench\nplan: specs/plan.md\ncount: {count}\njobs: {count}\n"
        "setup: {install: auto, copy: [], ports: {range: [43100, 43999]}}\n"
    )


def one_run(where: Path, tmpl: Path, count: int, cache_env: dict[str, str]) -> tuple[float, list[float]]:
    """Wall time of `pe init` for `count` trees; each tree's install seconds (from its stamp), sorted."""
    root = where / f"run-{time.monotonic_ns()}"
    shutil.copytree(tmpl, root, symlinks=True)
    manifest(root, count)
    start = time.perf_counter()
    proc = subprocess.run([*PE, "init", "--feature=bench", f"--dir={root}"], capture_output=True, text=True,
                          env={**os.environ, **cache_env})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"pe init failed:\n{proc.stdout}\n{proc.stderr}")
    installs = []
    for i in range(1, count + 1):
        stamp = json.loads((root / ".pe" / "stamps" / f"bench-{i}.setup.json").read_text())
        installs += [rec["seconds"] for rec in stamp["installs"].values()]
    subprocess.run(["git", "worktree", "prune"], cwd=root, check=False)
    shutil.rmtree(root, ignore_errors=True)
    return wall, sorted(installs, reverse=True)


def naive_run(where: Path, tmpl: Path, kind: str, count: int, cache_env: dict[str, str]) -> float:
    """For comparison: the bare install command in `count` copies of the project at once, nothing else."""
    dirs = []
    for i in range(count):
        d = where / f"naive-{time.monotonic_ns()}-{i}"
        shutil.copytree(tmpl, d, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        dirs.append(d)
    argv = ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund"] if kind == "npm" else ["uv", "sync", "--frozen"]
    start = time.perf_counter()
    procs = [subprocess.Popen(argv, cwd=d, env={**os.environ, **cache_env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for d in dirs]
    if any(p.wait() != 0 for p in procs):
        sys.exit(f"{argv[0]} failed in the naive run")
    wall = time.perf_counter() - start
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
    return wall


def cache_env(kind: str, cache: Path) -> dict[str, str]:
    return {"npm_config_cache": str(cache)} if kind == "npm" else {"UV_CACHE_DIR": str(cache)}


def measure(where: Path, kind: str, rounds: int) -> dict[str, float]:
    tmpl = template(where, kind)
    out: dict[str, list[float]] = {k: [] for k in ("cold1", "cold3", "warm1", "warm3", "i1", "i2", "i3",
                                                   "ncold1", "ncold3", "nwarm1", "nwarm3")}
    warm = where / f"cache-{kind}-warm"
    one_run(where, tmpl, 1, cache_env(kind, warm))  # fill the warm cache
    for r in range(rounds):
        for count in (1, 3):
            cold = where / f"cache-{kind}-cold-{r}-{count}"
            wall, installs = one_run(where, tmpl, count, cache_env(kind, cold))
            out[f"cold{count}"].append(wall)
            if count == 3:
                for i, seconds in enumerate(installs, 1):
                    out[f"i{i}"].append(seconds)
            shutil.rmtree(cold, ignore_errors=True)
            wall, _ = one_run(where, tmpl, count, cache_env(kind, warm))
            out[f"warm{count}"].append(wall)
            cold = where / f"cache-{kind}-naive-{r}-{count}"
            out[f"ncold{count}"].append(naive_run(where, tmpl, kind, count, cache_env(kind, cold)))
            shutil.rmtree(cold, ignore_errors=True)
            out[f"nwarm{count}"].append(naive_run(where, tmpl, kind, count, cache_env(kind, warm)))
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["npm", "uv"])
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["npm", "uv"]
    for tool in ("git", *(["npm"] if "npm" in kinds else []), *(["uv"] if "uv" in kinds else [])):
        if shutil.which(tool) is None:
            sys.exit(f"bench_setup needs {tool} on PATH")
    versions = {tool: subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.strip()
                if tool in kinds else "-" for tool in ("npm", "uv")}
    print(f"# pe tree setup: 3 trees against 1 ({platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, npm {versions['npm']}, {versions['uv']}; "
          f"median of {args.rounds} rounds)\n")
    print("| project | cache | 1 tree | 3 trees | 3 / 1 | install step of each tree (3 trees, cold) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="pe-bench-setup-") as tmp:
        where = Path(tmp)
        for kind in kinds:
            name = "npm: express 4.21.2 (69 packages)" if kind == "npm" else "uv: flask 3.1.0 (7 packages)"
            m = measure(where, kind, args.rounds)
            print(f"| {name} | cold | {m['cold1']:.2f}s | {m['cold3']:.2f}s | {m['cold3'] / m['cold1']:.2f}x "
                  f"| {m['i1']:.2f}s, {m['i2']:.2f}s, {m['i3']:.2f}s |", flush=True)
            print(f"| {name} | warm | {m['warm1']:.2f}s | {m['warm3']:.2f}s | {m['warm3'] / m['warm1']:.2f}x | |",
                  flush=True)
            for cache in ("cold", "warm"):
                one, three = m[f"n{cache}1"], m[f"n{cache}3"]
                print(f"| (for comparison: bare `{'npm ci' if kind == 'npm' else 'uv sync'}` x1 / x3 at once, "
                      f"no pe) | {cache} | {one:.2f}s | {three:.2f}s | {three / one:.2f}x | |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
