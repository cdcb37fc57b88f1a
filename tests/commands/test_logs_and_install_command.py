from __future__ import annotations

from pathlib import Path

import pytest

from pe.main import main
from tests.support import write_manifest


def test_logs_shows_each_tree(repo: Path, agent_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(repo, count=2)
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 0
    capsys.readouterr()
    assert main(["logs", "--feature=feat", "--tree=feat-2", f"--dir={repo}"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\n=== pe: attempt 1 at ") and "tools/agent.py" in out
    assert main(["logs", "--feature=feat", "--tree=nope", f"--dir={repo}"]) == 3
    assert "--tree: 'nope' is not a tree of feat (feat-1, feat-2)" in capsys.readouterr().err


def test_install_command_writes_the_slash_command(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-command", f"--dir={repo}"]) == 0
    text = (repo / ".claude" / "commands" / "parallel-executor.md").read_text()
    assert text.startswith("---\ndescription:") and "pe $ARGUMENTS" in text and "allowed-tools: Bash(pe:*)" in text
    # Claude Code's Bash tool kills a command after 10 minutes at most: long work is detached, then waited for.
    assert "pe $ARGUMENTS --detach" in text and "pe wait --feature=NAME --timeout=9m" in text
    assert "600000" in text
