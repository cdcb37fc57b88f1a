"""Running commands in a real sandbox, and asking from inside it which writes fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pe.sandbox import Policy, wrap

# Run inside the sandbox: tries each write given as argv (mode:path) and prints path -> errno name or "ok".
# mode "w": write text; "a": open for append and write nothing (safe on a file that must not change).
WRITER = r"""
import errno, json, os, sys
out = {}
for arg in sys.argv[1:]:
    mode, path = arg.split(":", 1)
    try:
        with open(path, mode) as f:
            if mode == "w":
                f.write("written from the sandbox\n")
        out[path] = "ok"
    except OSError as e:
        out[path] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(out))
"""


def run_in(policy: Policy, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`argv` inside the sandbox, its output captured; never raises for its exit status."""
    return subprocess.run(wrap(list(argv), policy), capture_output=True, text=True, timeout=timeout)


def try_writes(policy: Policy, writes: dict[Path, str]) -> dict[str, str]:
    """For each path -> mode ("w" or "a"), what writing it from inside the sandbox gave: "ok" or an errno name."""
    done = run_in(policy, sys.executable, "-c", WRITER, *(f"{mode}:{path}" for path, mode in writes.items()))
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result
