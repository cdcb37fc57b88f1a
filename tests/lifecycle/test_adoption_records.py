"""adoption.check and adopt_tree, called with typed arguments: who may be adopted, and the records written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pe.errors import PeError
from pe.layout import Layout
from pe.lifecycle import adoption
from tests.support import git
from tests.support.cycle import executed


@pytest.fixture
def done2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return executed(tmp_path, monkeypatch, count=2)


def test_an_adoption_writes_adopted_json_and_appends_to_the_history(done2: Path) -> None:
    root, layout = done2, Layout(done2)
    base = git(root, "rev-parse", "main")
    git(root, "branch", "other", base)
    tip1, tip2 = git(root, "rev-parse", "calc-1"), git(root, "rev-parse", "calc-2")
    req = adoption.check(layout, "calc", "calc-1", into=None, force=False)
    assert req == adoption.Request("calc", "calc-1", "main", tip1, "simple", "command", forced=False)
    result = adoption.adopt_tree(layout, req, mode="squash", message=None)
    assert result.previous == base and result.commit == git(root, "rev-parse", "main") and result.commits == 1
    assert git(root, "log", "-1", "--format=%s", "main") == "calc: adopt calc-1 (simple strategy)"
    text = (root / "reports/calc/ADOPTED.json").read_text()
    first = json.loads(text)
    assert text == json.dumps(first, indent=2, sort_keys=True) + "\n"
    assert first == {"feature": "calc", "tree": "calc-1", "strategy": "simple", "agent": "command", "into": "main",
                     "mode": "squash", "commit": result.commit, "previous": base, "tree_tip": tip1,
                     "at": first["at"], "recommended": None, "forced": False}
    assert (root / "reports/history.jsonl").read_text() == json.dumps(first, sort_keys=True) + "\n"

    # A second adoption replaces ADOPTED.json and adds a line; the first line stays as it was.
    req = adoption.check(layout, "calc", "calc-2", into="other", force=False)
    result = adoption.adopt_tree(layout, req, mode="merge", message="take calc-2")
    second = json.loads((root / "reports/calc/ADOPTED.json").read_text())
    assert second["tree"] == "calc-2" and second["into"] == "other" and second["mode"] == "merge"
    assert second["tree_tip"] == tip2 and second["commit"] == git(root, "rev-parse", "other")
    assert git(root, "log", "-1", "--format=%s", "other") == "take calc-2"
    lines = (root / "reports/history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [first, second]


def test_a_tree_with_reasons_to_refuse_is_refused_or_forced(done2: Path) -> None:
    root, layout = done2, Layout(done2)
    (root / "trees/calc-1/scratch.txt").write_text("not committed\n")
    with pytest.raises(PeError, match=r"^refusing to adopt calc-1: trees/calc-1 has 1 uncommitted entries, "
                                      r"which would not be adopted \(pass --force to adopt it anyway\)$"):
        adoption.check(layout, "calc", "calc-1", into=None, force=False)
    with pytest.raises(PeError, match=r"^--tree=other-1: not a tree of calc"):
        adoption.check(layout, "calc", "other-1", into=None, force=False)
    with pytest.raises(PeError, match=r"^--into: no branch named 'nowhere'$"):
        adoption.check(layout, "calc", "calc-1", into="nowhere", force=True)
    assert not (root / "reports/calc/ADOPTED.json").exists()
    req = adoption.check(layout, "calc", "calc-1", into=None, force=True)
    assert req.forced and req.into == "main"
    adoption.adopt_tree(layout, req, mode="rebase", message=None)
    assert json.loads((root / "reports/calc/ADOPTED.json").read_text())["forced"] is True
