"""The judge's vote (issue 13): JUDGE.json's score and verdict per tree, read as untrusted input.

The judge is an agent that read code other agents wrote: what it writes may be
malformed, or hostile (a symlink to a secret, escape sequences for the terminal,
a table cell that breaks the report). So reading never raises on content and
never follows a link; whatever does not fit the format is dropped and named in
`problems`, and the rest is kept. The vote is an opinion: the scoring rule
decides how far it moves a score (manifest `judge_weight:`), and execution
evidence alone decides which trees are eligible.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pe.fsutil import not_regular, read_regular

VERDICT_FILE = "JUDGE.json"
VERDICTS = ("adopt", "acceptable", "reject")
SCORE_MAX = 10.0
REASON_MAX = 300
_FILE_MAX = 200_000  # a few trees' verdicts are a few kB; more is not a verdict file
_PROBLEMS_MAX = 20  # a judge naming 10,000 unknown trees must not flood the report
_NAME_MAX = 60
# CSI (colours, cursor moves) and OSC (window titles, hyperlinks) sequences: whole, not just their ESC.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.?")


@dataclass(frozen=True)
class Verdict:
    tree: str
    score: float  # 0..SCORE_MAX
    verdict: str  # one of VERDICTS
    reason: str  # one line of plain text, at most REASON_MAX characters


@dataclass(frozen=True)
class JudgeOutcome:
    """What pe.compare.judge.run_outcome produced: the judge's report section (narrative and vote
    table) and its vote. Here, not in judge.py, so that the report and the scoring can name it
    without importing the judge (which imports the report)."""

    section: str
    verdicts: Mapping[str, Verdict] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def to_json(self, weight: float) -> dict[str, Any]:
        """evidence.json's `judge`: the vote, its weight, and what was not counted."""
        return {"weight": weight, "verdicts": {t: asdict(v) for t, v in self.verdicts.items()},
                "problems": list(self.problems)}


def clean(text: str, limit: int = REASON_MAX) -> str:
    """`text` as one line of printable text: escape sequences and control characters
    (bidi overrides included) removed, whitespace collapsed, cut to `limit` characters."""
    text = _ESCAPES.sub("", text)
    kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C")
    one_line = " ".join("".join(kept).split())
    return one_line if len(one_line) <= limit else one_line[:limit - 1].rstrip() + "…"


def _name(key: str) -> str:
    return repr(clean(key, _NAME_MAX))


def _no_constants(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have: a score of NaN would
    # compare false with every bound and slip through the range check.
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two entries for one tree: which one the judge meant is unknowable, so neither counts.
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {_name(key)} appears twice")
        seen[key] = value
    return seen


def _load(path: Path) -> tuple[Any, str | None]:
    """The parsed file, or None and why not."""
    kind = not_regular(path)
    if kind is not None:
        return None, f"{VERDICT_FILE} is {kind}, not a regular file: not read"
    raw = read_regular(path, _FILE_MAX + 1)
    if raw is None:
        return None, f"the judge wrote no {VERDICT_FILE}"
    if len(raw) > _FILE_MAX:
        return None, f"{VERDICT_FILE} is over {_FILE_MAX} bytes: not read"
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constants, object_pairs_hook=_unique), None
    except UnicodeDecodeError:
        return None, f"{VERDICT_FILE} is not UTF-8 text"
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError; so is a 5,000-digit int
        return None, f"{VERDICT_FILE} is not valid JSON ({clean(str(exc), 120)})"


def _one(tree: str, entry: Any) -> tuple[Verdict | None, list[str]]:
    """The verdict for `tree` from its JSON entry, and what was wrong with it."""
    where = f"{VERDICT_FILE}: trees.{tree}"
    if not isinstance(entry, dict):
        return None, [f"{where}: expected an object with score, verdict and reason; ignored"]
    score: Any = entry.get("score")
    number = isinstance(score, (int, float)) and not isinstance(score, bool)
    if not number or (isinstance(score, float) and math.isnan(score)):
        return None, [f"{where}.score: expected a number from 0 to 10, got {clean(json.dumps(score), 40)}; ignored"]
    if not 0 <= score <= SCORE_MAX:  # an int is compared exactly: 10**400 does not fit a float
        # Out of the scale is a judge that did not follow it: its number means nothing on ours.
        return None, [f"{where}.score: {clean(json.dumps(score), 40)} is outside 0 to 10; ignored"]
    verdict = entry.get("verdict")
    verdict = verdict.strip().lower() if isinstance(verdict, str) else verdict
    if verdict not in VERDICTS:
        return None, [f"{where}.verdict: expected one of {', '.join(VERDICTS)}, "
                      f"got {clean(json.dumps(verdict), 40)}; ignored"]
    problems = []
    reason = entry.get("reason")
    if not isinstance(reason, str):
        problems.append(f"{where}.reason: expected a string; left empty")
        reason = ""
    elif len(clean(reason, len(reason) + 1)) > REASON_MAX:
        problems.append(f"{where}.reason: longer than {REASON_MAX} characters; cut")
    return Verdict(tree, float(score), verdict, clean(reason)), problems


def read(path: Path, trees: Sequence[str]) -> tuple[dict[str, Verdict], list[str]]:
    """The verdicts in the JUDGE.json at `path` for the trees named `trees`, and the problems found.

    Never raises on what the file holds. Names that are not in `trees` are ignored, an
    entry that breaks the format is dropped; each is a problem, and so is a tree left out.
    """
    data, why = _load(path)
    if why is not None:
        return {}, [why]
    entries = data.get("trees") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}, [f'{VERDICT_FILE}: expected an object {{"trees": {{"<tree>": {{...}}}}}}; nothing read']
    verdicts: dict[str, Verdict] = {}
    problems: list[str] = []
    for key, entry in entries.items():
        if key not in trees:
            problems.append(f"{VERDICT_FILE}: no tree is named {_name(key)}; ignored")
            continue
        found, wrong = _one(key, entry)
        problems += wrong
        if found is not None:
            verdicts[key] = found
    problems += [f"{VERDICT_FILE}: no verdict for {t}" for t in trees if t not in entries]
    if len(problems) > _PROBLEMS_MAX:
        problems = [*problems[:_PROBLEMS_MAX], f"and {len(problems) - _PROBLEMS_MAX} more problems"]
    return verdicts, problems


def judge_part(verdicts: Mapping[str, Verdict], tree: str, weight: float) -> float:
    """The points the judge's score adds to `tree`'s: `weight` for a 10, nothing without a verdict."""
    found = verdicts.get(tree)
    return 0.0 if found is None else weight * found.score / SCORE_MAX


def _cell(text: str) -> str:
    # A '|' would end the cell and '<' could open HTML in the rendered report.
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;")


def render(verdicts: Mapping[str, Verdict], problems: Sequence[str], trees: Sequence[str]) -> list[str]:
    """The report's lines for the judge's vote: a table in `trees`' order, then the problems."""
    out = ["### Judge's verdicts", "",
           f"_The judge's opinion, read from its {VERDICT_FILE}. Execution evidence decides which trees are "
           "eligible: a verdict never makes a tree that fails its checks eligible, and moves a score only by "
           "the manifest's judge_weight._", ""]
    out += ["| tree | judge's verdict | score | reason |", "|---|---|---:|---|"]
    for tree in trees:
        v = verdicts.get(tree)
        out.append(f"| {tree} | {v.verdict} | {v.score:g}/10 | {_cell(v.reason) or '_none given_'} |" if v
                   else f"| {tree} | _none_ | | |")
    out.append("")
    if problems:
        out += [f"Not counted from {VERDICT_FILE}:", "", *(f"- {_cell(clean(p))}" for p in problems), ""]
    return out
