"""The judge's vote (issue 13): JUDGE.json read as untrusted input, its part of a score, its table,
and a real `pe compare --judge=command` whose agent writes JUDGE.md and JUDGE.json."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pe.compare import judge, report, verdict
from pe.compare.scoring import Comparison
from pe.compare.verdict import Verdict
from pe.config import manifest
from pe.layout import Layout
from tests.support import pe
from tests.support.cycle import AGENT, make_repo, write_cycle_manifest

Entries = dict[str, dict[str, dict[str, object]]]  # JUDGE.json's shape
TREES = ("f-1", "f-2", "f-3")
GOOD: Entries = {"trees": {
    "f-1": {"score": 8, "verdict": "adopt", "reason": "Passes every check and is the smallest diff."},
    "f-2": {"score": 5.5, "verdict": "acceptable", "reason": "Correct but slower."},
    "f-3": {"score": 0, "verdict": "reject", "reason": "Its tests fail."},
}}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "JUDGE.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def one(tree: str, **entry: object) -> Entries:
    return {"trees": {tree: {"score": 5, "verdict": "acceptable", "reason": "ok", **entry}}}


def test_a_good_file_gives_every_tree_its_verdict(tmp_path: Path) -> None:
    found, problems = verdict.read(write(tmp_path, GOOD), TREES)
    assert problems == []
    assert found == {"f-1": Verdict("f-1", 8.0, "adopt", "Passes every check and is the smallest diff."),
                     "f-2": Verdict("f-2", 5.5, "acceptable", "Correct but slower."),
                     "f-3": Verdict("f-3", 0.0, "reject", "Its tests fail.")}
    # Case and spaces around a verdict are forgiven; a missing tree is a problem, not an error.
    found, problems = verdict.read(write(tmp_path, one("f-2", verdict=" Adopt ")), TREES)
    assert found["f-2"].verdict == "adopt"
    assert problems == ["JUDGE.json: no verdict for f-1", "JUDGE.json: no verdict for f-3"]


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "JUDGE.json is not valid JSON (Expecting property name enclosed in double quotes"),
    ("", "JUDGE.json is not valid JSON"),
    ('{"trees": {"f-1": {"score": NaN, "verdict": "adopt", "reason": "x"}}}', "NaN is not JSON"),
    ('{"trees": {"f-1": {}, "f-1": {}}}', "the key 'f-1' appears twice"),
    ("[" * 100_000, "JUDGE.json is not valid JSON"),
    ('{"trees": {"f-1": {"score": ' + "9" * 5000 + "}}}", "JUDGE.json is not valid JSON"),
    ([1, 2], 'expected an object {"trees": {"<tree>": {...}}}; nothing read'),
    ({"trees": ["f-1"]}, 'expected an object {"trees"'),
    ({"verdicts": GOOD["trees"]}, 'expected an object {"trees"'),
])
def test_a_file_that_is_not_the_format_gives_no_verdict(tmp_path: Path, content: object, problem: str) -> None:
    found, problems = verdict.read(write(tmp_path, content), TREES)
    assert found == {}
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(("entry", "problem"), [
    ({"score": 11}, "trees.f-1.score: 11 is outside 0 to 10; ignored"),
    ({"score": -1}, "trees.f-1.score: -1 is outside 0 to 10; ignored"),
    ({"score": 10**400}, "is outside 0 to 10; ignored"),
    ({"score": "nan"}, 'trees.f-1.score: expected a number from 0 to 10, got "nan"; ignored'),
    ({"score": "7"}, 'expected a number from 0 to 10, got "7"'),
    ({"score": True}, "expected a number from 0 to 10, got true"),
    ({"score": None}, "expected a number from 0 to 10, got null"),
    ({"verdict": "maybe"}, 'trees.f-1.verdict: expected one of adopt, acceptable, reject, got "maybe"; ignored'),
    ({"verdict": ["adopt"]}, "trees.f-1.verdict: expected one of adopt, acceptable, reject"),
])
def test_an_entry_that_breaks_the_format_is_dropped_and_named(tmp_path: Path, entry: dict[str, object],
                                                                problem: str) -> None:
    data = one("f-1", **entry)
    data["trees"]["f-2"] = GOOD["trees"]["f-2"]
    found, problems = verdict.read(write(tmp_path, data), ("f-1", "f-2"))
    assert list(found) == ["f-2"]  # the other tree's verdict stands
    assert len(problems) == 1 and problems[0].startswith("JUDGE.json: ") and problem in problems[0]


def test_a_score_too_large_for_a_float_is_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, '{"trees": {"f-1": {"score": 1e400, "verdict": "adopt", "reason": "x"}}}')
    assert verdict.read(path, ("f-1",)) == ({}, ["JUDGE.json: trees.f-1.score: Infinity is outside 0 to 10; ignored"])


def test_names_that_are_not_trees_are_ignored_and_problems_are_capped(tmp_path: Path) -> None:
    data = {"trees": {**GOOD["trees"], "f-9": {"score": 10, "verdict": "adopt", "reason": "x"},
                      "\x1b[2J" + "x" * 100: 1}}
    found, problems = verdict.read(write(tmp_path, data), TREES)
    assert set(found) == set(TREES)
    assert problems[0] == "JUDGE.json: no tree is named 'f-9'; ignored"
    assert problems[1] == f"JUDGE.json: no tree is named '{'x' * 59}…'; ignored"  # escapes gone, cut short
    flood: Entries = {"trees": {f"t-{i}": {} for i in range(500)}}
    found, problems = verdict.read(write(tmp_path, flood), TREES)
    assert found == {} and len(problems) == 21 and problems[-1] == "and 483 more problems"  # 500 unknown, 3 missing


def test_the_reason_is_one_line_of_plain_text_cut_to_300(tmp_path: Path) -> None:
    hostile = "\x1b[31mred\x1b[0m\x07 and\x1b]0;pwned title\x07 \u202ebidi\u202c\nsecond\tline\x00"
    found, problems = verdict.read(write(tmp_path, one("f-1", reason=hostile)), ("f-1",))
    assert found["f-1"].reason == "red and bidi second line" and problems == []
    found, problems = verdict.read(write(tmp_path, one("f-1", reason="word " * 100)), ("f-1",))
    assert len(found["f-1"].reason) == 300 and found["f-1"].reason.endswith("…")
    assert problems == ["JUDGE.json: trees.f-1.reason: longer than 300 characters; cut"]
    found, problems = verdict.read(write(tmp_path, one("f-1", reason=3)), ("f-1",))
    assert found["f-1"].reason == "" and problems == ["JUDGE.json: trees.f-1.reason: expected a string; left empty"]


def test_links_fifos_directories_and_huge_files_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "JUDGE.json"
    assert verdict.read(path, TREES) == ({}, ["the judge wrote no JUDGE.json"])
    # A link to a file the judge can read but the report must not carry (or JSON elsewhere).
    path.symlink_to("/etc/passwd")
    assert verdict.read(path, TREES) == ({}, ["JUDGE.json is a symbolic link, not a regular file: not read"])
    (tmp_path / "elsewhere").mkdir()
    path.unlink()
    path.symlink_to(write(tmp_path / "elsewhere", GOOD))  # valid JSON, but not the judge's file
    assert verdict.read(path, TREES)[0] == {}
    path.unlink()
    os.mkfifo(path)  # a FIFO nobody writes: reading it would wait forever
    assert verdict.read(path, TREES) == ({}, ["JUDGE.json is a FIFO, not a regular file: not read"])
    path.unlink()
    path.mkdir()
    assert verdict.read(path, TREES) == ({}, ["JUDGE.json is a directory, not a regular file: not read"])
    path.rmdir()
    path.write_text(json.dumps({"trees": {}, "pad": "x" * 300_000}))
    assert verdict.read(path, TREES) == ({}, ["JUDGE.json is over 200000 bytes: not read"])
    path.write_bytes(b'{"trees": {"f-1": "\xff"}}')
    assert verdict.read(path, TREES) == ({}, ["JUDGE.json is not UTF-8 text"])


def test_judge_part_is_the_weight_times_the_score_out_of_ten() -> None:
    found = {"f-1": Verdict("f-1", 7.5, "adopt", ""), "f-2": Verdict("f-2", 0.0, "reject", "")}
    assert verdict.judge_part(found, "f-1", 20) == 15.0
    assert verdict.judge_part(found, "f-2", 20) == 0.0
    assert verdict.judge_part(found, "f-3", 20) == 0.0  # no verdict: no points
    assert verdict.judge_part(found, "f-1", 0) == 0.0
    assert verdict.judge_part({"f-1": Verdict("f-1", 10.0, "adopt", "")}, "f-1", 50) == 50.0


def test_render_is_a_table_in_tree_order_that_says_it_is_an_opinion() -> None:
    found = {"f-2": Verdict("f-2", 5.5, "acceptable", "a | b <script>"), "f-1": Verdict("f-1", 8.0, "adopt", "")}
    lines = verdict.render(found, ["JUDGE.json: no verdict for f-3"], TREES)
    text = "\n".join(lines)
    assert lines[0] == "### Judge's verdicts"
    assert "opinion" in text and "Execution evidence decides which trees are eligible" in text
    rows = [ln for ln in lines if ln.startswith("| f-")]
    assert rows == ["| f-1 | adopt | 8/10 | _none given_ |",
                    "| f-2 | acceptable | 5.5/10 | a \\| b &lt;script> |",
                    "| f-3 | _none_ | | |"]
    assert "| tree | judge's verdict | score | reason |" in lines
    assert "- JUDGE.json: no verdict for f-3" in lines
    assert "Not counted" not in "\n".join(verdict.render(found, [], TREES))


# A real run: the tree agent is the cycle agent; as the judge it also writes JUDGE.json
# (one tree scored, one with a hostile reason, one name that is no tree), then JUDGE.md, which
# with $JUDGE_MD_LINK it turns into a link to that file.
VOTING_JUDGE = f"""import json, os, runpy, sys
from pathlib import Path
if os.environ.get("PE_STRATEGY") == "judge":
    Path("JUDGE.json").write_text(json.dumps({{"trees": {{
        "calc-1": {{"score": 9, "verdict": "adopt", "reason": "Fast and small; model " + os.environ.get("PE_MODEL", "")}},
        "calc-2": {{"score": 4, "verdict": "acceptable", "reason": "\\x1b[31mslow\\x1b[0m | but right"}},
        "calc-7": {{"score": 10, "verdict": "adopt", "reason": "not a tree"}},
    }}}}))
sys.argv = [{str(AGENT)!r}, *sys.argv[1:]]
try:
    runpy.run_path({str(AGENT)!r}, run_name="__main__")
finally:
    if os.environ.get("PE_STRATEGY") == "judge" and os.environ.get("JUDGE_MD_LINK"):
        os.remove("JUDGE.md")
        os.symlink(os.environ["JUDGE_MD_LINK"], "JUDGE.md")
"""


def test_a_judge_that_votes_gets_a_table_and_run_outcome_returns_its_verdicts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path)
    agent = tmp_path / "voting_judge.py"
    agent.write_text(VOTING_JUDGE)
    command = {"preset": "command", "command": [sys.executable, str(agent), "{prompt_file}"]}
    monkeypatch.setenv("CYCLE_VARIANT_2", "slow")
    write_cycle_manifest(root, count=2, agent=command, judge={**command, "model": "m-judge"}, judge_weight=10)
    assert pe(root, "execute", "--feature=calc")[0] == 0

    rc, _, err = pe(root, "compare", "--feature=calc", "--judge=command")
    assert rc == 0, err
    text = (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    section = text[text.index("## Judge's narrative (command"):]
    assert "It agrees with" in section  # JUDGE.md, as before
    assert "| calc-1 | adopt | 9/10 |" in section and "| calc-2 | acceptable | 4/10 | slow \\| but right |" in section
    assert "\x1b" not in text and "JUDGE.json: no tree is named 'calc-7'; ignored" in section
    # judge_weight 10: the measured parts make 90 points, the vote the other 10; eligibility is the checks'.
    ev = json.loads((root / "reports/calc/evidence.json").read_text())
    trees = {t["tree"]: t for t in ev["trees"]}
    assert trees["calc-1"]["score_parts"]["judge"] == 9.0 and trees["calc-2"]["score_parts"]["judge"] == 4.0
    assert trees["calc-1"]["score_parts"]["checks"] == 36.0  # 40 scaled by 90/100
    assert trees["calc-1"]["score"] == round(sum(trees["calc-1"]["score_parts"].values()), 1) <= 100
    assert ev["judge"]["weight"] == 10.0 and ev["judge"]["verdicts"]["calc-1"]["verdict"] == "adopt"
    assert "judge's score s (0-10, from its JUDGE.json) adds 10 * s / 10" in ev["rule"]
    assert "Judge: with judge_weight 10" in text
    prompt = (root / ".pe/judge/calc/PROMPT.md").read_text()
    assert "`JUDGE.json`" in prompt and "calc-1, calc-2" in prompt and '"verdict"' in prompt

    # In process, as compare will wire it: the manifest's judge (its model), its vote as values.
    layout = Layout(root)
    feature = manifest.load(layout, "calc")
    spec = judge.choose(feature, None, None)
    assert spec is not None and spec.model == "m-judge" and feature.judge_weight == 10.0
    outcomes: list[judge.JudgeOutcome] = []

    def run_judge(written: Path, c: Comparison) -> judge.JudgeOutcome:
        outcomes.append(judge.run_outcome(layout, feature, spec, written, c))
        return outcomes[-1]

    secret = tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2\n")
    monkeypatch.setenv("JUDGE_MD_LINK", str(secret))
    report.build(layout, feature, run_checks=False, judge=run_judge)
    (outcome,) = outcomes
    assert dict(outcome.verdicts) == {
        "calc-1": Verdict("calc-1", 9.0, "adopt", "Fast and small; model m-judge"),
        "calc-2": Verdict("calc-2", 4.0, "acceptable", "slow | but right")}
    assert outcome.problems == ("JUDGE.json: no tree is named 'calc-7'; ignored",)
    assert verdict.judge_part(outcome.verdicts, "calc-1", feature.judge_weight) == 9.0
    assert "### Judge's verdicts" in outcome.section
    # A JUDGE.md that links elsewhere is not followed into the report.
    assert "hunter2" not in outcome.section and "exited without writing JUDGE.md" in outcome.section


def test_choose_prefers_the_flag_and_keeps_the_manifest_judges_settings(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    command = {"preset": "command", "command": ["python", str(AGENT), "{prompt_file}"]}
    judge_cmd = {"preset": "command", "command": ["python", "judge.py"], "timeout": "5m"}
    write_cycle_manifest(root, count=1, agent=command, judge=judge_cmd)
    feature = manifest.load(Layout(root), "calc")
    flagged = judge.choose(feature, "command", "m2")
    assert flagged is not None and flagged.command == ("python", "judge.py") and flagged.model == "m2"
    assert flagged.timeout_s == 300.0
    write_cycle_manifest(root, count=1, agent=command)
    feature = manifest.load(Layout(root), "calc")
    assert judge.choose(feature, None, "m") is None  # no judge unless asked for
    reused = judge.choose(feature, "command", None)
    assert reused is not None and reused.command == tuple(command["command"])
