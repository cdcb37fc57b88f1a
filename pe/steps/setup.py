"""setup:<tree>: prepare a tree before its agent starts.

The manifest's `setup:` section describes the work; with nothing configured
the step records that the tree needs no setup, keyed by the configuration's
hash so that adding setup later re-runs it.
"""

from __future__ import annotations

import json

from pe.fsutil import read_json, sha256_text, write_json_atomic
from pe.layout import Layout
from pe.manifest import Feature, TreeSpec
from pe.runrecord import now_iso


def config_hash(feature: Feature) -> str:
    return sha256_text(json.dumps(feature.setup, sort_keys=True))


def is_done(layout: Layout, feature: Feature, tree: TreeSpec) -> bool:
    stamp = read_json(layout.stamp(tree.name, "setup"))
    return bool(stamp) and stamp.get("config") == config_hash(feature) and stamp.get("ok") is True


def run(layout: Layout, feature: Feature, tree: TreeSpec) -> None:
    write_json_atomic(
        layout.stamp(tree.name, "setup"),
        {"config": config_hash(feature), "ok": True, "at": now_iso(), "steps": []},
    )


def tree_env(layout: Layout, feature: Feature, tree: TreeSpec) -> dict[str, str]:
    """Variables every process in this tree gets (agent, install, verify, checks)."""
    return {"PE_TREE": tree.name, "PE_INDEX": str(tree.index), "PE_FEATURE": feature.name}


def release(layout: Layout, tree: str) -> None:
    """Forget a tree's setup (on cleanup), so a new tree of that name starts afresh."""
    layout.stamp(tree, "setup").unlink(missing_ok=True)
