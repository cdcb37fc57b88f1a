"""The private /tmp hides nothing a sandboxed command needs: a program or a venv that lives under /tmp."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pe.sandbox import Policy, wrap


def test_a_program_under_tmp_still_runs(tmp_path: Path, bwrap: None) -> None:
    # A venv under /tmp (pip install into /tmp/venv, then pe demo) runs its interpreter from there.
    program = tmp_path / "venv" / "bin" / "tool"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\necho ran from under /tmp\n")
    program.chmod(0o755)
    work = Path("/").resolve()  # nothing of the policy is under /tmp: only the program is
    argv = wrap([str(program)], Policy(writable=(), cwd=work))
    ran = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "ran from under /tmp"
    # And /tmp itself is still private: the host's other entries there are not visible.
    other = Path("/tmp") / f"pe-test-not-visible-{tmp_path.name}"
    other.write_text("host only")
    try:
        seen = subprocess.run(wrap(["ls", "/tmp"], Policy(writable=(), cwd=work)), capture_output=True, text=True)
        assert other.name not in seen.stdout
    finally:
        other.unlink()
