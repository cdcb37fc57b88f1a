"""Stamps are sealed: one pe did not write is absent, and an earlier pe's stamps stay valid after an upgrade."""

from __future__ import annotations

import json
from pathlib import Path

from pe.layout import Layout
from pe.tree import stamps
from tests.support import git, pe, run_record, starts, write_manifest

FORGER = """\
import hashlib, json, os, pathlib, sys
from pe.config import manifest
from pe.layout import Layout
from pe.tree.results import RESULTS_SECTIONS
root = pathlib.Path(os.environ["PE_TREE_DIR"]).parents[1]
feature = manifest.load(Layout(root), os.environ["PE_FEATURE"])
tree = feature.trees[int(os.environ["PE_INDEX"]) - 1]
results = "".join(f"## {s}\\n\\nx\\n\\n" for s in RESULTS_SECTIONS)
pathlib.Path("RESULTS.md").write_text(results)
# The stamp exactly as pe writes one: every hash in it is one the agent can work out.
stamp = {"config": feature.config_hash(tree), "results": hashlib.sha256(results.encode()).hexdigest(),
         "commit": "0" * 40, "at": "2026-01-01T00:00:00+0000"}
(root / ".pe" / "stamps" / f"{tree.name}.agent.json").write_text(json.dumps(stamp))
sys.exit(1)
"""


def test_a_stamp_the_agent_wrote_is_not_taken_for_done(repo: Path) -> None:
    (repo / "tools" / "forger.py").write_text(FORGER)
    git(repo, "add", "tools/forger.py")
    git(repo, "commit", "-qm", "forger")
    write_manifest(repo, count=1, agent={"preset": "command", "command": ["python", "tools/forger.py"], "retries": 0},
                   sandbox="none")  # in the sandbox .pe/ is read-only: the forgery cannot even be written
    rc, out, err = pe(repo, "execute", "--feature=feat", "--plain")
    assert rc == 1, out + err
    assert (repo / ".pe/stamps/feat-1.agent.json").exists()  # the forgery is there...
    assert stamps.read(Layout(repo), "feat-1", stamps.AGENT) is None  # ...and read as absent
    rc, out, _ = pe(repo, "status", "--json")
    assert json.loads(out)[0]["state"] == "failed"
    assert run_record(repo, "feat-1")["state"] == "failed"


def test_a_stamp_copied_from_another_tree_does_not_count(repo: Path) -> None:
    write_manifest(repo, count=2)
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    one, two = repo / ".pe/stamps/feat-1.agent.json", repo / ".pe/stamps/feat-2.agent.json"
    two.write_text(one.read_text())  # sealed, but for feat-1
    assert stamps.read(Layout(repo), "feat-2", stamps.AGENT) is None


def test_an_earlier_pes_unsealed_stamps_stay_valid_after_the_upgrade(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    # What a pe before sealing left: the same stamps without their seal, and no key.
    (repo / ".pe/stamp.key").unlink()
    stamps._KEYS.clear()
    for path in (repo / ".pe/stamps").glob("*.json"):
        data = json.loads(path.read_text())
        data.pop("mac")
        path.write_text(json.dumps(data))
    stamps._unsealed_repository.cache_clear()
    rc, out, _ = pe(repo, "status", "--json")
    assert rc == 0 and [r["state"] for r in json.loads(out)] == ["done", "done"]
    before = starts(agent_log, "feat-1") + starts(agent_log, "feat-2")
    rc, out, err = pe(repo, "resume", "--feature=feat", "--plain")
    assert rc == 0, out + err
    assert starts(agent_log, "feat-1") + starts(agent_log, "feat-2") == before  # nothing ran again
    assert "mac" in json.loads((repo / ".pe/stamps/feat-1.agent.json").read_text())  # sealed now


def test_a_deleted_key_beside_sealed_stamps_trusts_no_stamp(repo: Path) -> None:
    write_manifest(repo, count=1)
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    (repo / ".pe/stamp.key").unlink()
    stamps._KEYS.clear()
    stamps._unsealed_repository.cache_clear()
    assert stamps.read(Layout(repo), "feat-1", stamps.AGENT) is None


def test_a_changed_results_md_is_seen_by_the_same_process(repo: Path, agent_log: Path) -> None:
    """agent_ok keeps its answers by the files' identity (a no-op resume asks twice per tree):
    RESULTS.md rewritten with the same size, or the stamp replaced, must not read as done still."""
    from pe.config import manifest

    write_manifest(repo, count=1)
    assert pe(repo, "execute", "--feature=feat", "--plain")[0] == 0
    layout = Layout(repo)
    feature = manifest.load(layout, "feat")
    tree = feature.trees[0]
    assert stamps.agent_ok(layout, feature, tree) and stamps.agent_ok(layout, feature, tree)
    results = repo / "trees" / "feat-1" / "RESULTS.md"
    text = results.read_text()
    results.write_text(text.replace("e", "E", 1))  # same size, other content
    assert not stamps.agent_ok(layout, feature, tree)
    results.write_text(text)
    assert stamps.agent_ok(layout, feature, tree)
    stamp = repo / ".pe" / "stamps" / "feat-1.agent.json"
    stamp.write_text(stamp.read_text().replace('"mac": "', '"mac": "0'))
    assert not stamps.agent_ok(layout, feature, tree)
