"""The presets without their CLIs: registry and schema agree, a missing CLI names its package,
and the errors the real CLIs print are classed as transient or not (strings seen offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pe.agents import PRESETS, output
from pe.main import main
from tests.support import write_manifest
from tests.support.agent_clis import PACKAGES

ROOT = Path(__file__).resolve().parents[2]


def test_schema_lists_every_preset_and_describes_every_property() -> None:
    schema = json.loads((ROOT / "schemas" / "agent.schema.json").read_text())
    by_name, mapping = schema["anyOf"]
    assert by_name["enum"] == list(PRESETS)
    assert mapping["properties"]["preset"]["enum"] == list(PRESETS)
    for key, prop in mapping["properties"].items():
        assert prop.get("description"), key


@pytest.mark.parametrize("name", list(PACKAGES))
def test_missing_cli_is_refused_naming_the_package(
    name: str, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    # The manifest's PATH is where the agent will look, so it is where pe looks.
    write_manifest(repo, count=1, agent={"preset": name, "env": {"PATH": str(empty)}})
    assert main(["execute", "--feature=feat", f"--dir={repo}"]) == 3
    err = capsys.readouterr().err
    assert f"agent {name}: '{name}' is not on PATH; install it with: " in err and PACKAGES[name] in err, err
    assert err.count("\n") == 1  # one line, no traceback
    assert not (repo / "trees").exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        # claude (is_error results)
        ("API Error: Request rejected (429) · Rate limited (scripted).", True),
        ("HTTP 503: API Error: 503 Overloaded (scripted). This is a server-side issue", True),
        ("API Error: Unable to connect to API (ConnectionRefused)", True),
        ("HTTP 401: Invalid API key · Fix external API key", False),
        ("stopped at its budget (--max-budget-usd); Reached maximum budget ($0.01)", False),
        # codex (turn.failed / error events)
        ("exceeded retry limit, last status: 429 Too Many Requests", True),
        ("unexpected status 401 Unauthorized: Incorrect API key provided: sk-fake., url: http://h/v1/responses", False),
        # gemini (error object)
        ('exit status 145: {"error":{"code":401,"message":"API key not valid.","status":"UNAUTHENTICATED"}}', False),
        ('{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED"}}', True),
        # opencode (error events)
        ("Cannot connect to API: Unable to connect. Is the computer able to access the url?", True),
        # aider and mini (litellm exceptions)
        ("litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided", False),
        ("exit_status ServiceUnavailableError: litellm.ServiceUnavailableError: The server is overloaded", True),
        ("exit_status LimitsExceeded: stopped at its step or cost limit", False),
        ("the model used 1429 tokens and wrote nothing", False),
    ],
)
def test_transient_errors_are_told_from_permanent_ones(error: str, transient: bool) -> None:
    assert output.is_transient(error) is transient
