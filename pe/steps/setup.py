"""setup:<tree>: make a new tree a working one before its agent starts.

In order: lease the tree's ports; carry untracked files (.env, ...) over from
the main checkout; write the env file; keep all of that out of git; install
dependencies by lockfile; run the build gate (`verify:`, after the baseline on
the base commit if asked). Each part is in pe/treesetup/; the manifest's
`setup:` section (schemas/setup.schema.json) configures them.

The stamp (.pe/stamps/<tree>.setup.json) says ok or not, and why. It is
up to date while the setup configuration, the env file and every lockfile's
digest are what it recorded, so a changed lockfile re-runs setup for that tree
only, and within it only the installs whose lockfile changed. Output of every
command goes to .pe/logs/<tree>/setup.log.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pe.config.spec import Feature, TreeSpec
from pe.errors import PeError, one_line
from pe.fsutil import sha256_file
from pe.layout import Layout
from pe.proc import ProcError
from pe.tree import stamps
from pe.tree.runrecord import RunRecord
from pe.treesetup import install
from pe.util import now_iso

# Only what is_done() needs loads with this module: doit's up-to-date check, status and
# a no-op resume import it on every run. The parts that do the work load when they run.
if TYPE_CHECKING:
    from pe.config.setup import SetupConfig
    from pe.treesetup.carry import Carried
    from pe.treesetup.ports import Lease
    from pe.treesetup.runlog import SetupLog


def is_done(layout: Layout, feature: Feature, tree: TreeSpec) -> bool:
    """Cheap enough for doit's uptodate: reads the stamp, hashes lockfiles, one git call."""
    stamp = stamps.setup_finished(layout, feature, tree)
    if stamp is None:
        return False
    try:
        tree_dir = layout.tree(tree.name)
        cfg = feature.setup
        current = install.detect(tree_dir, cfg.install)
        recorded = stamp.get("installs", {})
        if {i.key for i in current} != set(recorded):
            return False
        return all(install.up_to_date(tree_dir, i, recorded[i.key]) for i in current)
    except (PeError, ProcError, OSError):
        return False


def check_all(layout: Layout, features: list[Feature]) -> dict[str, tuple[bool, float]]:
    """is_done for every made tree of `features`, side by side: {tree: (up to date?, monotonic time)}.

    doit evaluates `uptodate` one task after another in its dispatching thread, and is_done runs
    a git process per tree, so with N trees the last agent started N git calls late. Fewer than
    two trees: doit's own check is as quick.
    """
    from pe.util import parallel

    trees = [(f, t) for f in features for t in f.trees if stamps.worktree_done(layout, t.name)]
    if len(trees) < 2:
        return {}
    answers = parallel(lambda ft: is_done(layout, ft[0], ft[1]), trees)
    now = time.monotonic()
    return {t.name: (ok, now) for (_, t), ok in zip(trees, answers, strict=True)}


def release(layout: Layout, tree: str) -> None:
    """Forget a tree's setup and free its ports (on cleanup), so a new tree of that name starts afresh."""
    from pe.treesetup import ports

    stamps.clear(layout, tree, stamps.SETUP)
    ports.release(layout, tree)


def baseline(layout: Layout, feature: str) -> dict[str, Any] | None:
    """The base commit's verify result ({base, ok, reason, at, log}), if `baseline: true` ran."""
    from pe.treesetup import verify

    return verify.result(layout, feature)


class _Steps:
    """Timings of the parts of one setup, kept in the stamp."""

    def __init__(self) -> None:
        self.done: list[dict[str, Any]] = []

    def add(self, name: str, start: float, **detail: Any) -> None:
        self.done.append({"step": name, "seconds": round(time.monotonic() - start, 3), **detail})


def run(layout: Layout, feature: Feature, tree: TreeSpec) -> str | None:
    """Set the tree up; None on success, else the reason (also written to the stamp)."""
    if is_done(layout, feature, tree):
        return None  # done by an earlier run whose success doit had not saved
    from pe.treesetup.runlog import SetupLog

    log = SetupLog(layout.setup_log(tree.name))
    previous = stamps.read(layout, tree.name, stamps.SETUP) or {}
    stamp: dict[str, Any] = {"config": feature.setup.digest, "ok": False, "at": now_iso(), "installs": {}}
    steps = _Steps()
    log.line(f"=== pe: setup of {tree.name} (feature {feature.name}, tree {tree.index})")
    try:
        _setup(layout, feature, tree, log, previous, stamp, steps)
    except (PeError, ProcError, OSError) as exc:
        # Disk full, permission denied: the user can act on these, no traceback needed.
        reason = one_line(exc, any_os_error=True) or str(exc)
        stamp.update(ok=False, reason=reason, steps=steps.done)
        stamps.write(layout, tree.name, stamps.SETUP, stamp)
        log.line(f"setup FAILED: {reason}")
        return reason
    stamp.update(ok=True, steps=steps.done)
    stamps.write(layout, tree.name, stamps.SETUP, stamp)
    log.line("setup done")
    return None


@dataclass
class _Run:
    """One setup of one tree: what every part reads, and the stamp and timings they add to."""

    layout: Layout
    feature: Feature
    tree: TreeSpec
    log: SetupLog
    stamp: dict[str, Any]
    steps: _Steps

    @property
    def dir(self) -> Path:
        return self.layout.tree(self.tree.name)

    @property
    def cfg(self) -> SetupConfig:
        return self.feature.setup


def _setup(layout: Layout, feature: Feature, tree: TreeSpec, log: SetupLog, previous: dict[str, Any],
           stamp: dict[str, Any], steps: _Steps) -> None:
    run = _Run(layout, feature, tree, log, stamp, steps)
    if not (run.dir / ".git").exists():
        raise PeError(f"trees/{tree.name} is not a worktree yet: run `pe init --feature={feature.name}`")
    lease = _ports(run)
    carried = _carry(run)
    env, installers = _env(run, lease.ports, carried.paths)
    full_env = {**os.environ, **env}
    if RunRecord.load(layout.run_record(tree.name), tree.name).attempts > 0:
        # An agent has edited this tree (a changed lockfile re-runs setup): its install
        # scripts are the agent's code now, and run in the tree's sandbox.
        _confine(run)
    _installs(run, installers, previous, full_env)
    _verify(run, full_env)


def _ports(run: _Run) -> Lease:
    from pe.treesetup import ports

    t = time.monotonic()
    cfg, log = run.cfg, run.log
    lease = ports.lease(run.layout, run.tree.name, cfg.per_tree, cfg.port_range, feature=run.feature.name,
                        directory=run.dir)
    if lease.skipped:
        log.line(f"ports in use by other processes, skipped: {', '.join(map(str, lease.skipped))}")
    log.line(f"ports: {', '.join(map(str, lease.ports)) or 'none'}{' (kept from before)' if lease.reused else ''}")
    run.stamp["ports"] = list(lease.ports)
    run.steps.add("ports", t, ports=list(lease.ports), reused=lease.reused, skipped=list(lease.skipped))
    return lease


def _carry(run: _Run) -> Carried:
    from pe.treesetup import carry

    cfg, log, root = run.cfg, run.log, run.layout.root
    if carry.tracked(run.dir, [cfg.env_file]):
        raise PeError(f"setup.env_file: {cfg.env_file} is tracked by git in trees/{run.tree.name}; "
                      "pe must not overwrite it: choose another env_file name")
    t = time.monotonic()
    carried = carry.carry(root, run.dir, cfg.copy, cfg.symlink, cfg.env_file)
    for rel in carried.copied:
        log.line(f"copied {rel}")
    for rel in carried.linked:
        log.line(f"linked {rel} -> {root / rel}")
    for rel, why in carried.skipped:
        log.line(f"not carried {rel}: {why}")
    for rel, why in carried.refused:
        log.line(f"REFUSED {rel}: {why}")
    run.steps.add("carry", t, copied=carried.copied, linked=carried.linked,
                  refused=[f"{rel}: {why}" for rel, why in carried.refused])
    return carried


def _env(run: _Run, ports: tuple[int, ...], carried: list[str]) -> tuple[dict[str, str], list[install.Installer]]:
    """Write the env file and keep setup's files out of git; the tree's variables and its installers."""
    from pe.treesetup import envfile, exclude

    cfg, tree = run.cfg, run.tree
    t = time.monotonic()
    env = envfile.build(cfg, feature=run.feature.name, tree=tree.name, index=tree.index, ports=ports,
                        tree_dir=run.dir, root=run.layout.root)
    envfile.write(run.dir / cfg.env_file, env, tree.name)
    run.stamp["env_file"] = cfg.env_file
    run.stamp["env_sha"] = sha256_file(run.dir / cfg.env_file)
    notes: list[str] = []
    installers = install.detect(run.dir, cfg.install, notes=notes)
    for note in notes:
        run.log.line(f"install: {note}")
    outputs = [i.output_path for i in installers if i.output_path]
    excluded = exclude.keep_out(run.layout, run.dir, files=[cfg.env_file, *carried], dirs=outputs)
    if excluded:
        run.log.line(f"added to .git/info/exclude: {' '.join(excluded)}")
    run.steps.add("env", t, file=cfg.env_file, excluded=excluded)
    run.stamp["generated"] = sorted({cfg.env_file, *outputs})
    run.stamp["carried"] = sorted(carried)
    return env, installers


# Where installers keep their caches: writable in the sandbox, or every install downloads again.
INSTALL_CACHES = (".npm", ".cache", ".local/share/uv", ".cargo/registry", ".bun/install/cache")


def _confine(run: _Run) -> None:
    """Run setup's commands for this tree in its sandbox (when it has one here)."""
    from pe import sandbox
    from pe.sandbox import tree as confined

    if sandbox.resolve(run.tree.sandbox.mode) != "bwrap":
        return

    def confine(argv: list[str], env: Mapping[str, str]) -> list[str]:
        home = Path(env.get("HOME") or Path.home())
        caches = [home / c for c in INSTALL_CACHES]
        made = [home / ".npm", home / ".cache"]  # what npm, pip and uv make on a first run
        return sandbox.wrap(argv, confined.for_tree(run.layout, run.dir, run.tree.sandbox, env, caches, made))

    run.log.confine = confine


def _installs(run: _Run, installers: list[install.Installer], previous: dict[str, Any],
              full_env: dict[str, str]) -> None:
    log, done = run.log, run.stamp["installs"]
    before = previous.get("installs", {}) if isinstance(previous.get("installs"), dict) else {}
    # Records still valid go in first, so a failure further on does not cost them.
    for inst in installers:
        if install.up_to_date(run.dir, inst, before.get(inst.key)):
            done[inst.key] = before[inst.key]
    if not installers:
        log.line("install: nothing to install" + (" (install: none)" if run.cfg.install == "none" else ""))
    for inst in installers:
        if inst.key in done:
            log.line(f"install {inst.key}: up to date ({', '.join(inst.lockfiles)} unchanged)")
            continue
        t = time.monotonic()
        log.line(f"install {inst.key} (from {', '.join(inst.lockfiles) or 'the tree'})")
        done[inst.key] = install.install_one(run.layout, run.dir, inst, full_env, log, run.cfg.timeout_s)
        run.steps.add("install", t, key=inst.key)


def _verify(run: _Run, full_env: dict[str, str]) -> None:
    """The build gate, on a fresh tree only (after the baseline on the base commit, if asked)."""
    from pe.treesetup import verify

    cfg, log, tree, feature = run.cfg, run.log, run.tree, run.feature
    if cfg.verify is None:
        return
    record = RunRecord.load(run.layout.run_record(tree.name), tree.name)
    if record.attempts > 0:
        log.line("verify: skipped, the agent has already worked in this tree (the gate is for a fresh tree)")
        run.stamp["verify"] = {"skipped": "agent already started"}
        return
    base_ok = None
    if cfg.baseline:
        base = stamps.tree_base(run.layout, tree.name)
        if base is None:
            raise PeError(f"trees/{tree.name} has no recorded base commit: run `pe init --feature={feature.name}`")
        found = verify.baseline(run.layout, feature.name, base, cfg, log)
        run.stamp["baseline"] = {k: found.get(k) for k in ("base", "ok", "reason", "log")}
        if not found.get("ok"):
            failed = found.get("reason")
            raise PeError(f"the base commit {base[:12]} already fails, before any agent (baseline): {failed}")
        base_ok = True
        log.line(f"baseline: verify passes on the base commit {base[:12]}")
    t = time.monotonic()
    ran = verify.run_verify(cfg, run.dir, full_env, log)
    run.stamp["verify"] = {"ok": ran.ok, "exit": ran.exit, "seconds": ran.seconds}
    run.steps.add("verify", t, ok=ran.ok)
    if not ran.ok:
        reason = ran.failure("verify failed", log.path, run.layout.root)
        raise PeError(reason + ("; it passes on the base commit, so this tree's setup differs" if base_ok else ""))
