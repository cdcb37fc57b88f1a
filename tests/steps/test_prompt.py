"""The agent's prompt says how pe will judge the tree: the manifest's checks, exactly as pe runs them there."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pe.compare.rule import SCORING_RULE
from pe.config import checks
from pe.config.spec import Feature, TreeSpec
from pe.config.strategies import Strategy
from pe.steps import prompt

CHECKS = checks.parse({
    "test": {"command": ["python", "-m", "pytest", "-q", "--junitxml={report_dir}/junit.xml"], "timeout": "2m"},
    "lint": ["tools/lint.sh", "{tree}"],
    "bench": {"command": ["python", "bench.py", "--port={port}"], "metric": "time: ([0-9.]+)", "unit": "s"},
})
TREE = TreeSpec("f", 1, "f-1", Strategy("simple", "Keep it simple."), None, 60.0)


def feature(with_checks: bool = True) -> Feature:
    return Feature("f", Path("features/f.yaml"), "specs/plan.md", "Do the thing.", "main", 2, 1, (TREE,),
                   checks=CHECKS if with_checks else ())


@pytest.fixture
def tree_dir(tmp_path: Path) -> Path:
    """A tree whose setup made a .venv."""
    where = tmp_path / "trees" / "f-1"
    (where / ".venv" / "bin").mkdir(parents=True)
    (where / ".venv" / "bin" / "python").write_text("")
    return where


def both(f: Feature, tree_dir: Path | None) -> list[str]:
    return [prompt.initial(f, TREE, "", tree_dir=tree_dir),
            prompt.resume(f, TREE, "", "", "interrupted", tree_dir=tree_dir)]


def test_the_prompt_lists_each_check_as_pe_runs_it_in_the_tree(tree_dir: Path) -> None:
    venv_python = shlex.quote(str(tree_dir / ".venv" / "bin" / "python"))
    for text in both(feature(), tree_dir):
        assert "## How pe will judge this tree" in text
        assert f'{venv_python} -m pytest -q --junitxml="$d"/junit.xml' in text
        assert f"{shlex.quote(str(tree_dir / 'tools/lint.sh'))} {shlex.quote(str(tree_dir))}" in text
        assert f'{venv_python} bench.py --port="$PE_PORT"' in text
        assert "d=$(mktemp -d)" in text and "{report_dir}" in text  # the placeholder, explained
        assert "time limit 2m00s" in text and "time: ([0-9.]+)" in text and "lower is better" in text
        assert "this tree's .venv/bin/python" in text
        assert SCORING_RULE in text


def test_without_a_venv_python_is_pes_own_interpreter(tmp_path: Path) -> None:
    text = prompt.initial(feature(), TREE, "", tree_dir=tmp_path)
    assert f"{shlex.quote(sys.executable)} -m pytest -q" in text and "no .venv" in text


def test_the_commands_shown_run_as_written(tree_dir: Path) -> None:
    # The shell lines the agent is given must be valid shell: `d=...` then each command.
    text = prompt.initial(feature(), TREE, "", tree_dir=tree_dir)
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    res = subprocess.run(["sh", "-n", "-c", block], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_without_the_tree_dir_the_templates_are_shown_and_python_explained() -> None:
    for text in both(feature(), None):
        assert 'python -m pytest -q --junitxml="$d"/junit.xml' in text
        assert "`python` is this tree's .venv/bin/python when it has one" in text


def test_no_checks_says_so_and_still_gives_the_rule() -> None:
    for text in both(feature(with_checks=False), None):
        assert "no checks" in text and SCORING_RULE in text
