"""Bad manifests: one exact line each, exit 3, nothing created, .git/config unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe.main import main
from tests.support import git

GOOD_HEAD = "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo]}\n"

CORPUS = [
    # (manifest body after the good head, or a whole file when it starts with '!'; expected message)
    ("count: 0", "at count: expected at least 1, got 0"),
    ("count: 51", "at count: expected at most 50, got 51"),
    ("count: three", "at count: expected a whole number, got 'three'"),
    ("count: true", "at count: expected a whole number, got True"),
    ("jobs: 0", "at jobs: expected at least 1, got 0"),
    ("bogus: 1", "at (top level): unknown key: expected one of: agent, base, checks, count, feature, "
     "implementations, jobs, judge, judge_weight, lessons, notify, plan, plan_tests, remote, runner, sandbox, "
     "scheduler, setup, strategies, synthesis, timeout; got 'bogus'"),
    ("strategies: [fast]", "at strategies[0]: expected one of simple, performance, extensible, innovative, got 'fast'"),
    ("strategies: simple", "at strategies: expected a list, got 'simple'"),
    ("strategies: []", "at strategies: expected at least 1 item, got []"),
    ("strategies: [{name: x}]", "at strategies[0]: missing key 'prompt'"),
    ("strategies: [{name: Bad, prompt: p}]", "at strategies[0].name: expected a short name shown in status and compare: lower-case letters, "
     "digits, '_' and '-', got 'Bad'"),
    ("implementations: {'5': {strategy: simple}}", "at implementations.5: tree 5 does not exist (count is 3)"),
    ("implementations: {'x': {strategy: simple}}", "at implementations: expected a key matching '^[1-9][0-9]?$', got 'x'"),
    ("implementations: {'2': {strategy: nope}}",
     "at implementations.2.strategy: expected one of simple, performance, extensible, innovative, got 'nope'"),
    ("implementations: {'2': {agent: {preset: command, command: [x], foo: 1}}}",
     "at implementations.2.agent: unknown key: expected one of: args, budget_usd, command, env, idle_timeout, "
     "model, preset, retries, timeout; got 'foo'"),
    ("implementations: {'2': {}}", "at implementations.2: expected at least 1 key, got {}"),
    ("timeout: 10x", "at timeout: expected a whole number with s, m or h (e.g. 45m), got '10x'"),
    ("timeout: 0", "at timeout: expected at least 1, got 0"),
    ("count: 3\ncount: 4", "line 5: key 'count' appears twice"),
    ("base: no-such-ref", "at base: 'no-such-ref' is not a commit in this repository"),
    ("!feature: feat\nplan: specs/plan.md\nagent: {preset: command}\n", "at agent: missing key 'command'"),
    ("!feature: feat\nplan: specs/plan.md\nagent: telepathy\n",
     "at agent: expected one of claude, codex, gemini, opencode, aider, mini, command, got 'telepathy'"),
    ("!feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [x], env: {'A=B': x}}\n",
     "at agent.env: expected no '=' (the OS cannot pass it in the environment), got 'A=B'"),
    ("!feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [x], env: {A: \"x\\0y\"}}\n",
     "at agent.env.A: expected no NUL (the OS cannot pass it in the environment), got 'x\\x00y'"),
    ("!feature: feat\nplan: specs/plan.md\nagent: 5\n",
     "at agent: expected one of claude, codex, gemini, opencode, aider, mini, command or a mapping with preset, got 5"),
    ("!feature: other\nplan: specs/plan.md\n", "at feature: expected 'feat', the file's name, got 'other'"),
    ("!feature: feat\n", "at (top level): missing key 'plan'"),
    ("!feature: feat\nplan: specs/missing.md\n", "plan file 'specs/missing.md' does not exist (plan paths are "
     "relative to the repository root, {root})"),
    ("!feature: feat\nplan: specs\n", "plan 'specs' is not a regular file"),
    ("!feature: feat\nplan: ../outside.md\n", "plan '../outside.md' is outside the repository"),
    ("!feature: feat\nplan: specs/binary.md\n", "plan 'specs/binary.md' is a binary file, expected text"),
    ("![1, 2]\n", "at (top level): expected a mapping of keys, got list"),
    ("!feature: [\n", "line 2, column 1: not valid YAML (expected the node content, but found '<stream end>')"),
    ("!\xff\xfe", "not a UTF-8 text file"),
]


def _snapshot(root: Path) -> tuple[str, str, list[str]]:
    config = (root / ".git" / "config").read_text()
    return config, git(root, "worktree", "list"), sorted(p.name for p in root.iterdir())


@pytest.mark.parametrize(("body", "message"), CORPUS, ids=[c[0][:40] for c in CORPUS])
def test_bad_manifest(repo: Path, capsys: pytest.CaptureFixture[str], body: str, message: str) -> None:
    (repo / "specs" / "binary.md").write_bytes(b"\x00\x01binary")
    path = repo / "features" / "feat.yaml"
    path.parent.mkdir()
    if body.startswith("!"):
        path.write_bytes(body[1:].encode("latin-1") if "\xff" in body else body[1:].encode())
    else:
        path.write_text(GOOD_HEAD + body + "\n")
    before = _snapshot(repo)
    for action in (["validate"], ["init"], ["execute"]):
        rc = main([*action, "--feature=feat", f"--dir={repo}"])
        err = capsys.readouterr().err
        assert rc == 3, (action, err)
        assert err == f"pe: error: features/feat.yaml: {message.replace('{root}', str(repo))}\n"
        assert _snapshot(repo) == before
        assert not (repo / ".pe").exists() and not (repo / "trees").exists()


@pytest.mark.parametrize("name", ["--set-upstream-to=x", "../x", "a b", "-x", "A", "x/y", "a..b", "x" * 42, "é", ""])
def test_bad_feature_names_refused_before_git(repo: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    before = _snapshot(repo)
    rc = main(["init", f"--feature={name}", "--plan=specs/plan.md", f"--dir={repo}"])
    assert rc == 3
    err = capsys.readouterr().err
    assert err.startswith("pe: error: invalid feature name") and err.count("\n") == 1
    assert _snapshot(repo) == before
    assert git(repo, "branch", "--list") == "* main"


def test_flag_errors_are_one_line_exit_3(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--feature=feat", "--plan=specs/plan.md", "--count=0", f"--dir={repo}"]) == 3
    assert capsys.readouterr().err.startswith("pe: error: argument --count: expected 1 to 50, got 0")
    assert main(["init", "--feature=feat", "--plan=specs/plan.md", "--strategy=fast", f"--dir={repo}"]) == 3
    assert "--strategy: unknown strategy 'fast'" in capsys.readouterr().err
    assert not (repo / ".pe").exists() and not (repo / "features").exists()


def test_strategy_flag_and_defaults(repo: Path) -> None:
    from pe.config import manifest
    from pe.layout import Layout

    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(GOOD_HEAD + "count: 5\n")
    layout = Layout(repo)
    default = manifest.load(layout, "feat")
    assert [t.strategy.name for t in default.trees] == ["simple", "performance", "extensible", "innovative", "simple"]
    best_of = manifest.load(layout, "feat", manifest.Overrides(strategy="performance"))
    assert {t.strategy.name for t in best_of.trees} == {"performance"}
    mixed = manifest.load(layout, "feat", manifest.Overrides(strategy="innovative,simple", count=3))
    assert [t.strategy.name for t in mixed.trees] == ["innovative", "simple", "innovative"]
    assert "benchmark" in best_of.trees[0].strategy.prompt.lower()


def test_agent_flag_sets_every_tree_or_a_mix(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pe.config import manifest
    from pe.layout import Layout

    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(GOOD_HEAD)
    layout = Layout(repo)
    mixed = manifest.load(layout, "feat", manifest.Overrides(agent="command:2,command:1"))
    assert mixed.count == 3 and all(t.agent and t.agent.command == ("echo",) for t in mixed.trees)
    with pytest.raises(Exception, match="--agent: unknown agent 'telepathy'"):
        manifest.load(layout, "feat", manifest.Overrides(agent="telepathy"))
    with pytest.raises(Exception, match="the mix names 3 trees but count is 2"):
        manifest.load(layout, "feat", manifest.Overrides(agent="command:2,command:1", count=2))


def test_setup_errors_schema_cannot_see_exit_3(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(GOOD_HEAD + "setup: {verify: \"npm run 'build\"}\n")
    assert main(["init", "--feature=feat", f"--dir={repo}"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("pe: error: features/feat.yaml: at setup.verify: expected a command line shlex can split")
    assert not (repo / ".pe").exists() and not (repo / "trees").exists()
