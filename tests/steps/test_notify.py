"""Word when it is done (issue 17): the notify command gets a JSON summary on stdin; its failure is one warning."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import pytest

from pe.steps import notify
from tests.support import pe, write_manifest

# A notifier that writes what it read on stdin to a file (the repository root is its cwd).
WRITE_STDIN = [sys.executable, "-c", "import sys; open('notified.json', 'a').write(sys.stdin.read())"]


def _notified(root: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((root / "notified.json").read_text())
    return data


def test_execute_runs_the_manifests_notify_command_with_a_summary(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=2, notify=WRITE_STDIN)
    rc, _, err = pe(repo, "execute", "--feature=feat")
    assert rc == 0, err
    got = _notified(repo)
    assert got["feature"] == "feat" and got["action"] == "execute" and got["exit_status"] == 0 and got["ok"] is True
    assert [(t["tree"], t["state"]) for t in got["trees"]] == [("feat-1", "done"), ("feat-2", "done")]  # type: ignore[attr-defined]
    assert "recommended" not in got  # only compare recommends
    assert "warning" not in err


def test_notify_flag_is_split_like_a_shell_and_overrides_the_manifest(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1, notify=[sys.executable, "-c", "raise SystemExit(5)"])
    flag = "--notify=" + " ".join([sys.executable, "-c", repr(WRITE_STDIN[2])])
    rc, _, err = pe(repo, "resume", "--feature=feat", flag)
    assert rc == 0 and "warning" not in err, err
    assert _notified(repo)["action"] == "resume"
    # An empty --notify= turns the manifest's off for this run (its command would fail: no warning).
    rc, _, err = pe(repo, "compare", "--feature=feat", "--no-checks", "--notify=")
    assert rc == 0 and "warning" not in err, err
    rc, _, err = pe(repo, "compare", "--feature=feat", "--no-checks", flag)
    assert rc == 0, err
    lines = (repo / "notified.json").read_text()
    compared = json.loads(lines[lines.rindex('{\n  "schema"'):])
    assert compared["action"] == "compare" and compared["recommended"] == "feat-1"
    assert compared["report"] == "reports/feat/IMPLEMENTATION_COMPARISON.md"


def test_a_flag_that_does_not_split_is_bad_input_before_any_work(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1)
    rc, _, err = pe(repo, "execute", "--feature=feat", "--notify=notify-send 'unclosed")
    assert rc == 3 and err.startswith("pe: error: --notify: ") and "unclosed" in err and err.count("\n") == 1
    assert not (repo / "trees").exists()


def test_a_failing_notify_command_is_one_warning_and_changes_no_exit_status(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1, notify=[sys.executable, "-c", "import sys; sys.exit('no display')"])
    rc, _, err = pe(repo, "execute", "--feature=feat")
    assert rc == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "notify command" in warnings[0] and "exit 1: no display" in warnings[0], err
    # A notifier that is not there at all: the same one line.
    rc, _, err = pe(repo, "resume", "--feature=feat", "--notify=/nonexistent/notifier")
    assert rc == 0 and err.count("pe: warning: notify command '/nonexistent/notifier' failed") == 1, err


def test_a_hanging_notify_command_is_killed_at_its_time_limit(repo: Path, agent_log: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "TIMEOUT_S", 1.0)
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    write_manifest(repo, count=1, notify=hang)
    start = time.monotonic()
    rc, _, err = pe(repo, "execute", "--feature=feat")
    assert rc == 0 and time.monotonic() - start < 30
    assert err.count("pe: warning:") == 1 and "timed out after 1s" in err, err


def test_the_bell_rings_on_a_terminal_after_a_long_run_only() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for out, took, rings in ((Tty(), 61.0, True), (Tty(), 59.0, False), (io.StringIO(), 61.0, False)):
        assert notify.bell(100.0, out=out, now=lambda took=took: 100.0 + took) is rings
        assert out.getvalue() == ("\a" if rings else "")


def test_wait_notifies_once_the_detached_agents_are_done(repo: Path, agent_log: Path) -> None:
    write_manifest(repo, count=1, notify=WRITE_STDIN)
    rc, _, err = pe(repo, "execute", "--feature=feat", "--detach")
    assert rc == 0, err
    assert not (repo / "notified.json").exists()  # --detach: nothing is done yet
    rc, _, err = pe(repo, "wait", "--feature=feat")
    assert rc == 0, err
    got = _notified(repo)
    assert got["action"] == "wait" and got["trees"][0]["state"] == "done"  # type: ignore[index]
