"""Counting the git processes pe starts: a `git` first on PATH that logs where it ran and its
arguments, then runs the real one. For tests of how many times pe asks git something."""

from __future__ import annotations

import os
from pathlib import Path


def counting_git(where: Path) -> tuple[dict[str, str], Path]:
    """(the environment that puts the logging git first on PATH, the log it appends to)."""
    bindir, log = where / "bin", where / "git-calls.log"
    bindir.mkdir(parents=True)
    real = next(Path(d) / "git" for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / "git").is_file())
    # Where it ran: `git -C DIR` (pe.proc.quick has no cwd) or the working directory.
    (bindir / "git").write_text(f'#!/bin/sh\ndir=$(pwd)\nif [ "$1" = -C ]; then dir=$(cd "$2" && pwd); fi\n'
                                f'echo "$dir :: $*" >> {log}\nexec {real} "$@"\n')
    (bindir / "git").chmod(0o755)
    log.touch()
    return {"PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}, log


def calls(log: Path, cwd: Path, word: str) -> int:
    """How many logged git calls ran in `cwd` with `word` among their arguments."""
    return sum(1 for line in log.read_text().splitlines()
               if line.startswith(f"{cwd} :: ") and word in line.split(" :: ", 1)[1].split())


def counted_execute(repo: Path, where: Path, env: dict[str, str] | None = None, **manifest: object) -> Path:
    """Feature `feat` (write_manifest(**manifest)) committed and made with pe init, then one `pe execute`
    whose git processes are logged: the log. The execute must succeed."""
    from tests.support import git, pe_run, write_manifest

    write_manifest(repo, **manifest)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "manifest")
    assert pe_run(repo, "init", "--feature=feat").returncode == 0
    counting, log = counting_git(where)
    res = pe_run(repo, "execute", "--feature=feat", "--plain", env={**counting, **(env or {})})
    assert res.returncode == 0, res.stdout + res.stderr
    return log
