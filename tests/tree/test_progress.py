"""PROGRESS.md merge: the agent's words kept, pe's observations added, on a real git tree."""

from __future__ import annotations

from pathlib import Path

from pe.tree.progress import AUTO, OBSERVED, completion, parse, refresh
from pe.tree.runrecord import RunRecord
from tests.support import git

AGENT_TEXT = """# Progress: my notes

Preamble the agent wrote.

## Completed

- [x] parser
- [x] lexer

### Details

The lexer handles unicode.

## TODO

- [ ] evaluator
- [ ] docs

## Design notes

Keep the AST immutable.
"""


def make_tree(tmp_path: Path) -> tuple[Path, str]:
    tree = tmp_path / "feat-1"
    tree.mkdir()
    git(tree, "init", "-q", "-b", "main")
    (tree / "a.txt").write_text("a\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "base")
    base = git(tree, "rev-parse", "HEAD")
    (tree / "b.py").write_text("print('b')\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "add b")
    (tree / "c.py").write_text("dirty\n")
    return tree, base


def record() -> RunRecord:
    return RunRecord(tree="feat-1", state="interrupted", attempts=2, reason="killed", exit="exit status -9",
                     ended_at="2026-01-01T00:00:00+0000")


def test_completion_counts_ticked_items_outside_code_and_pe_section() -> None:
    text = ("- [x] a\n* [X] b\n+ [ ] c\n1. [ ] d\n```\n- [x] in code\n```\n"
            f"## {OBSERVED}\n\n- [x] not the agent's\n")
    assert completion(text) == 0.5
    assert completion("no checklist here") is None


def test_refresh_keeps_agent_text_and_adds_observations(tmp_path: Path) -> None:
    tree, base = make_tree(tmp_path)
    (tree / "PROGRESS.md").write_text(AGENT_TEXT)
    log = tmp_path / "agent.log"
    log.write_text("starting\n## not a heading\n```\nfence in the log\n\x1b[31mred\x1b[0m\nlast line\n")
    refresh(tree, base, record(), log)
    text = (tree / "PROGRESS.md").read_text()
    # The agent's words, verbatim, sub-headings included; its TODO heading maps to Remaining TODOs.
    for kept in ("Preamble the agent wrote.", "- [x] parser", "### Details", "The lexer handles unicode.",
                 "- [ ] evaluator", "## Design notes", "Keep the AST immutable."):
        assert kept in text
    sections = [title for title, _ in parse(text).sections]
    assert sections[:5] == ["Completed", "In Progress", "Remaining TODOs", "Resume Instructions", "Context"]
    assert sections[-1] == OBSERVED and "Design notes" in sections
    observed = dict(parse(text).sections)[OBSERVED]
    assert "add b" in observed and "b.py" in observed and "?? c.py" in observed
    assert "interrupted (killed)" in observed and "attempts so far: 2" in observed
    assert "last line" in observed and "\x1b[" not in observed
    # pe filled the sections the agent left empty, marked as its own.
    assert AUTO in dict(parse(text).sections)["In Progress"]
    assert completion(text) == 0.5  # the agent's checklist, nothing of pe's


def test_refresh_twice_is_stable_and_log_headings_stay_in_their_fence(tmp_path: Path) -> None:
    tree, base = make_tree(tmp_path)
    (tree / "PROGRESS.md").write_text(AGENT_TEXT)
    log = tmp_path / "agent.log"
    log.write_text("## Injected heading\n````\nstill log\n")
    refresh(tree, base, record(), log)
    first = (tree / "PROGRESS.md").read_text()
    refresh(tree, base, record(), log)
    second = (tree / "PROGRESS.md").read_text()

    def body(text: str) -> str:
        return "\n".join(ln for ln in text.splitlines() if not ln.startswith("_Updated "))

    assert body(first) == body(second)
    titles = [t for t, _ in parse(second).sections]
    assert "Injected heading" not in titles
    assert second.count("- [x] parser") == 1


def test_agent_edits_next_to_pe_filler_survive(tmp_path: Path) -> None:
    tree, base = make_tree(tmp_path)
    (tree / "PROGRESS.md").write_text("## Completed\n\n- [x] one\n")
    refresh(tree, base, record(), tmp_path / "missing.log")
    text = (tree / "PROGRESS.md").read_text()
    # The agent writes under pe's filler in Remaining TODOs; the next refresh keeps its line only.
    text = text.replace("## Resume Instructions", "- [ ] the agent's own todo\n\n## Resume Instructions", 1)
    (tree / "PROGRESS.md").write_text(text)
    refresh(tree, base, record(), tmp_path / "missing.log")
    todos = dict(parse((tree / "PROGRESS.md").read_text()).sections)["Remaining TODOs"]
    assert "- [ ] the agent's own todo" in todos
    assert AUTO not in todos


def test_refresh_without_progress_file_writes_every_section(tmp_path: Path) -> None:
    tree, base = make_tree(tmp_path)
    refresh(tree, base, RunRecord(tree="feat-1"), tmp_path / "none.log")
    text = (tree / "PROGRESS.md").read_text()
    assert text.startswith("# Progress: feat-1")
    for name in ("Completed", "In Progress", "Remaining TODOs", "Resume Instructions", "Context", OBSERVED):
        assert f"## {name}" in text
    assert "add b" in dict(parse(text).sections)["Completed"]  # commits, offered where the agent said nothing
