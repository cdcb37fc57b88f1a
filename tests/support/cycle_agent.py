"""A scripted `command` agent for the status/recover/compare/adopt/cleanup tests.

Run by pe with the tree as its working directory and the PE_* variables set.
What it does is chosen per tree by environment variables (index = PE_INDEX):

  CYCLE_MODE_<index> or CYCLE_MODE        ok (default) | fail | hang | noresults | sleep:SECONDS
  CYCLE_VARIANT_<index> or CYCLE_VARIANT  good (default) | broken (a test fails) | slow (bench is slower)
                                          | dep (adds a dependency to requirements.txt)
  CYCLE_MARKS                             a directory: one line per start in runs.log, and a file
                                          started-<tree> once the work files are written

With PE_STRATEGY=judge it acts as pe compare's judge: it writes JUDGE.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

GOOD = '''def fib(n: int) -> int:
    """Iterative: O(n)."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
'''
SLOW = '''def fib(n: int) -> int:
    """Naive recursion: exponential, on purpose."""
    return n if n < 2 else fib(n - 1) + fib(n - 2)
'''
BROKEN = '''def fib(n: int) -> int:
    """Off by one for n > 1."""
    return n
'''


def setting(name: str, default: str) -> str:
    index = os.environ.get("PE_INDEX", "0")
    return os.environ.get(f"{name}_{index}") or os.environ.get(name) or default


def mark(event: str) -> None:
    marks = os.environ.get("CYCLE_MARKS")
    if not marks:
        return
    d = Path(marks)
    d.mkdir(parents=True, exist_ok=True)
    tree = os.environ.get("PE_TREE", "?")
    with (d / "runs.log").open("a") as fh:
        fh.write(json.dumps({"tree": tree, "event": event, "pid": os.getpid(), "t": time.time()}) + "\n")
    if event == "working":
        (d / f"started-{tree}").write_text(str(os.getpid()))


def judge() -> int:
    prompt = Path(os.environ["PE_PROMPT_FILE"]).read_text()
    evidence = json.loads(Path("evidence.json").read_text())
    best = evidence.get("recommended") or "none"
    Path("JUDGE.md").write_text(
        f"The judge read {len(prompt)} characters of instructions and the evidence of "
        f"{len(evidence['trees'])} trees. It agrees with {best}.\n"
    )
    return 0


def main() -> int:
    if os.environ.get("PE_STRATEGY") == "judge":
        return judge()
    mode = setting("CYCLE_MODE", "ok")
    variant = setting("CYCLE_VARIANT", "good")
    strategy = os.environ.get("PE_STRATEGY", "?")
    mark("start")
    Path("PROGRESS.md").write_text(
        f"# Progress\n\n## Completed\n\n- [x] read the plan\n- [x] chose the {strategy} approach\n\n"
        "## In Progress\n\n- writing fib\n\n## Remaining TODOs\n\n- [ ] tests\n- [ ] RESULTS.md\n\n"
        "## Resume Instructions\n\nContinue with fib, then RESULTS.md.\n\n## Context\n\nAgent note: kept.\n"
    )
    Path("mathlib.py").write_text({"slow": SLOW, "broken": BROKEN}.get(variant, GOOD))
    Path("notes").mkdir(exist_ok=True)
    Path("notes", f"{strategy}.txt").write_text(f"{strategy} {variant}\n")
    if variant == "dep":
        with open("requirements.txt", "a") as fh:
            fh.write("requests>=2.31\n")
    print(f"cycle agent: {strategy}/{variant} wrote its files", flush=True)
    mark("working")
    if mode == "hang":
        print("cycle agent: hanging", flush=True)
        time.sleep(3600)
    if mode == "fail":
        print("cycle agent: failing on purpose", flush=True)
        return 1
    if mode.startswith("sleep:"):
        time.sleep(float(mode.split(":", 1)[1]))
    if mode == "noresults":
        return 0
    Path("PROGRESS.md").write_text(
        "# Progress\n\n## Completed\n\n- [x] read the plan\n- [x] fib\n- [x] RESULTS.md\n\n## Remaining TODOs\n\n"
    )
    risk = {"slow": "exponential time", "broken": "not checked", "dep": "a new dependency"}.get(variant, "none seen")
    Path("RESULTS.md").write_text(
        f"# Results: {strategy}\n\n## Approach Summary\n\nA {variant} fib for the {strategy} strategy.\n\n"
        "## Files Created/Modified\n\n- mathlib.py\n\n"
        f"## Key Design Decisions\n\n- Chose the {variant} algorithm\n- Kept the public API\n\n"
        f"## Trade-offs Made\n\n- Risk: {risk}\n\n"
        f"## Performance Considerations\n\n{variant} runtime.\n\n## Testing Strategy\n\nThe repo's tests.\n"
    )
    mark("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
