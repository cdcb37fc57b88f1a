"""PROGRESS.md for trees that are not done: the agent's words kept, pe's observations added.

The file has the seed's sections (Completed, In Progress, Remaining TODOs,
Resume Instructions, Context). What the agent wrote in them is kept verbatim,
in its order, with its own sub-headings and any extra sections. pe owns two
things only:
- the section "Observed by pe" (commits, changed files, uncommitted entries,
  how the last run ended, the agent log's tail), replaced on every refresh;
- text it puts into a required section the agent left empty, marked with
  AUTO so the next refresh can replace it instead of mistaking it for the
  agent's words.
Headings inside fenced code blocks (e.g. a log tail) are not headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pe import gitfacts, proc, util
from pe.config.spec import Feature
from pe.fsutil import read_regular_text, write_atomic
from pe.layout import Layout
from pe.tree import stamps
from pe.tree import state as treestate
from pe.tree.results import PROGRESS_FILE, PROGRESS_SECTIONS
from pe.tree.runrecord import RunRecord
from pe.util import now_iso

OBSERVED = "Observed by pe"
AUTO = "<!-- pe:auto -->"
AUTO_END = "<!-- /pe:auto -->"
_AUTO_SPAN = re.compile(re.escape(AUTO) + r".*?(?:" + re.escape(AUTO_END) + r"|\Z)", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_CHECK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+\[( |x|X)\]")
# Headings agents commonly use for the seed's sections.
_ALIASES = {
    "completed": "Completed", "done": "Completed", "completed tasks": "Completed",
    "in progress": "In Progress", "current work": "In Progress", "wip": "In Progress",
    "remaining todos": "Remaining TODOs", "remaining todo s": "Remaining TODOs", "remaining": "Remaining TODOs",
    "todo": "Remaining TODOs", "todos": "Remaining TODOs", "next steps": "Remaining TODOs",
    "resume instructions": "Resume Instructions", "how to resume": "Resume Instructions",
    "context": "Context", "notes": "Context",
}


def _norm(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", title.lower()).strip()


def canonical(title: str) -> str | None:
    """The seed section a heading means, or None for the agent's own sections."""
    return _ALIASES.get(_norm(title))


@dataclass
class Parsed:
    preamble: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title as written, text)


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is outside a fenced code block."""
    out: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
                out.append((line, False))
                continue
            out.append((line, True))
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line.strip()[len(m.group(1)):]:
                fence = None
            out.append((line, False))
    return out


def parse(text: str) -> Parsed:
    lines = _lines_outside_fences(text)
    heads = [(i, _HEADING.match(line)) for i, (line, outside) in enumerate(lines) if outside]
    found = [(i, m) for i, m in heads if m]
    # The section level is the one the agent used for the seed's sections (## by default).
    known = [len(m.group(1)) for _, m in found if canonical(m.group(2)) or _norm(m.group(2)) == _norm(OBSERVED)]
    level = min(known) if known else 2
    parsed = Parsed()
    current: str | None = None
    buf: list[str] = []

    def flush() -> None:
        body = "\n".join(buf).strip()
        if current is None:
            parsed.preamble = body
        else:
            parsed.sections.append((current, body))

    starts = {i: m for i, m in found if len(m.group(1)) <= level}
    for i, (line, _) in enumerate(lines):
        m = starts.get(i)
        if m is not None and len(m.group(1)) == level:
            flush()
            current, buf = m.group(2), []
        elif m is not None and current is None and not buf:
            continue  # the document title: pe writes its own
        else:
            buf.append(line)
    flush()
    return parsed


def _safe_fence(body: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
    return "`" * max(3, longest + 1)


def completion(text: str) -> float | None:
    """Share of checklist items ticked in PROGRESS.md, or None if it has none.

    Counts `- [x]` / `- [ ]` items (also `*`, `+`, `1.`) outside code blocks
    and outside pe's own section.
    """
    ticked = total = 0
    in_observed = False
    for line, outside in _lines_outside_fences(text):
        if not outside:
            continue
        h = _HEADING.match(line)
        if h:
            in_observed = _norm(h.group(2)) == _norm(OBSERVED)
            continue
        m = _CHECK.match(line)
        if m and not in_observed:
            total += 1
            ticked += m.group(1) in "xX"
    return ticked / total if total else None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    data = util.printable(data)
    kept = [ln for ln in data.splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


@dataclass(frozen=True)
class Observed:
    last_run: str
    attempts: int
    commits: list[str]
    changed: list[str]
    stat: gitfacts.Diffstat | None
    dirty: list[str]
    tail: str


def observe(tree_dir: Path, base_sha: str, record: RunRecord, log_path: Path) -> Observed:

    state = record.effective_state()
    how = state + (f" ({record.reason})" if record.reason else "") + (f", {record.exit}" if record.exit else "")
    if record.ended_at:
        how += f", ended {record.ended_at}"
    elif record.started_at:
        how += f", started {record.started_at}"
    try:
        raw = gitfacts.read(tree_dir, "log", "--oneline", "--max-count=20", f"{base_sha}..HEAD").stdout
        commits = [c for c in raw.splitlines() if c]
        changed = gitfacts.changed_paths(tree_dir, base_sha)
        stat: gitfacts.Diffstat | None = gitfacts.diffstat(tree_dir, base_sha)
        dirty = [f"{code} {path}" for code, path in gitfacts.status_entries(tree_dir)]
    except proc.ProcError:
        commits, changed, stat, dirty = [], [], None, []
    return Observed(how, record.attempts, commits, changed, stat, dirty, log_tail(log_path))


def _observed_text(obs: Observed, base_sha: str) -> str:
    parts = [
        f"_Updated {now_iso()}. pe rewrites this section on every refresh; edit the others._",
        "",
        f"- Last run: {obs.last_run}; attempts so far: {obs.attempts}",
        f"- Commits on the branch since base {base_sha[:12]}: {len(obs.commits)}",
        *[f"  - {c}" for c in obs.commits[:10]],
    ]
    if len(obs.commits) > 10:
        parts.append(f"  - ... and {len(obs.commits) - 10} more")
    stat = f" (+{obs.stat.insertions}/-{obs.stat.deletions} lines outside RESULTS.md/PROGRESS.md)" if obs.stat else ""
    parts.append(f"- Files changed since base: {len(obs.changed)}{stat}")
    parts += [f"  - {p}" for p in obs.changed[:20]]
    parts.append(f"- Uncommitted entries: {len(obs.dirty)}")
    parts += [f"  - `{d}`" for d in obs.dirty[:20]]
    if obs.tail:
        fence = _safe_fence(obs.tail)
        parts += ["- Agent log tail:", "", fence, obs.tail, fence]
    return "\n".join(parts)


def _auto(name: str, obs: Observed, base_sha: str) -> str:
    """What pe can say in a required section the agent left empty."""
    if name == "Completed" and obs.commits:
        body = "_The agent recorded nothing here; commits pe saw on the branch:_\n" + "\n".join(
            f"- {c}" for c in obs.commits[:10]
        )
    elif name == "In Progress" and obs.dirty:
        body = "_The agent recorded nothing here; uncommitted changes pe saw:_\n" + "\n".join(
            f"- `{d}`" for d in obs.dirty[:20]
        )
    elif name == "Resume Instructions":
        body = (
            f"Read this file and `git log --oneline {base_sha[:12]}..HEAD`, keep the strategy, continue "
            "from the last commit, and finish with RESULTS.md and every one of its sections."
        )
    elif name == "Context":
        body = f"Last run: {obs.last_run}."
    else:
        body = "_(nothing recorded yet)_"
    return f"{AUTO}\n{body}\n{AUTO_END}"


def render(tree_name: str, old: str, obs: Observed, base_sha: str) -> str:
    """The merged PROGRESS.md: the agent's text from `old`, pe's observations added."""
    parsed = parse(old)
    mine: dict[str, list[str]] = {name: [] for name in PROGRESS_SECTIONS}
    extra: list[tuple[str, str]] = []
    for title, text in parsed.sections:
        seed = canonical(title)
        if _norm(title) == _norm(OBSERVED):
            continue  # pe's own, regenerated below
        # pe's filler from the last refresh is regenerated below; the agent's words around it stay.
        text = _AUTO_SPAN.sub("", text).strip()
        if seed is not None:
            if text:
                # The agent's own heading spelling is kept when it differs.
                note = f"_(from the agent's section \"{title}\")_\n" if _norm(title) != _norm(seed) else ""
                mine[seed].append(note + text)
        elif text or not _norm(title).startswith("progress"):
            extra.append((title, text))  # an empty "# Progress: ..." is an old title, not a section
    body = [f"# Progress: {tree_name}", ""]
    if parsed.preamble:
        body += [parsed.preamble, ""]
    for name in PROGRESS_SECTIONS:
        text = "\n\n".join(mine[name]) or _auto(name, obs, base_sha)
        body += [f"## {name}", "", text, ""]
    for title, text in extra:
        body += [f"## {title}", "", text, ""]
    body += [f"## {OBSERVED}", "", _observed_text(obs, base_sha), ""]
    return "\n".join(body)


def merged(tree_dir: Path, base_sha: str, record: RunRecord, log_path: Path) -> str:
    """The merged text, without writing it (recover puts it in its report instead)."""
    old = read_regular_text(tree_dir / PROGRESS_FILE)  # an agent's file: no link followed, no FIFO waited on
    return render(tree_dir.name, old, observe(tree_dir, base_sha, record, log_path), base_sha)


def refresh(tree_dir: Path, base_sha: str, record: RunRecord, log_path: Path) -> Path:
    """Rewrite PROGRESS.md: the agent's sections kept, missing ones added, pe's block replaced."""
    path = tree_dir / PROGRESS_FILE
    write_atomic(path, merged(tree_dir, base_sha, record, log_path))
    return path


def refresh_unfinished(layout: Layout, features: list[Feature]) -> list[str]:
    """Rewrite PROGRESS.md of every tree that started, is not done and is not running now; their names.

    `pe resume` does it before it runs the graph, and `pe status --refresh-progress` on demand.
    The agent's own sections are kept; pe's section says what pe can see.
    """
    written = []
    for feature in features:
        for tree in feature.trees:
            st = treestate.of(layout, feature, tree)
            base = stamps.tree_base(layout, tree.name)
            if base is None or st.record.attempts == 0 or st.state in ("done", "running", "pending"):
                continue
            refresh(layout.tree(tree.name), base, st.record, layout.agent_log(tree.name))
            written.append(tree.name)
    return written
