"""A real agent program for the `command` preset, scripted by environment variables.

It is not a test double of pe: it is what a user's own agent command is. Each
run appends one JSON line to $PE_TEST_RUNS (the side effect tests count).

  PE_TEST_SLEEP=S            sleep S seconds before writing anything
  PE_TEST_SLEEP_<INDEX>=S    the same, for tree INDEX only
  PE_TEST_FAIL=1,3           tree indexes that exit 1
  PE_TEST_NO_RESULTS=2       tree indexes that exit 0 without RESULTS.md
  PE_TEST_HALF_RESULTS=2     tree indexes that write half of RESULTS.md, then die
  PE_TEST_CHILD=1            also start a grandchild that sleeps (process-group tests)
  PE_TEST_SLOW_RESULTS=S     write RESULTS.md in two halves, S seconds apart (a kill can land between)
  PE_TEST_OUTPUT=N           print N bytes of output (to the agent log pe keeps)
  PE_TEST_TAG=X              copied into every line written (tells which pe command started the run)
  PE_TEST_VANDAL_<INDEX>=PATHS  tree INDEX deletes these paths (os.pathsep-separated, relative
                             to the tree) before working
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pe.tree.results import RESULTS_SECTIONS as SECTIONS  # what pe requires, so the agent follows it


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
                                 "resume": os.environ.get("PE_RESUME"), "prompt": sys.argv[1:],
                                 "tag": os.environ.get("PE_TEST_TAG")}) + "\n")
    for victim in filter(None, os.environ.get(f"PE_TEST_VANDAL_{index}", "").split(os.pathsep)):
        target = Path(victim)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            target.unlink()
    time.sleep(float(os.environ.get(f"PE_TEST_SLEEP_{index}", os.environ.get("PE_TEST_SLEEP", "0"))))
    output = int(os.environ.get("PE_TEST_OUTPUT", "0"))
    for _ in range(output // 100):
        print("x" * 99, flush=True)
    Path("impl.txt").write_text(f"{tree} {os.environ.get('PE_STRATEGY')}\n")
    if _has("PE_TEST_HALF_RESULTS", index):
        Path("RESULTS.md").write_text("## Approach Summary\n\nhalf\n")
        os.kill(os.getpid(), 9)
    if not _has("PE_TEST_NO_RESULTS", index):
        text = "".join(f"## {s}\n\n{tree}: {s}\n\n" for s in SECTIONS)
        slow = float(os.environ.get("PE_TEST_SLOW_RESULTS", "0"))
        with open("RESULTS.md", "w") as fh:
            if slow:
                fh.write(text[: len(text) // 2])
                fh.flush()
                time.sleep(slow)
            fh.write(text[len(text) // 2 :] if slow else text)
    if runs:
        with open(runs, "a") as fh:
            fh.write(json.dumps({"tree": tree, "event": "end", "t": time.time(),
                                 "tag": os.environ.get("PE_TEST_TAG")}) + "\n")
    return 1 if _has("PE_TEST_FAIL", index) else 0


if __name__ == "__main__":
    raise SystemExit(main())
