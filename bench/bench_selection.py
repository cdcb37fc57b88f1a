"""How often does `pe compare` recommend a correct implementation? A selection benchmark.

    python bench/bench_selection.py [--sets N] [--keep]

For each candidate set (bench/selection_sets.py) it makes a repository with a plan, a stub and
one weak test, runs `pe init` and `pe execute` with four `command` agents (each copies one
candidate, in a tree order shuffled per set, seeded), then `pe compare` with the project's test
as the check, and reads the recommendation from evidence.json. The hidden tests, which pe
never runs, say which candidates are correct. Printed, measured in the same run:
  pe                      how often the recommended tree is correct (no recommendation: wrong)
  random pick             the share of correct candidates (the expected rate of a uniform pick)
  tests pass, smallest    among the trees whose checks passed, the smallest diff
Not a test: nothing here fails. It first checks each set's premises (the weak test passes
every candidate but the broken one; the hidden tests fail exactly the wrong ones).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from selection_sets import SETS, Set

PE = [sys.executable, "-m", "pe"]
RESULTS = "".join(f"## {s}\n\nsee the code\n\n" for s in [
    "Approach Summary", "Files Created/Modified", "Key Design Decisions", "Trade-offs Made",
    "Performance Considerations", "Testing Strategy"])
# The agent: copy candidate $PE_INDEX of the set in $SELECTION_DIR into the tree.
AGENT = """import os, shutil, sys
src = os.path.join(os.environ["SELECTION_DIR"], os.environ["PE_INDEX"])
for name in os.listdir(src):
    dest = os.path.join("tests", name) if name.startswith("test_") else name
    shutil.copy(os.path.join(src, name), dest)
"""


def sh(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
       check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, check=check, capture_output=True, text=True)


def passes(code: str, asserts: list[str], where: Path) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    (where / "mod.py").write_text(code)
    body = "".join(f"    {a}\n" for a in asserts)
    script = f"import sys\nsys.path.insert(0, {str(where)!r})\nfrom mod import *\ndef t():\n{body}\nt()\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True).returncode == 0


def premises(s: Set, tmp: Path) -> list[str]:
    wrong = []
    for c in s.candidates():
        if passes(c.code, [s.weak], tmp / c.label) == (c.label == "broken"):
            wrong.append(f"{s.name}/{c.label}: the weak test {'passes' if c.label == 'broken' else 'fails'}")
        if passes(c.code, list(s.hidden), tmp / c.label) != c.correct:
            wrong.append(f"{s.name}/{c.label}: the hidden tests disagree with correct={c.correct}")
    return wrong


def make_repo(s: Set, where: Path) -> Path:
    root = where / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "specs").mkdir()
    (root / "tools").mkdir()
    (root / "mod.py").write_text(f"def {s.func}(*args):\n    raise NotImplementedError\n")
    (root / "tests" / "test_weak.py").write_text(f"from mod import {s.func}\n\n\ndef test_weak():\n    {s.weak}\n")
    (root / "specs" / "plan.md").write_text(f"# Plan\n\nImplement `{s.func}` in mod.py, correctly for every input.\n")
    (root / "tools" / "agent.py").write_text(AGENT)
    (root / "features").mkdir()
    (root / "features" / "sel.yaml").write_text(
        "feature: sel\nplan: specs/plan.md\ncount: 4\njobs: 4\nsandbox: none\n"
        "setup: {install: none}\n"
        "agent: {preset: command, command: [python, tools/agent.py]}\n"
        f"checks:\n  test: {{command: [{json.dumps(sys.executable)}, -m, pytest, -q, -p, no:cacheprovider, tests]}}\n")
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"], root)
    return root


def run_set(s: Set, where: Path, rng: random.Random) -> dict[str, object]:
    order = s.candidates()
    rng.shuffle(order)
    cands = where / "candidates"
    for i, c in enumerate(order, 1):
        (cands / str(i)).mkdir(parents=True)
        (cands / str(i) / "mod.py").write_text(c.code)
        (cands / str(i) / f"test_own_{i}.py").write_text(c.tests)
        (cands / str(i) / "RESULTS.md").write_text(RESULTS)
    root = make_repo(s, where)
    env = {**os.environ, "SELECTION_DIR": str(cands)}
    for argv in (["init", "--feature=sel"], ["execute", "--feature=sel", "--plain"]):
        res = sh([*PE, *argv], root, env, check=False)
        if res.returncode != 0:
            raise SystemExit(f"{s.name}: pe {' '.join(argv)} exited {res.returncode}:\n{res.stdout}{res.stderr}")
    sh([*PE, "compare", "--feature=sel"], root, env, check=False)
    evidence = json.loads((root / "reports" / "sel" / "evidence.json").read_text())
    by_tree = {f"sel-{i}": c for i, c in enumerate(order, 1)}
    picked = evidence.get("recommended")
    passed = [t for t in evidence["trees"] if t.get("checks") and all(c["status"] == "passed" for c in t["checks"])]
    smallest = min(passed, key=lambda t: _lines(t), default=None)
    return {
        "set": s.name,
        "pe": bool(picked) and by_tree[picked].correct,
        "pe_pick": by_tree[picked].label if picked else None,
        "random": sum(c.correct for c in order) / len(order),
        "smallest": bool(smallest) and by_tree[smallest["tree"]].correct,
        "smallest_pick": by_tree[smallest["tree"]].label if smallest else None,
    }


def _lines(tree: dict[str, object]) -> int:
    return int(tree.get("insertions") or 0) + int(tree.get("deletions") or 0)  # type: ignore[call-overload]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", type=int, default=len(SETS))
    ap.add_argument("--seed", type=int, default=20261201)
    ap.add_argument("--keep", action="store_true", help="keep the scratch repositories (their path is printed)")
    args = ap.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 (a seeded shuffle, for runs that can be repeated)
    tmp = Path(tempfile.mkdtemp(prefix="pe-bench-selection-"))
    try:
        broken = [w for s in SETS[: args.sets] for w in premises(s, tmp / "premises" / s.name)]
        if broken:
            print("premises do not hold:\n  " + "\n  ".join(broken))
            return 1
        rows = [run_set(s, tmp / s.name, rng) for s in SETS[: args.sets]]
    finally:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'set':<10} {'pe picks':<10} {'smallest-passing picks':<24}")
    for r in rows:
        print(f"{r['set']:<10} {r['pe_pick']!s:<10} {r['smallest_pick']!s:<24}")
    n = len(rows)
    pe_rate = sum(bool(r["pe"]) for r in rows) / n
    rand = sum(float(r["random"]) for r in rows) / n  # type: ignore[arg-type]
    small = sum(bool(r["smallest"]) for r in rows) / n
    print(f"\ncorrect recommendation over {n} sets: pe {pe_rate:.2f}, random pick {rand:.2f}, "
          f"tests pass then smallest diff {small:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
