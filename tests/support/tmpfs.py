"""A small tmpfs mounted on a directory: the one way the tests get a disk that really fills up.

Where the test cannot mount one (not root, no CAP_SYS_ADMIN, no `mount`), it is skipped
and says why.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str = "2m") -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip(f"no `mount` command to put {where.name}/ on a small tmpfs")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for {where.name}/ here: {res.stderr.strip() or res.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path, leave_kb: int) -> Path:
    """A file that takes all of the tmpfs but `leave_kb`."""
    st = shutil.disk_usage(where)
    filler = where / "filler"
    with filler.open("ab") as fh:
        fh.write(b"\0" * max(0, st.free - leave_kb * 1024))
    return filler
