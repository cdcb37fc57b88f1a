"""Saying what a person needs (issue 17): the action meant, the command that continues, which tree, plurals."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from pe.main import main
from pe.util import plural
from tests.support import pe, pe_cmd, starts, wait_for, write_manifest


@pytest.mark.parametrize(("typed", "meant"), [("exectue", "execute"), ("resum", "resume"), ("stauts", "status"),
                                              ("cleanpu", "cleanup"), ("Compare", "compare")])
def test_a_mistyped_action_gets_the_one_it_meant(typed: str, meant: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([typed, "--feature=x"]) == 3
    err = capsys.readouterr().err
    assert err == f"pe: error: no action {typed!r}; did you mean `{meant}`? (see `pe --help`)\n"


def test_a_word_like_no_action_still_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 3
    assert "invalid choice: 'frobnicate' (choose from 'demo'" in capsys.readouterr().err


def test_plural() -> None:
    assert [plural(n, "tree") for n in (0, 1, 2)] == ["0 trees", "1 tree", "2 trees"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_one_tree_is_one_tree(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    rc, out, err = pe(repo, "execute", "--feature=feat", "--jobs=1")
    assert rc == 0, err
    assert "feat: 1 tree, up to 1 agent at once; logs in .pe/logs/" in out
    rc, out, err = pe(repo, "adopt", "--feature=feat", "--tree=feat-1")
    assert rc == 0 and "by squash: 1 commit, " in out, err


def test_adopt_of_a_tree_that_never_existed_says_so(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2)
    rc, _, err = pe(repo, "adopt", "--feature=feat", "--tree=feat-9")
    assert rc == 3
    assert err == ("pe: error: --tree=feat-9: no such tree (no branch feat-9, no archive of it): "
                   "feat has 2 trees, feat-1 to feat-2\n")
    rc, _, err = pe(repo, "adopt", "--feature=feat", "--tree=feat-2")
    assert rc == 3 and "no branch feat-2 and no archive of it in reports/feat/: it was never created" in err
    # One that cleanup archived: where its bundle is.
    (repo / "reports/feat/feat-2").mkdir(parents=True)
    rc, _, err = pe(repo, "adopt", "--feature=feat", "--tree=feat-2")
    assert rc == 3 and err == ("pe: error: --tree=feat-2: no branch feat-2: cleaned up already; "
                               "its bundle is in reports/feat/feat-2/\n")


def test_after_ctrl_c_execute_prints_the_resume_command(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    run = subprocess.Popen(pe_cmd("execute", "--feature=feat"), cwd=repo, env={**os.environ, "PE_TEST_SLEEP": "60"},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: starts(agent_log, "feat-1") == 1, timeout=30)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130
    assert err.rstrip().endswith("every agent is stopped; continue with: pe resume --feature=feat"), err
