"""Ports: a block per tree, tested free, unique across features, stable across resume."""

from __future__ import annotations

from pathlib import Path

from pe.config import manifest
from pe.layout import Layout
from pe.steps import setup as setup_step
from pe.treesetup import envfile, ports
from tests.support import pe_exit, write_manifest
from tests.support.treesetup import free_range, init, listener, port_is_free, stamp, tree_env


def _setup(lo: int, hi: int, per_tree: int = 1) -> dict:
    return {"install": "none", "copy": [], "ports": {"per_tree": per_tree, "range": [lo, hi]}}


def test_three_trees_get_three_distinct_free_ports(repo: Path) -> None:
    lo, hi = free_range()
    write_manifest(repo, count=3, setup=_setup(lo, hi))
    assert init(repo) == 0
    got = {}
    for i in (1, 2, 3):
        env = tree_env(repo, f"feat-{i}")
        assert env["PORT"] == env["PE_PORT"]
        got[i] = int(env["PE_PORT"])
        assert stamp(repo, f"feat-{i}")["ports"] == [got[i]]
    assert len(set(got.values())) == 3
    assert all(lo <= p <= hi and port_is_free(p) for p in got.values())


def test_a_port_bound_by_another_process_is_skipped(repo: Path) -> None:
    lo, hi = free_range()
    write_manifest(repo, count=2, setup=_setup(lo, hi, per_tree=2))
    # Another program holds the second port of the first block: that whole block is skipped.
    with listener(lo + 1):
        assert init(repo) == 0
    blocks = [tuple(int(p) for p in tree_env(repo, f"feat-{i}")["PE_PORTS"].split(",")) for i in (1, 2)]
    assert all(lo + 1 not in block for block in blocks)
    assert sorted(blocks) == [(lo + 2, lo + 3), (lo + 4, lo + 5)]
    skipped = [s for i in (1, 2) for step in stamp(repo, f"feat-{i}")["steps"] if step["step"] == "ports"
               for s in step["skipped"]]
    assert lo + 1 in skipped


def test_two_features_never_share_a_port(repo: Path) -> None:
    lo, hi = free_range()
    write_manifest(repo, "alpha", count=2, setup=_setup(lo, hi, per_tree=3))
    write_manifest(repo, "beta", count=2, setup=_setup(lo, hi, per_tree=2))
    assert init(repo, "alpha") == 0
    assert init(repo, "beta") == 0
    seen: list[int] = []
    for tree in ("alpha-1", "alpha-2", "beta-1", "beta-2"):
        seen += [int(p) for p in tree_env(repo, tree)["PE_PORTS"].split(",")]
    assert len(seen) == 10 and len(set(seen)) == 10
    assert ports.all_leases(Layout(repo)).keys() == {"alpha-1", "alpha-2", "beta-1", "beta-2"}


def test_resume_keeps_a_trees_port_and_cleanup_releases_it(repo: Path) -> None:
    lo, hi = free_range()
    write_manifest(repo, count=2, setup=_setup(lo, hi))
    assert init(repo) == 0
    port = int(tree_env(repo, "feat-1")["PE_PORT"])
    # The tree's own dev server is still running from the killed run, and its setup
    # has to be redone (stamp lost): the tree keeps its port all the same.
    (repo / ".pe" / "stamps" / "feat-1.setup.json").unlink()
    (repo / "trees" / "feat-1" / ".pe.env").unlink()
    with listener(port):
        assert pe_exit(repo, "init", "--feature=feat") == 0
        assert int(tree_env(repo, "feat-1")["PE_PORT"]) == port
    layout = Layout(repo)
    feature = manifest.load(layout, "feat")
    assert envfile.tree_env(layout, feature, feature.trees[0])["PORT"] == str(port)
    setup_step.release(layout, "feat-1")
    assert ports.leased(layout, "feat-1") == ()
    assert ports.leased(layout, "feat-2") != ()
