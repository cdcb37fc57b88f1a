"""A real agent program for the `command` preset, scripted by environment variables.

It is not a test double of pe: it is what a user's own agent command is. Each
run appends one JSON line to $PE_TEST_RUNS (the side effect tests count).

  PE_TEST_SLEEP=S            sleep S seconds before writing anything
  PE_TEST_SLEEP_<INDEX>=S    the same, for tree INDEX only
  PE_TEST_FAIL=1,3           tree indexes that exit 1
  PE_TEST_NO_RESULTS=2       tree indexes that exit 0 without RESULTS.md
  PE_TEST_HALF_RESULTS=2     tree indexes that write half of RESULTS.md, then die
  PE_TEST_CHILD=1            also start a grandchild that sleeps (process-group tests)
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SECTIONS = [
    "Approach Summary",
    "Files Created/Modified",
    "Key Design Decisions",
    "Trade-offs Made",
    "Performance Considerations",
    "Testing Strategy",
]


def _has(var: str, index: str) -> bool:
    return index in os.environ.get(var, "").split(",")


def main() -> int:
    index = os.environ["PE_INDEX"]
    tree = os.environ["PE_TREE"]
    start = time.time()
    runs = os.environ.get("PE_TEST_RUNS")
    if os.environ.get("PE_TEST_CHILD"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        Path("child.pid").write_text(str(child.pid))
    if runs:
        with open(runs, "a") as fh:
            fh.write(json.dumps({"tree": tree, "event": "start", "t": start, "pid": os.getpid(),
                                 "resume": os.environ.get("PE_RESUME"), "prompt": sys.argv[1:]}) + "\n")
    time.sleep(float(os.environ.get(f"PE_TEST_SLEEP_{index}", os.environ.get("PE_TEST_SLEEP", "0"))))
    Path("impl.txt").write_text(f"{tree} {os.environ.get('PE_STRATEGY')}\n")
    if _has("PE_TEST_HALF_RESULTS", index):
        Path("RESULTS.md").write_text("## Approach Summary\n\nhalf\n")
        os.kill(os.getpid(), 9)
    if not _has("PE_TEST_NO_RESULTS", index):
        Path("RESULTS.md").write_text("".join(f"## {s}\n\n{tree}: {s}\n\n" for s in SECTIONS))
    if runs:
        with open(runs, "a") as fh:
            fh.write(json.dumps({"tree": tree, "event": "end", "t": time.time()}) + "\n")
    return 1 if _has("PE_TEST_FAIL", index) else 0


if __name__ == "__main__":
    raise SystemExit(main())
