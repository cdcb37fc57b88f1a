"""pe compare --plan-tests: an agent writes tests from the plan in a scratch checkout of the base;
pe commits its test files (only those) and hands them over as the "plan" TestSource.

Real git in tmp_path, real agents: `command` agents (small Python scripts) and one real CLI
(claude) against the scripted model server.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pe.compare import plantests
from pe.config.checks import CheckSpec
from pe.config.spec import AgentSpec, Feature, SandboxSpec
from pe.errors import PeError
from pe.layout import Layout
from tests.model_server import ModelServer, Script, WriteFile
from tests.support import PLAN, git, scripted_repo
from tests.support.agent_clis import need, offline_agent
from tests.support.sandbox import need_sandbox

STUB = "def add(a, b):\n    raise NotImplementedError\n"
TEST = "from src.app import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
CHECK = ("python", "-m", "pytest", "-q")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scripted_repo(tmp_path / "repo", {"src/app.py": STUB, "tests/__init__.py": ""})


def feature(sandbox: str = "none") -> Feature:
    return Feature("feat", Path("features/feat.yaml"), "specs/plan.md", PLAN, "main", 1, 1, (),
                   checks=(CheckSpec("test", CHECK, kind="test"), CheckSpec("lint", ("ruff", "check"), kind="lint")),
                   sandbox=SandboxSpec(mode=sandbox))


def agent(tmp_path: Path, body: str) -> AgentSpec:
    """A `command` agent: `body` as a Python script run in the scratch checkout, the prompt file its argv[1]."""
    script = tmp_path / "plan_agent.py"
    script.write_text("import os, pathlib, subprocess, sys\nprompt = pathlib.Path(sys.argv[1]).read_text()\n"
                      + textwrap.dedent(body))
    return AgentSpec("command", command=(sys.executable, str(script), "{prompt_file}"), timeout_s=60)


def write(root: Path, spec: AgentSpec, sandbox: str = "none") -> plantests.PlanTests:
    return plantests.write(Layout(root), feature(sandbox), spec, git(root, "rev-parse", "HEAD"))


WRITES_TEST_AND_CODE = f"""
assert "Write impl.txt with the tree's name." in prompt and "python -m pytest -q" in prompt, prompt
assert "ruff check" not in prompt  # only the test checks run the tests
pathlib.Path("tests/test_plan.py").write_text({TEST!r})
pathlib.Path("src/app.py").write_text("def add(a, b):\\n    return a + b\\n")
"""


def test_the_test_file_is_committed_and_everything_else_dropped(root: Path, tmp_path: Path) -> None:
    base = git(root, "rev-parse", "HEAD")
    got = write(root, agent(tmp_path, WRITES_TEST_AND_CODE))
    assert got.source is not None, got.why
    assert got.source.name == "plan" and got.source.credible
    assert got.source.files == ("tests/test_plan.py",)
    assert got.ignored == ("src/app.py",) and "src/app.py" in got.why
    commit = got.source.commit
    # The commit is the base plus the test file: what the cross-test runner overlays.
    assert git(root, "show", f"{commit}:tests/test_plan.py") + "\n" == TEST
    assert git(root, "rev-parse", f"{commit}^") == base
    assert git(root, "diff", "--name-only", base, commit) == "tests/test_plan.py"
    assert git(root, "rev-parse", "refs/pe/plan-tests/feat") == commit
    # The scratch checkout is gone, files and git's entry; the main checkout is untouched.
    assert not Layout(root).plan_tests("feat").exists()
    assert str(Layout(root).plan_tests("feat")) not in git(root, "worktree", "list")
    assert git(root, "status", "--porcelain") == "?? .pe/"
    assert git(root, "rev-parse", "HEAD") == base
    assert got.log.is_file() and got.log.relative_to(root).parts[:2] == (".pe", "checks")
    assert got.seconds > 0
    plantests.release(Layout(root), "feat")
    assert git(root, "for-each-ref", "refs/pe/") == ""


@pytest.mark.parametrize(("body", "why"), [
    ("pathlib.Path('tests/test_plan.py').write_text('x = 1\\n')\nsys.exit(1)", "exited with status 1"),
    ("pathlib.Path('notes.txt').write_text('thoughts\\n')", "wrote no test files; it changed only notes.txt"),
    ("", "wrote no test files"),
])
def test_a_failed_or_empty_run_gives_no_source(root: Path, tmp_path: Path, body: str, why: str) -> None:
    got = write(root, agent(tmp_path, body))
    assert got.source is None and why in got.why, got.why
    assert not Layout(root).plan_tests("feat").exists()
    assert git(root, "for-each-ref", "refs/pe/") == ""


def test_a_timed_out_agent_gives_no_source(root: Path, tmp_path: Path) -> None:
    spec = agent(tmp_path, "pathlib.Path('tests/test_plan.py').write_text('x = 1\\n')\nimport time; time.sleep(60)")
    got = write(root, AgentSpec(spec.preset, command=spec.command, timeout_s=1.5))
    assert got.source is None and "timed out" in got.why, got.why
    assert not Layout(root).plan_tests("feat").exists()


def test_a_symlink_planted_as_a_test_is_dropped(root: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not a test\n")
    body = f"""
    pathlib.Path("tests/test_real.py").write_text({TEST!r})
    os.symlink({str(secret)!r}, "tests/test_link.py")
    os.symlink("test_real.py", "tests/test_inside.py")
    """
    got = write(root, agent(tmp_path, body))
    assert got.source is not None, got.why
    assert got.source.files == ("tests/test_real.py",)
    assert set(got.ignored) == {"tests/test_link.py", "tests/test_inside.py"}
    assert git(root, "ls-tree", "-r", "--name-only", got.source.commit, "tests") == "tests/__init__.py\ntests/test_real.py"


def test_tests_the_agent_committed_count_and_a_deleted_git_file_changes_nothing(root: Path, tmp_path: Path) -> None:
    base = git(root, "rev-parse", "HEAD")
    body = f"""
    pathlib.Path("tests/test_plan.py").write_text({TEST!r})
    pathlib.Path("README.md").write_text("rewritten\\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-qm", "the agent's own"], check=True)
    pathlib.Path("tests/test_more.py").write_text("def test_more():\\n    pass\\n")
    os.remove(".git")
    """
    got = write(root, agent(tmp_path, body))
    assert got.source is not None, got.why
    assert got.source.files == ("tests/test_more.py", "tests/test_plan.py")
    assert got.ignored == ("README.md",)
    assert git(root, "rev-parse", f"{got.source.commit}^") == base  # on the base, not on the agent's commit
    # Nothing landed in the main checkout: git would find it once the .git file is gone.
    assert git(root, "rev-parse", "HEAD") == base and git(root, "log", "--format=%s", "main") == "init"
    assert not Layout(root).plan_tests("feat").exists()
    assert "feat.plan" not in git(root, "worktree", "list")


def test_a_killed_compares_scratch_checkout_is_replaced(root: Path, tmp_path: Path) -> None:
    work = Layout(root).plan_tests("feat")
    git(root, "worktree", "add", "--detach", str(work), "HEAD")
    (work / "tests" / "test_stale.py").write_text("stale\n")
    got = write(root, agent(tmp_path, WRITES_TEST_AND_CODE))
    assert got.source is not None and got.source.files == ("tests/test_plan.py",), got.why


def test_bad_input_raises(root: Path, tmp_path: Path) -> None:
    with pytest.raises(PeError, match="nope"):
        write(root, AgentSpec("nope"))
    with pytest.raises(PeError, match="is not a commit"):
        plantests.write(Layout(root), feature(), agent(tmp_path, ""), "no-such-rev")
    assert not Layout(root).plan_tests("feat").exists()


def test_in_the_sandbox_the_agent_writes_its_checkout_only(root: Path, tmp_path: Path) -> None:
    need_sandbox()
    body = f"""
    pathlib.Path("tests/test_plan.py").write_text({TEST!r})
    try:
        pathlib.Path({str(root / "README.md")!r}).write_text("escaped\\n")
    except OSError:
        pass
    """
    got = write(root, agent(tmp_path, body), sandbox="bwrap")
    assert got.source is not None and got.source.files == ("tests/test_plan.py",), got.why
    assert (root / "README.md").read_text() == "project\n"


@pytest.fixture
def server() -> Iterator[ModelServer]:
    with ModelServer() as srv:
        yield srv


def test_a_real_cli_writes_the_tests(root: Path, tmp_path: Path, server: ModelServer) -> None:
    need("claude")
    server.script = Script(steps=(WriteFile("tests/test_plan.py", TEST), WriteFile("NOTES.md", "my notes\n")),
                           final="Wrote the tests.")
    entry = offline_agent("claude", server.url, tmp_path / "state")
    spec = AgentSpec("claude", env=tuple(sorted(entry["env"].items())), args=tuple(entry.get("args", ())),
                     model=entry.get("model"), timeout_s=180)
    got = write(root, spec)
    assert got.source is not None, got.why + "\n" + got.log.read_text(errors="replace")[-3000:]
    assert got.source.files == ("tests/test_plan.py",) and got.ignored == ("NOTES.md",)
    assert git(root, "show", f"{got.source.commit}:tests/test_plan.py") + "\n" == TEST
    # The model was given the plan (and not a tree's prompt).
    turns = [r for r in server.requests if r.is_turn()]
    assert turns and "Write acceptance tests for `feat`" in str(turns[0].body)
