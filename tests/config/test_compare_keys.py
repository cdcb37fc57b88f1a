"""The manifest's keys for pe compare's judge and plan tests (issue 13): judge_weight, judge, plan_tests.

Accepted, they become typed values on Feature; refused, one line naming the key, exit 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pe.config import manifest
from pe.config.spec import AgentSpec
from pe.layout import Layout
from pe.main import main

HEAD = "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo]}\n"
AGENTS = "claude, codex, gemini, opencode, aider, mini, command"
KEYS = "args, budget_usd, command, env, idle_timeout, model, preset, retries, timeout"


def write(repo: Path, body: str) -> None:
    (repo / "features").mkdir(exist_ok=True)
    (repo / "features" / "feat.yaml").write_text(HEAD + body + "\n")


def test_absent_keys_mean_no_judge_vote_and_no_plan_tests(repo: Path) -> None:
    write(repo, "")
    feature = manifest.load(Layout(repo), "feat")
    assert feature.judge_weight == 0.0 and feature.judge is None and feature.plan_tests is None


@pytest.mark.parametrize(("body", "weight"), [("judge_weight: 0", 0.0), ("judge_weight: 12.5", 12.5),
                                              ("judge_weight: 50", 50.0)])
def test_judge_weight_is_a_number_of_points(repo: Path, body: str, weight: float) -> None:
    write(repo, body)
    feature = manifest.load(Layout(repo), "feat")
    assert feature.judge_weight == weight and isinstance(feature.judge_weight, float)


@pytest.mark.parametrize("key", ["plan_tests", "judge"])
def test_plan_tests_and_judge_are_agents_parsed_like_a_trees(repo: Path, key: str) -> None:
    write(repo, f"{key}: claude")
    assert getattr(manifest.load(Layout(repo), "feat"), key) == AgentSpec("claude")
    write(repo, f"{key}: {{preset: codex, model: gpt-x, timeout: 10m}}")
    spec = getattr(manifest.load(Layout(repo), "feat"), key)
    assert (spec.preset, spec.model, spec.timeout_s) == ("codex", "gpt-x", 600.0)
    write(repo, f"{key}: {{preset: command, command: [python, tools/t.py, '{{prompt_file}}'], timeout: 90}}")
    spec = getattr(manifest.load(Layout(repo), "feat"), key)
    assert spec.command == ("python", "tools/t.py", "{prompt_file}") and spec.timeout_s == 90.0
    # Not part of any tree's configuration: adding them re-runs nothing.
    write(repo, "")
    plain = manifest.load(Layout(repo), "feat")
    write(repo, f"{key}: claude\njudge_weight: 20")
    helped = manifest.load(Layout(repo), "feat")
    assert [plain.config_hash(t) for t in plain.trees] == [helped.config_hash(t) for t in helped.trees]


@pytest.mark.parametrize(("body", "message"), [
    ("judge_weight: 51", "at judge_weight: expected at most 50, got 51"),
    ("judge_weight: -1", "at judge_weight: expected at least 0, got -1"),
    ("judge_weight: lots", "at judge_weight: expected a number, got 'lots'"),
    ("judge_weight: true", "at judge_weight: expected a number, got True"),
    ("plan_tests: telepathy", f"at plan_tests: expected one of {AGENTS}, got 'telepathy'"),
    ("plan_tests: 5", "at plan_tests: expected one of claude, codex, gemini, opencode, aider, mini, command "
     "or a mapping with preset, got 5"),
    ("plan_tests: {model: x}", "at plan_tests: missing key 'preset'"),
    ("plan_tests: {preset: command}", "at plan_tests: missing key 'command'"),
    ("plan_tests: {preset: claude, foo: 1}", f"at plan_tests: unknown key: expected one of: {KEYS}; got 'foo'"),
    ("plan_tests: {preset: claude, timeout: 10x}", "at plan_tests.timeout: expected a whole number with s, m or h (e.g. 45m), got '10x'"),
    ("plan_tests: {preset: claude, timeout: 200h}", "at plan_tests.timeout: expected a duration from 1s to 7 days "
     "(604800 s or 168h), got '200h'"),
    ("judge: {preset: claude, idle_timeout: 604801}", "at judge.idle_timeout: expected at most 604800, got 604801"),
    ("plan_tests: command", "at plan_tests: the command preset needs its argv; "
     "expected {preset: command, command: [PROGRAM, ARG...]}"),
    ("judge: nope", f"at judge: expected one of {AGENTS}, got 'nope'"),
    ("judge: command", "at judge: the command preset needs its argv; expected {preset: command, command: [PROGRAM, ARG...]}"),
    ("judge: {preset: claude, model: ''}", "at judge.model: expected a non-empty string, got ''"),
])
def test_bad_values_are_one_line_naming_the_key(repo: Path, capsys: pytest.CaptureFixture[str],
                                                body: str, message: str) -> None:
    write(repo, body)
    assert main(["validate", "--feature=feat", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err == f"pe: error: features/feat.yaml: {message}\n"
    assert not (repo / ".pe").exists()
