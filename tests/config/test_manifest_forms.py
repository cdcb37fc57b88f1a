"""Manifests as users write them (issue 17): implementations as a list, checks as strings, bounded
durations, placeholders expanded once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pe.config import argv, manifest
from pe.config.checks import parse as parse_checks
from pe.config.durations import MAX_DURATION_S, duration
from pe.config.spec import Overrides
from pe.errors import ManifestError
from pe.layout import Layout
from pe.main import main
from tests.support import write_manifest


def test_implementations_as_a_list_one_entry_per_tree_in_order(repo: Path) -> None:
    write_manifest(repo, implementations=[
        {"strategy": "innovative", "agent": {"preset": "command", "command": ["echo", "one"]}},
        {},
        {"strategy": "simple", "model": "m3", "timeout": "5m"},
    ])
    feature = manifest.load(Layout(repo), "feat")
    assert feature.count == 3 and feature.jobs == 3  # no count: the list's length
    assert [t.strategy.name for t in feature.trees] == ["innovative", "performance", "simple"]
    first, second, third = feature.trees
    assert first.agent is not None and first.agent.command == ("echo", "one")
    assert second.agent is not None and second.agent.command[1] == "tools/agent.py"
    assert third.agent is not None and third.agent.model == "m3" and third.timeout_s == 300


def test_the_list_and_the_mapping_say_the_same(repo: Path) -> None:
    listed = {"implementations": [{}, {"strategy": "simple"}], "count": 2}
    mapped = {"implementations": {"2": {"strategy": "simple"}}, "count": 2}
    write_manifest(repo, "a", **listed)
    write_manifest(repo, "b", **mapped)
    a, b = manifest.load(Layout(repo), "a"), manifest.load(Layout(repo), "b")
    assert [(t.strategy, t.agent, t.timeout_s) for t in a.trees] == [(t.strategy, t.agent, t.timeout_s) for t in b.trees]


def test_a_count_that_contradicts_the_list_is_exit_3(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(repo, implementations=[{}, {}])
    assert main(["init", "--feature=feat", "--count=3", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == ("pe: error: features/feat.yaml with --count=3: at count: expected 2, the length "
                                       "of the implementations list (or no count:), got 3\n")
    assert not (repo / "trees").exists()


def test_flags_keep_a_list_a_list(repo: Path) -> None:
    write_manifest(repo, implementations=[{"sandbox": "none"}, {"strategy": "simple"}])
    feature = manifest.load(Layout(repo), "feat", Overrides(sandbox="auto", agent="command:1,mini:1"))
    assert [t.sandbox.mode for t in feature.trees] == ["auto", "auto"]
    assert [t.agent.preset if t.agent else None for t in feature.trees] == ["command", "mini"]
    assert feature.trees[1].strategy.name == "simple"


def test_a_list_over_the_limit_is_refused_before_the_schema_reads_its_entries(repo: Path) -> None:
    # Issue 17: 10,000 entries took 4 s of CPU (YAML parse and jsonschema) to reject.
    path = write_manifest(repo)
    path.write_text(path.read_text() + "implementations:\n" + "- {strategy: simple, agent: {preset: claude}}\n" * 10_000)
    start = time.process_time()
    with pytest.raises(ManifestError, match=r"at implementations: expected at most 50 entries \(one per tree\), "
                                            r"got 10000$"):
        manifest.load(Layout(repo), "feat")
    assert time.process_time() - start < 2.5  # was 4.4 s; now about 1 s (libyaml, and no schema pass)


def test_a_check_as_a_string_is_split_like_setup_commands() -> None:
    checks = parse_checks({"test": "python -m pytest -q -k 'a and b'", "lint": {"command": "ruff check {tree}"},
                           "build": ["make", "all"]})
    assert [c.command for c in checks] == [("python", "-m", "pytest", "-q", "-k", "a and b"),
                                           ("ruff", "check", "{tree}"), ("make", "all")]
    assert [c.kind for c in checks] == ["test", "lint", "build"]


def test_a_check_string_runs_without_a_shell(repo: Path) -> None:
    # `;` and `$HOME` are words, as in setup.verify: nothing interprets them.
    write_manifest(repo, checks={"test": "echo a; echo $HOME", "lint": {"command": "x 'two words'", "timeout": "2m"}})
    feature = manifest.load(Layout(repo), "feat")
    assert [(c.command, c.timeout_s) for c in feature.checks] == [(("echo", "a;", "echo", "$HOME"), 600.0),
                                                                  (("x", "two words"), 120.0)]


@pytest.mark.parametrize(("value", "secs"), [(1, 1.0), ("45m", 2700.0), ("168h", MAX_DURATION_S), (604800, MAX_DURATION_S)])
def test_durations_up_to_seven_days(value: object, secs: float) -> None:
    assert duration(value, "x") == secs


@pytest.mark.parametrize("value", ["600h", "10081m", "604801s", 604801, "9" * 30 + "h", 0, True, "1d"])
def test_longer_durations_are_one_line(value: object) -> None:
    with pytest.raises(ManifestError, match=r"^at timeout: expected "):
        duration(value, "at timeout")


def test_a_duration_the_schema_allows_cannot_overflow_a_timer(repo: Path) -> None:
    # The bug: `600h` passed the schema, then every agent died of OverflowError.
    write_manifest(repo, timeout="600h")
    with pytest.raises(ManifestError, match="at timeout: expected a duration from 1s to 7 days"):
        manifest.load(Layout(repo), "feat")


def test_placeholders_in_a_substituted_value_stay_as_written() -> None:
    # A repository at /src/{feature}/app: the prompt path the agent gets must be that path.
    values = {"prompt_file": "/src/{feature}/app/.pe/prompt.md", "feature": "feat", "tree": "/t/{index}", "index": "1"}
    assert argv.expand("{prompt_file}", values) == "/src/{feature}/app/.pe/prompt.md"
    assert argv.expand("--tree={tree}:{index}:{unknown}", values) == "--tree=/t/{index}:1:{unknown}"
    assert argv.argv(["echo", "{prompt_file}", '{"json": 1}'], values, Path("/r")) == [
        "echo", "/src/{feature}/app/.pe/prompt.md", '{"json": 1}']
    strict = {"root": "/src/{tree}", "tree": "x"}
    assert argv.expand("{root}/{{tree}}", strict, strict="k") == "/src/{tree}/{tree}"


def test_an_agent_in_a_repository_under_a_braced_directory_gets_its_prompt(tmp_path: Path, agent_log: Path) -> None:
    # Issue 17: /work/{feature}/repo reached the agent as /work/feat/repo/...: no such prompt file.
    from tests.support import agent_runs, scripted_repo

    root = scripted_repo(tmp_path / "{feature}-{tree}" / "repo")
    write_manifest(root, count=1)
    assert main(["execute", "--feature=feat", f"--dir={root}"]) == 0
    start = agent_runs(agent_log)[0]
    assert start["prompt"] == [str(Layout(root).prompt("feat-1"))] and "/{feature}-{tree}/" in start["prompt"][0]
