"""pe's graph for plain `doit`: a repository's dodo.py is the one line

    from pe.dodo import *  # noqa: F403

Then `doit list`, `doit run agent:<tree>`, `doit forget`, `doit info` work on
the same tasks, database (.pe/doit.sqlite3) and lock as pe. Mutating doit
commands take pe's repository lock here, at import, because doit itself has
no locking between processes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pe import git
from pe.commands.doit import READ_ONLY
from pe.config import manifest
from pe.engine import runner as engine
from pe.engine.graph import namespace
from pe.errors import PeError
from pe.layout import Layout
from pe.lock import RepoLock
from pe.tree import stamps


def _command(argv: list[str]) -> str:
    return next((a for a in argv[1:] if not a.startswith("-")), "run")


def _namespace() -> dict[str, Any]:
    layout = Layout(git.toplevel(Path.cwd()))
    plan = engine.make_plan(layout, manifest.load_all(layout))
    out = dict(namespace(plan))
    if _command(sys.argv) not in READ_ONLY:
        lock = RepoLock(layout.lock_file)
        lock.acquire("doit " + " ".join(sys.argv[1:3]))
        out["_PE_LOCK"] = lock  # held until doit exits
        from pe.lifecycle import adoption_journal

        adoption_journal.finish_after_lock(layout)
        stamps.seal_repository(layout)
    config = engine.doit_config(plan)
    del config["reporter"]  # plain doit keeps its own console output
    out["DOIT_CONFIG"] = config
    return out


ns: dict[str, Any] = {}
try:
    ns = _namespace()
except PeError as exc:
    sys.stderr.write(f"pe: error: {exc}\n")
    raise SystemExit(3) from None

globals().update(ns)
__all__ = [k for k in ns if k.startswith("task_") or k == "DOIT_CONFIG"]
