"""The build gate: `verify:` in a tree, and once on the base commit (`baseline: true`).

A tree whose verify fails is "setup failed" and its agent never starts. The
gate applies before a tree's agent first starts: once an agent has worked in
a tree, a failure would describe the agent's unfinished work, not the tree's
setup, so later setups of that tree (e.g. after its lockfile changed) skip it.

With `baseline: true` verify first runs on the base commit itself: an export
of it (`git archive`, not a git checkout) under .pe/baseline/<feature>/, with
the same files carried over, env, ports and installs, then deleted. Its
result is kept in .pe/baseline/<feature>.json per base commit and setup, so
it runs once however many trees there are. If the base already fails, every
tree reports that instead of running its own verify, and nothing is blamed on
a tree or an agent; if the base passes and a tree fails, the reason says so.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

from pe import git
from pe.config import argv as argvs
from pe.config.setup import SetupConfig
from pe.errors import PeError
from pe.fsutil import read_json, sha256_text, write_json_atomic
from pe.layout import Layout
from pe.lock import file_lock
from pe.proc import ProcError
from pe.treesetup import carry, envfile, install, ports
from pe.treesetup.runlog import Ran, SetupLog, require_tool
from pe.util import now_iso


def run_verify(cfg: SetupConfig, cwd: Path, env: dict[str, str], log: SetupLog) -> Ran:
    assert cfg.verify is not None
    # `python` is the tree's .venv interpreter when setup made one, as in checks (pe/compare/checks.py).
    argv = (argvs.program(cfg.verify[0], cwd, venv=cwd / ".venv"), *cfg.verify[1:])
    require_tool(argv, env, cwd, "setup.verify")
    return log.run(argv, cwd=cwd, env=env, timeout=cfg.timeout_s)


def result_path(layout: Layout, feature: str) -> Path:
    return layout.baseline_result(feature)


def result(layout: Layout, feature: str) -> dict[str, Any] | None:
    """The last baseline of `feature`: {base, ok, reason, at, log}, or None (for compare)."""
    return read_json(result_path(layout, feature))


def _owner(feature: str) -> str:
    # Cannot collide with a tree: tree names end in -<digits>.
    return f"{feature}.baseline"


def _export(layout: Layout, base_sha: str, work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    archive = work.with_name(work.name + ".tar")
    try:
        git.git(layout.root, "archive", "--format=tar", "-o", str(archive), base_sha, timeout=600)
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(work, filter="data")
            else:  # Python < 3.10.12: git archive output has no absolute or .. members
                tar.extractall(work)  # noqa: S202
    finally:
        archive.unlink(missing_ok=True)


def _run(layout: Layout, feature: str, base_sha: str, cfg: SetupConfig, log: SetupLog) -> dict[str, Any]:
    work = layout.baseline(feature)
    owner = _owner(feature)
    log.line(f"baseline: exporting the base commit {base_sha[:12]} to {work.relative_to(layout.root)}")
    try:
        _export(layout, base_sha, work)
        carried = carry.carry(layout.root, work, cfg.copy, cfg.symlink, cfg.env_file)
        for rel, why in carried.refused:
            log.line(f"REFUSED {rel}: {why}")
        lease = ports.lease(layout, owner, cfg.per_tree, cfg.port_range, feature=feature, directory=work)
        env = envfile.build(cfg, feature=feature, tree=owner, index=0, ports=lease.ports, tree_dir=work,
                            root=layout.root)
        envfile.write(work / cfg.env_file, env, owner)
        full_env = {**os.environ, **env}
        files = install.lockfiles_in_commit(layout.root, base_sha)
        for inst in install.detect(work, cfg.install, files=files):
            install.install_one(layout, work, inst, full_env, log, cfg.timeout_s, source_for_others=False)
        ran = run_verify(cfg, work, full_env, log)
        reason = None if ran.ok else ran.failure("verify", log.path, layout.root)
        return {"ok": ran.ok, "reason": reason, "seconds": ran.seconds}
    except (PeError, ProcError) as exc:
        return {"ok": False, "reason": f"cannot set up the base commit: {exc}"}
    finally:
        ports.release(layout, owner)
        shutil.rmtree(work, ignore_errors=True)


def baseline(layout: Layout, feature: str, base_sha: str, cfg: SetupConfig, tree_log: SetupLog) -> dict[str, Any]:
    """Verify on the base commit, once per (base, setup); cached in .pe/baseline/<feature>.json."""
    path = result_path(layout, feature)
    key = sha256_text(f"{base_sha}\0{cfg.identity()}")
    found = read_json(path)
    if found and found.get("key") == key:
        return found
    with file_lock(path.with_suffix(".lock")):
        found = read_json(path)
        if found and found.get("key") == key:
            return found
        log = SetupLog(layout.setup_log(_owner(feature)))
        where = log.path.relative_to(layout.root)
        tree_log.line(f"baseline: running verify on the base commit {base_sha[:12]} (log: {where})")
        outcome = _run(layout, feature, base_sha, cfg, log)
        found = {"key": key, "base": base_sha, "at": now_iso(), "log": str(log.path.relative_to(layout.root)),
                 **outcome}
        write_json_atomic(path, found)
        return found
