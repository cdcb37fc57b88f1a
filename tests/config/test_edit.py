"""Writes into a manifest the user wrote keep their comments (pe.config.edit)."""

from __future__ import annotations

from pathlib import Path

from pe.config import edit, manifest
from pe.layout import Layout
from tests.support import scripted_repo

MANIFEST = """\
# yaml-language-server: $schema=.schema/feature.schema.json
# our auth work: ask Sam before changing the count
feature: feat
plan: specs/plan.md   # the plan of record
count: 2
strategies: [simple, performance]
agent: {preset: command, command: [python, tools/agent.py, "{prompt_file}"]}
# setup:
#   install: auto
# checks:
#   test: python -m pytest -q
"""


def test_a_changed_key_is_replaced_and_every_comment_stays(tmp_path: Path) -> None:
    root = scripted_repo(tmp_path / "repo")
    (root / "features").mkdir()
    (root / "features" / "feat.yaml").write_text(MANIFEST)
    layout = Layout(root)
    data = manifest.read_manifest(layout, "feat")
    data["strategies"] = ["performance", "performance"]
    data["synthesis"] = [{"base_tree": "feat-2", "start": "a" * 40, "from": ["feat-1"]}]
    edit.write(layout, data)
    text = (root / "features" / "feat.yaml").read_text()
    for kept in ("# our auth work: ask Sam before changing the count", "# the plan of record",
                 "#   test: python -m pytest -q", '"{prompt_file}"'):
        assert kept in text, text
    feature = manifest.load(layout, "feat")
    assert [t.strategy.name for t in feature.trees][:2] == ["performance", "performance"]
    assert manifest.read_manifest(layout, "feat")["synthesis"][0]["base_tree"] == "feat-2"


def test_a_manifest_that_does_not_exist_yet_is_written_new(tmp_path: Path) -> None:
    root = scripted_repo(tmp_path / "repo")
    layout = Layout(root)
    path = edit.write(layout, {"feature": "feat", "plan": "specs/plan.md", "count": 1})
    assert path.read_text().startswith("# yaml-language-server")
    assert manifest.read_manifest(layout, "feat")["count"] == 1
