"""A tree's stamps (.pe/stamps/<tree>.<step>.json): each one's reader and writer side by side.

A stamp is pe's atomic record that a step of one tree finished, and how. The steps
write them; status, recover, compare, cleanup and doit's up-to-date checks read
them, here, without importing the step machinery. Reading is lock-free: a stamp is
replaced atomically, never written in place.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pe.errors import PeError
from pe.fsutil import hmac_sha256, read_json, same_digest, sha256_file, sha256_regular, write_json_atomic
from pe.layout import Layout
from pe.util import now_iso

if TYPE_CHECKING:
    from pe.config.spec import Feature, TreeSpec

WORKTREE = "worktree"  # the tree exists on its branch: {branch, base_sha, created_at}
CREATING = "creating"  # pe is inside `git worktree add` for it (a crash leaves this behind)
SETUP = "setup"  # setup's outcome: {config, ok, reason, env_sha, installs, generated, carried, ...}
AGENT = "agent"  # the agent finished and RESULTS.md is complete: {config, results, commit, at}
REMOVING = "removing"  # cleanup is inside `git worktree remove`: {head}
STEPS = (WORKTREE, SETUP, AGENT, CREATING, REMOVING)


# Stamps are sealed: an HMAC over the stamp, its tree and its step, keyed by .pe/stamp.key,
# so a stamp pe did not write (an agent that writes .pe/stamps/<tree>.agent.json and exits 1)
# is read as absent. It stops the agent that forges a file, not one that reads the key too:
# without a sandbox, an agent runs as the user. With one, .pe/ is read-only to it.
#
# A repository from a pe before sealing has unsealed stamps and no key: the first write
# makes the key and seals every stamp there, so its finished trees stay finished. A key that
# goes missing beside sealed stamps was deleted: no stamp is taken on trust then.


def _mac(key: bytes, tree: str, step: str, data: dict[str, Any]) -> str:
    body = json.dumps([tree, step, {k: v for k, v in data.items() if k != "mac"}], sort_keys=True, default=str)
    return hmac_sha256(key, body.encode())


def _stamp_files(layout: Layout) -> list[Path]:
    return sorted(layout.stamps().glob("*.json")) if layout.stamps().is_dir() else []


_KEYS: dict[Path, bytes] = {}  # read once per process: a stamp read is on every status row


def _read_key(layout: Layout) -> bytes | None:
    key = _KEYS.get(layout.stamp_key)
    if key is None:
        try:
            key = bytes.fromhex(layout.stamp_key.read_text(encoding="utf-8").strip())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        _KEYS[layout.stamp_key] = key
    return key


def _sealed_any(layout: Layout) -> bool:
    return any("mac" in (read_json(p) or {}) for p in _stamp_files(layout))


@functools.cache
def _unsealed_repository(state: Path) -> bool:
    """No key and no sealed stamp: stamps from a pe before sealing (or none at all) are trusted."""
    return not _sealed_any(Layout(state.parent))


def seal_repository(layout: Layout) -> bytes:
    """The stamp key; made on first use, and every stamp of an earlier pe sealed with it.

    Called where pe takes the repository lock, before any step runs: no other writer of
    stamps runs then, so the sealing cannot race a step's own write.
    """
    key = _read_key(layout)
    if key is not None:
        return key
    import secrets  # only here: most runs find the key

    legacy = not _sealed_any(layout)
    layout.state.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_bytes(32)
    tmp = layout.stamp_key.with_name(f".stamp.key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(fresh.hex() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, layout.stamp_key)  # whole, or not at all: a second pe reads the first one's key
    except FileExistsError:
        return _read_key(layout) or fresh
    finally:
        tmp.unlink(missing_ok=True)
    if legacy:
        for path in _stamp_files(layout):
            tree, _, step = path.name.removesuffix(".json").rpartition(".")
            data = read_json(path)
            if data is not None and tree and step in STEPS:
                write_json_atomic(path, {**data, "mac": _mac(fresh, tree, step, data)})
    _unsealed_repository.cache_clear()
    return fresh


def read(layout: Layout, tree: str, step: str) -> dict[str, Any] | None:
    """The stamp pe wrote for `tree`'s `step`, or None (absent, unreadable, or not sealed by pe)."""
    data = read_json(layout.stamp(tree, step))
    if data is None:
        return None
    key = _read_key(layout)
    if key is None:
        return data if "mac" not in data and _unsealed_repository(layout.state) else None
    mac = data.get("mac")
    if not isinstance(mac, str) or not same_digest(mac, _mac(key, tree, step, data)):
        return None
    return {k: v for k, v in data.items() if k != "mac"}


def sealed(layout: Layout) -> bool:
    """This repository's stamps are sealed (an earlier pe's are sealed by the first command that locks)."""
    return _read_key(layout) is not None


def write(layout: Layout, tree: str, step: str, data: dict[str, Any]) -> None:
    write_json_atomic(layout.stamp(tree, step), {**data, "mac": _mac(seal_repository(layout), tree, step, data)})


def exists(layout: Layout, tree: str, step: str) -> bool:
    return read(layout, tree, step) is not None


def clear(layout: Layout, tree: str, *steps: str) -> None:
    for step in steps:
        layout.stamp(tree, step).unlink(missing_ok=True)


# worktree


def mark_creating(layout: Layout, tree: str) -> None:
    write(layout, tree, CREATING, {"since": now_iso()})


def worktree_done(layout: Layout, tree: str) -> bool:
    """Cheap check used as doit's uptodate: stamp present and the tree still there."""
    return bool(read(layout, tree, WORKTREE)) and (layout.tree(tree) / ".git").is_file()


def write_worktree(layout: Layout, tree: str, base_sha: str) -> None:
    write(layout, tree, WORKTREE, {"branch": tree, "base_sha": base_sha, "created_at": now_iso()})


def tree_base(layout: Layout, tree: str) -> str | None:
    """The commit a tree was created from (recorded at creation)."""
    stamp = read(layout, tree, WORKTREE)
    return stamp.get("base_sha") if stamp else None


# setup


def setup_finished(layout: Layout, feature: Feature, tree: TreeSpec) -> dict[str, Any] | None:
    """The stamp of a setup that succeeded with today's configuration and env file, or None.

    What status shows as "ready": no git call, so a status of many trees stays cheap.
    Whether a lockfile changed since (setup then re-runs before the agent) is the setup
    step's own up-to-date check.
    """
    stamp = read(layout, tree.name, SETUP)
    if not stamp or stamp.get("ok") is not True or stamp.get("config") != feature.setup.digest:
        return None
    try:
        if sha256_file(layout.tree(tree.name) / feature.setup.env_file) != stamp.get("env_sha"):
            return None
    except (PeError, OSError):
        return None
    return stamp


def setup_failure(layout: Layout, tree: str) -> str | None:
    """Why the last setup failed, or None if it did not (or never ran)."""
    stamp = read(layout, tree, SETUP)
    if stamp and stamp.get("ok") is False:
        return str(stamp.get("reason", ""))
    return None


def setup_created(layout: Layout, tree: str) -> tuple[list[str], list[str]]:
    """(generated, carried): what setup put into the tree, relative to it, from its stamp.

    generated: the env file and install output (node_modules, .venv): pe's own,
    rebuilt by the next setup. carried: files copied or linked from the main
    checkout. All of it is kept out of git; cleanup may compare carried files
    with the main checkout's to tell whether someone edited them.
    """
    stamp = read(layout, tree, SETUP) or {}

    def strings(key: str) -> list[str]:
        value = stamp.get(key, [])
        return [p for p in value if isinstance(p, str)] if isinstance(value, list) else []

    return strings("generated"), strings("carried")


# compare's checks


def checks_created(layout: Layout, tree: str) -> set[str]:
    """What pe compare's checks left in a tree (caches, reports): not the agent's work."""
    data = read_json(layout.checks(tree) / "created.json") or {}
    return {p for p in data.get("paths", []) if isinstance(p, str)}


def record_checks_created(layout: Layout, tree: str, paths: set[str]) -> None:
    write_json_atomic(layout.checks(tree) / "created.json", {"paths": sorted(checks_created(layout, tree) | paths)})


# agent


# agent_ok's answers in this process, by the files they were read from: a no-op resume asks for each
# tree twice (is there anything to run? then its row), each time a stamp read, an HMAC and a hash.
_OK: dict[tuple[Path, str], tuple[tuple[object, ...], bool]] = {}


def _fingerprint(path: Path) -> tuple[int, ...] | None:
    """What changes when the file at `path` is written, replaced or removed (ctime: every write)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def agent_ok(layout: Layout, feature: Feature, tree: TreeSpec) -> bool:
    """The tree is done: its agent's stamp matches today's configuration and RESULTS.md."""
    stamp_path, results_path = layout.stamp(tree.name, AGENT), layout.results(tree.name)
    config = feature.config_hash(tree)
    seen = (_fingerprint(stamp_path), _fingerprint(results_path), _fingerprint(layout.stamp_key))
    known = _OK.get((stamp_path, config))
    if known is not None and known[0] == seen:
        return known[1]
    stamp = read(layout, tree.name, AGENT)
    results = sha256_regular(results_path) if stamp else None
    ok = stamp is not None and stamp.get("config") == config and results is not None and stamp.get("results") == results
    _OK[(stamp_path, config)] = (seen, ok)
    return ok


def agent_finished_once(layout: Layout, tree: str) -> bool:
    """An agent stamp exists, valid or not (a done tree whose plan or RESULTS.md changed since)."""
    return read(layout, tree, AGENT) is not None


def write_agent(layout: Layout, feature: Feature, tree: TreeSpec, commit: str) -> None:
    write(layout, tree.name, AGENT, {"config": feature.config_hash(tree), "results": sha256_regular(
        layout.results(tree.name)), "commit": commit, "at": now_iso()})
