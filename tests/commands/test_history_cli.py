"""pe history (list, export, import) and pe insights from the command line."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from pe.history import db
from pe.layout import Layout
from tests.history.seeded import seed
from tests.support import git, pe
from tests.support.cycle import FEATURE, executed


def seeded(repo: Path) -> Path:
    with contextlib.closing(db.open_for_writing(Layout(repo))) as c:
        seed(c)
    return repo


def test_no_history_yet_is_one_line_and_exit_0(repo: Path) -> None:
    for argv in (("history",), ("insights",), ("insights", "--json"), ("history", "export", str(repo / "x.jsonl"))):
        rc, out, err = pe(repo, *argv)
        assert (rc, err) == (0, ""), argv
        assert out.startswith("no history yet") and out.count("\n") == 1, argv
    assert not (repo / ".pe" / "history.sqlite3").exists()  # looking does not create it


def test_history_lists_every_attempt_newest_last(repo: Path) -> None:
    seeded(repo)
    rc, out, err = pe(repo, "history")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["feature", "tree", "strategy", "agent", "attempt", "ended", "failure", "duration",
                                "cost", "eligible", "recommended", "adopted"]
    assert len(lines) == 2 + 18 + 1  # header, rule, 18 attempts and p4's round whose agent never ran
    assert lines[2].split()[:5] == ["alpha", "alpha-1", "simple", "claude/sonnet", "1"]
    assert lines[-1].split()[:2] == ["gamma", "gamma-4"]
    rc, out, _ = pe(repo, "history", "--feature=beta", "--json")
    found = json.loads(out)
    assert rc == 0 and {r["feature"] for r in found} == {"beta"} and len(found) == 7
    setup_failed = next(r for r in found if r["attempt"] is None)
    assert (setup_failed["tree"], setup_failed["state"], setup_failed["failure"]) == ("beta-4", "setup failed",
                                                                                     "setup failed")
    assert next(r for r in found if r["tree"] == "beta-5")["adopted"] is True


def test_export_then_import_into_a_clone(repo: Path, tmp_path: Path) -> None:
    seeded(repo)
    file = tmp_path / "runs.jsonl"
    rc, out, err = pe(repo, "history", "export", str(file))
    assert (rc, err) == (0, "") and out == f"exported 64 rows to {file}\n"
    git(tmp_path, "clone", "-q", str(repo), "clone")
    clone = tmp_path / "clone"
    rc, out, err = pe(clone, "history", "import", str(file))
    assert (rc, err, out) == (0, "", f"imported 64 rows from {file}\n")
    rc, out, _ = pe(clone, "history", "import", str(file))
    assert out == f"imported 0 rows from {file} (all of them were here already)\n"
    assert pe(clone, "history")[1] == pe(repo, "history")[1]


def test_a_bad_import_is_one_line_exit_3(repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"pe_history": 1}) + "\n{oops\n")
    rc, out, err = pe(repo, "history", "import", str(bad))
    assert (rc, out) == (3, "")
    assert err == f"pe: error: {bad}: line 2: not JSON; nothing imported\n"


@pytest.mark.parametrize(("argv", "said"), [
    (("history", "export"), "pe history export: FILE is required"),
    (("history", "import", "f", "--json"), "--feature and --json are for listing"),
    (("history", "drop"), "invalid choice: 'drop'"),
    (("insights", "--since=garbage"), "--since: expected a day as YYYY-MM-DD, got 'garbage'"),
    (("insights", "--since=2025-02-30"), "--since: expected a day as YYYY-MM-DD, got '2025-02-30'"),
])
def test_bad_arguments_are_one_line_exit_3(repo: Path, argv: tuple[str, ...], said: str) -> None:
    seeded(repo)
    rc, out, err = pe(repo, *argv)
    assert (rc, out) == (3, "")
    assert said in err and err.count("\n") == 1


def test_insights_json_rechecks_survival_first(repo: Path) -> None:
    seeded(repo)
    rc, out, err = pe(repo, "insights", "--json")
    assert (rc, err) == (0, "")
    data = json.loads(out)
    assert data["total"]["adopted"] == {"count": 6, "of": 16, "rate": 0.375}
    assert data["total"]["failures"][0] == {"name": "timeout", "count": 4, "of": 18}
    innovative = next(g for g in data["strategies"] if g["key"] == "innovative")
    assert innovative["completion"] == {"count": 2, "of": 4, "rate": None}
    # The seeded adoptions' commits are not in this repository: looked at again, nothing of them survives.
    assert data["total"]["survival"] == {"value": 0.0, "n": 5}
    rc, out, _ = pe(repo, "insights", "--since=2025-03-01", "--json")
    assert json.loads(out)["rounds"] == 4


def test_insights_text_shows_counts_beside_rates_and_no_escape_sequences(repo: Path) -> None:
    seeded(repo)
    with contextlib.closing(db.open_for_writing(Layout(repo))) as c, db.transaction(c):
        c.execute("UPDATE attempts SET failure = ? WHERE round_id = 'i2'", ("\x1b[2Jrate \x1b]0;pwned\x07limit",))
    rc, out, err = pe(repo, "insights")
    assert (rc, err) == (0, "")
    simple = next(line for line in out.splitlines() if line.startswith("simple "))
    assert "6 of 7 (86%)" in simple and "$4.30 (5 adopted)" in simple
    innovative = next(line for line in out.splitlines() if line.startswith("innovative "))
    assert "2 of 4 " in innovative and "%" not in innovative  # 4 runs: the counts alone
    assert "\x1b" not in out and "\x07" not in out
    assert "\x1b" not in pe(repo, "history")[1]


def test_a_real_run_shows_in_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = executed(tmp_path, monkeypatch)
    rc, out, err = pe(root, "history", "--json")
    assert (rc, err) == (0, "")
    found = json.loads(out)
    assert sorted(r["tree"] for r in found) == [f"{FEATURE}-1", f"{FEATURE}-2", f"{FEATURE}-3"]
    assert {r["state"] for r in found} == {"done"}
