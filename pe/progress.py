"""PROGRESS.md for trees that are not done: the agent's words kept, pe's observations added.

pe owns exactly one section, "Observed by pe"; everything else is the agent's
and is kept verbatim. Required sections the agent never wrote are added empty
so the next agent knows where to write.
"""

from __future__ import annotations

import re
from pathlib import Path

from pe import git
from pe.fsutil import write_atomic
from pe.results import PROGRESS_FILE, PROGRESS_SECTIONS, sections
from pe.runrecord import RunRecord, now_iso

OBSERVED = "Observed by pe"
_CHECK = re.compile(r"^\s*[-*]\s+\[( |x|X)\]", re.MULTILINE)


def completion(text: str) -> float | None:
    """Share of checklist items ticked in PROGRESS.md, or None if it has none."""
    marks = _CHECK.findall(text)
    if not marks:
        return None
    return sum(1 for m in marks if m in "xX") / len(marks)


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def observations(tree_dir: Path, base_sha: str, record: RunRecord, log_path: Path) -> str:
    commits = git.log_oneline(tree_dir, base_sha)
    dirty = git.status_porcelain(tree_dir)
    changed = git.changed_files(tree_dir, base_sha)
    last = record.effective_state()
    how = f"{last}" + (f" ({record.reason})" if record.reason else "") + (f", {record.exit}" if record.exit else "")
    parts = [
        f"_Updated {now_iso()}. pe rewrites this section; edit the others._",
        f"- Last run: {how}; attempts so far: {record.attempts}",
        f"- Commits on the branch since base: {len(commits)}",
        *[f"  - {c}" for c in commits[:10]],
        f"- Files changed since base: {len(changed)}" + (f" ({', '.join(changed[:15])})" if changed else ""),
        f"- Uncommitted entries: {len(dirty)}",
    ]
    tail = log_tail(log_path)
    if tail:
        parts += ["- Agent log tail:", "", "```", tail, "```"]
    return "\n".join(parts)


def refresh(tree_dir: Path, base_sha: str, record: RunRecord, log_path: Path) -> Path:
    """Rewrite PROGRESS.md: the agent's sections, missing ones added, pe's block replaced."""
    path = tree_dir / PROGRESS_FILE
    old = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    have = sections(old)
    title = f"# Progress: {tree_dir.name}"
    body = [title, ""]
    for name in PROGRESS_SECTIONS:
        text = next((v for k, v in have.items() if k.lower() == name.lower()), "")
        body += [f"## {name}", "", text or "_(nothing recorded yet)_", ""]
    required = {n.lower() for n in PROGRESS_SECTIONS} | {OBSERVED.lower(), title[2:].lower()}
    for name, text in have.items():
        if name.lower() not in required:
            body += [f"## {name}", "", text, ""]
    body += [f"## {OBSERVED}", "", observations(tree_dir, base_sha, record, log_path), ""]
    write_atomic(path, "\n".join(body))
    return path
