"""Find every tree pe may have left behind, and say what state each is in. Changes nothing.

Trees are found from four places, because a crash can leave any one without
the others: the manifests, `git worktree list`, directories under trees/ that
git does not know, and branches named <feature>-<n> (plus features named only
by pe's stamps and run records). Git is only read, with --no-optional-locks.
A tree that cleanup removed is told from one never created by its archive under
reports/<feature>/ and the feature's ADOPTED.json (pe.lifecycle.finished): a
finished feature gets no command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pe import git, gitfacts
from pe.config import manifest
from pe.config.spec import Feature, TreeSpec
from pe.errors import PeError
from pe.fsutil import read_regular_text, write_atomic
from pe.layout import FEATURE_RE, Layout
from pe.lifecycle import finished
from pe.tree import state as treestate
from pe.tree import usage
from pe.tree.progress import completion
from pe.tree.runrecord import RunRecord
from pe.tree.stamps import tree_base
from pe.util import format_duration, now_iso

_TREE_RE = re.compile(r"^(.+)-(s?[1-9][0-9]*)$")  # <feature>-<n>, or a synthesis tree <feature>-s<k>

DONE = "done"
RUNNING = "running"
RESUMABLE = "resumable"
CRASHED_DIRTY = "crashed with uncommitted work"
SETUP_FAILED = "setup failed"
NOT_STARTED = "not started"
NOT_CREATED = "not created"
HALF_CREATED = "half-created worktree"
LOCKED_INIT = "locked initializing entry"
PRUNABLE = "prunable entry"
ORPHAN_DIR = "orphaned directory"
MOVED = "worktree moved here"
BRANCH_ONLY = "branch without a tree"
ARCHIVED = "archived"


@dataclass
class Finding:
    feature: str
    tree: str
    kind: str
    summary: str
    facts: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    in_manifest: bool = False
    progress: str | None = None  # the merged PROGRESS.md recover would have pe resume write


def feature_of(tree: str) -> str | None:
    m = _TREE_RE.match(tree)
    return m.group(1) if m and FEATURE_RE.fullmatch(m.group(1)) and ".." not in m.group(1) else None


@dataclass
class Scan:
    worktrees: dict[str, git.Worktree]  # tree name -> entry, for entries directly under trees/
    dirs: set[str]
    branches: set[str]
    named: set[str]  # tree names pe's stamps or run records mention


def scan(layout: Layout) -> Scan:
    trees_dir = layout.trees.resolve()
    worktrees = {}
    for wt in git.worktree_list(layout.root):
        if wt.path.parent == trees_dir or wt.path.resolve().parent == trees_dir:
            worktrees[wt.path.name] = wt
    dirs = {p.name for p in layout.trees.iterdir() if p.is_dir()} if layout.trees.is_dir() else set()
    named = set()
    for folder, suffix in ((layout.stamps(), ".json"), (layout.runs(), ".json")):
        if folder.is_dir():
            for p in folder.glob(f"*{suffix}"):
                name = p.name.removesuffix(suffix)
                named.add(name.rsplit(".", 1)[0] if folder.name == "stamps" else name)
    return Scan(worktrees, dirs, git.branch_names(layout.root), named)


def _done_facts(layout: Layout, tree: str, record: RunRecord) -> tuple[list[str], int, str]:
    """What a tree had done: facts, uncommitted entries, and a short summary."""
    tree_dir = layout.tree(tree)
    facts_ = gitfacts.tree_facts(tree_dir, tree_base(layout, tree))
    try:
        pct = completion(read_regular_text(layout.progress(tree)))
    except OSError:
        pct = None
    last = record.effective_state() + (f" ({record.reason})" if record.reason else "")
    facts = [
        f"agent runs: {record.attempts}; last: {last}" + (f", ended {record.ended_at}" if record.ended_at else ""),
        f"commits since base: {facts_.commits_ahead}, files changed: {facts_.files_changed} "
        f"(+{facts_.insertions}/-{facts_.deletions})",
        f"uncommitted entries: {facts_.uncommitted}",
    ]
    runs = usage.totals(record)
    if runs.attempts:
        spent = f"; {format_duration(runs.agent_s)} of agent time in all" if runs.agent_s is not None else ""
        facts.insert(1, runs.describe() + spent)
    if pct is not None:
        facts.append(f"PROGRESS.md checklist: {pct * 100:.0f}% ticked")
    if layout.agent_log(tree).exists():
        facts.append(f"agent log: {layout.agent_log(tree).relative_to(layout.root)}")
    short = (f"{facts_.commits_ahead} commits, {facts_.files_changed} files, {facts_.uncommitted} uncommitted"
             + (f", {pct * 100:.0f}% of checklist" if pct is not None else ""))
    return facts, facts_.uncommitted or 0, short


def index_lock(layout: Layout, tree: str) -> str | None:
    """A tree's leftover index.lock (a git command killed in the tree), as a path from the repo root.

    git refuses every later index write in that tree ("remove the file manually to continue"),
    so pe resume could not finish the tree until it is gone.
    """
    dotgit = layout.trees / tree / ".git"
    try:
        gitdir = Path(dotgit.read_text(errors="replace").strip().removeprefix("gitdir:").strip())
    except OSError:
        return None
    lock = (gitdir if gitdir.is_absolute() else dotgit.parent / gitdir) / "index.lock"
    if not lock.exists():
        return None
    try:
        return str(lock.resolve().relative_to(layout.root.resolve()))
    except ValueError:
        return str(lock)


def _unlock_first(layout: Layout, f: Finding) -> Finding:
    lock = index_lock(layout, f.tree)
    # (A locked initializing entry is removed whole by pe resume, its lock with it.)
    if lock is not None and f.kind not in (RUNNING, LOCKED_INIT):
        f.facts.append(f"{lock} is left over from a git command killed in the tree")
        f.commands.insert(0, f"rm -f -- {lock}   # no git command runs in trees/{f.tree} any more")
    return f


def _archived(layout: Layout, feature: Feature, name: str, s: Scan, end: finished.End) -> Finding | None:
    """A tree cleanup removed (nothing left of it but maybe its branch), or None."""
    where = end.archive_of(name, branch_kept=name in s.branches)
    if where is None:
        return None
    rel = where.relative_to(layout.root)
    if end.adoption is not None:
        summary = f"{feature.name} is finished: {end.adoption.describe()}; this tree's archive is in {rel}/"
    else:
        summary = f"cleaned up without an adoption; its archive is in {rel}/"
    f = Finding(feature.name, name, ARCHIVED, summary, in_manifest=True)
    if (where / "ARCHIVE.md").is_file():
        f.facts.append(f"how to restore it: {rel}/ARCHIVE.md")
    if name in s.branches:
        f.facts.append(f"branch {name} kept (pe cleanup --keep-branches); its tree is gone")
    return f  # no command: there is nothing to recover


def _known_tree(layout: Layout, feature: Feature, spec: TreeSpec, s: Scan, end: finished.End) -> Finding:
    f = _unlock_first(layout, _classify(layout, feature, spec, s, end))
    adoption = end.adoption
    if adoption is not None and f.kind not in (DONE, ARCHIVED, RUNNING):
        f.facts.append(f"the feature is adopted ({adoption.describe()}): "
                       f"pe cleanup --feature={feature.name} once you no longer need this tree")
    return f


def _classify(layout: Layout, feature: Feature, spec: TreeSpec, s: Scan, end: finished.End) -> Finding:
    name = spec.name
    rel = f"trees/{name}"
    f = Finding(feature.name, name, "", "", in_manifest=True)
    resume = f"pe resume --feature={feature.name}"
    wt = s.worktrees.get(name)
    if wt is not None and wt.locked is not None and "initializing" in wt.locked:
        f.kind, f.summary = LOCKED_INIT, "a `git worktree add` was killed mid-way"
        f.commands = [f"{resume}   # removes the entry (git worktree remove -f -f) and recreates the tree"]
        return f
    if wt is not None and wt.prunable is not None:
        f.kind, f.summary = PRUNABLE, f"registered, but {rel} is gone ({wt.prunable})"
        f.commands = [f"git worktree repair <where/you/moved/{name}>   # if you moved the directory",
                      f"{resume}   # otherwise: prunes the entry and recreates {rel} from branch {name}"]
        return f
    if wt is None and name in s.dirs:
        return _orphan(layout, name, feature.name, s, in_manifest=True)
    if wt is None:
        archived = _archived(layout, feature, name, s, end)
        if archived is not None:
            return archived
        if name in s.branches:
            tip = gitfacts.branch_tip(layout.root, name)
            f.kind, f.summary = BRANCH_ONLY, f"branch {name} ({(tip or '')[:12]}) has no tree"
            f.commands = [f"{resume}   # recreates {rel} on the existing branch, work kept",
                          f"pe cleanup --feature={feature.name} --tree={name}   # or archive the branch and drop it"]
        else:
            f.kind, f.summary = NOT_CREATED, "no worktree and no branch yet"
            f.commands = [f"pe execute --feature={feature.name}"]
        return f
    st = treestate.of(layout, feature, spec)
    record = st.record
    if st.state == "pending":
        f.kind, f.summary = HALF_CREATED, "registered, but pe never finished creating it (init killed?)"
        f.commands = [f"{resume}   # finishes the checkout; nothing of an agent is in it yet"]
        return f
    if st.state in ("setup failed", "setting up", "not set up"):
        f.kind = SETUP_FAILED if st.state == "setup failed" else NOT_STARTED
        f.summary = st.detail or "setup did not finish"
        log = layout.setup_log(name)
        if log.exists():
            f.facts.append(f"setup log: {log.relative_to(layout.root)}")
        fix = " after you fix its cause" if st.state == "setup failed" else ""
        f.commands = [f"{resume}   # re-runs setup{fix}"]
        return f
    if st.state == "done":
        f.kind, f.summary = DONE, "finished; RESULTS.md verified by its stamp"
        f.commands = [f"pe compare --feature={feature.name}"]
        if end.adoption is not None:
            # Compared and adopted already: what is left is to archive and remove the trees.
            f.summary += (f"; adopted into {end.adoption.into or '?'}" if end.adoption.tree == name
                          else f"; the feature is adopted ({end.adoption.tree})")
            f.commands = [f"pe cleanup --feature={feature.name}   # archives every tree, then removes it"]
        return f
    if st.state == "running":
        # The agent runs under a supervisor that outlives pe: `pe wait` picks its run up when it ends.
        f.kind, f.summary = RUNNING, f"agent still running ({st.detail})"
        f.commands = [f"pe wait --feature={feature.name}   # picks the run up and records it when it ends; "
                      "nothing to recover",
                      f"pe status --feature={feature.name} --watch   # or only watch it"]
        return f
    if st.state == "ready" and record.attempts == 0:
        f.kind, f.summary = NOT_STARTED, "tree ready, agent never started"
        f.commands = [f"pe execute --feature={feature.name}"]
        return f
    facts, dirty, short = _done_facts(layout, name, record)
    f.facts = facts
    if dirty and record.effective_state() in ("interrupted", "running"):
        f.kind = CRASHED_DIRTY
        f.summary = f"the agent died mid-run ({short})"
        f.commands = [f"{resume}   # the agent continues in the same tree; pe commits the work when it ends"]
    else:
        f.kind = RESUMABLE
        f.summary = f"{st.state}" + (f": {st.detail}" if st.detail else "") + f" ({short})"
        f.commands = [f"{resume}   # the agent gets PROGRESS.md and continues; its work is kept"]
    base = tree_base(layout, name)
    if base is not None:
        from pe.tree.progress import merged

        f.progress = merged(layout.tree(name), base, record, layout.agent_log(name))
    return f


def _orphan(layout: Layout, name: str, feature: str, s: Scan, *, in_manifest: bool) -> Finding:
    path = layout.trees / name
    rel = f"trees/{name}"
    f = Finding(feature, name, ORPHAN_DIR, "", in_manifest=in_manifest)
    dotgit = path / ".git"
    if dotgit.is_file():
        pointer = dotgit.read_text(errors="replace").strip().removeprefix("gitdir:").strip()
        if Path(pointer).is_dir():
            f.kind, f.summary = MOVED, f"{rel} is a worktree git knows under another path"
            f.commands = [f"git worktree repair {rel}"]
            return f
    files = sum(1 for _ in path.rglob("*")) if path.is_dir() else 0
    f.facts.append(f"{files} entries in {rel}")
    creating = layout.stamp(name, "creating").exists()
    if feature == "?":
        f.summary = f"{rel} is not a worktree git knows, nor a name pe gives trees ({files} entries)"
        f.commands = [f"mkdir -p .pe/quarantine && mv -- {rel} .pe/quarantine/   # not pe's: move it out of trees/"]
    elif creating and in_manifest:
        f.summary = f"{rel} is not a worktree: left by a killed `pe init` ({files} entries)"
        f.commands = [f"pe resume --feature={feature}   # moves it to .pe/quarantine/ and recreates the tree"]
    else:
        f.summary = f"{rel} is not a worktree git knows ({files} entries)"
        f.commands = [f"pe cleanup --feature={feature} --tree={name}   # moves it to .pe/quarantine/, deletes nothing"]
    return f


def _unknown_tree(layout: Layout, name: str, feature: str, s: Scan) -> Finding:
    """A tree of a feature with no manifest (deleted), or not listed in it any more."""
    rel = f"trees/{name}"
    wt = s.worktrees.get(name)
    f = Finding(feature, name, "", "")
    cleanup = f"pe cleanup --feature={feature} --tree={name}"
    if wt is not None and wt.locked is not None and "initializing" in wt.locked:
        f.kind, f.summary = LOCKED_INIT, "a `git worktree add` was killed mid-way (no manifest lists this tree)"
        f.commands = [f"git worktree remove -f -f -- {rel}"]
    elif wt is not None and wt.prunable is not None:
        f.kind, f.summary = PRUNABLE, f"registered, but {rel} is gone"
        f.commands = [f"git worktree repair <where/you/moved/{name}>   # if you moved it", "git worktree prune"]
    elif wt is None and name in s.dirs:
        return _orphan(layout, name, feature, s, in_manifest=False)
    elif wt is None:
        f.kind, f.summary = BRANCH_ONLY, f"branch {name} has no tree, and no manifest lists it"
        f.commands = [f"{cleanup}   # archives the branch as a bundle, then deletes it if pe created it"]
    else:
        facts, _, short = _done_facts(layout, name, RunRecord.load(layout.run_record(name), name))
        f.kind, f.summary, f.facts = RESUMABLE, f"a tree no manifest lists ({short})", facts
        f.commands = [f"{cleanup}   # archives it (RESULTS.md, logs, branch bundle), then removes it"]
    return f


def recover(layout: Layout, only: str | None = None) -> tuple[list[Finding], list[str]]:
    """Every finding (for one feature, or all), and one-line errors of manifests that do not load."""
    s = scan(layout)
    errors: list[str] = []
    features: dict[str, Feature] = {}
    for name in [only] if only else manifest.feature_names(layout):
        try:
            features[name] = manifest.load(layout, name)
        except PeError as exc:
            if only:
                raise
            errors.append(str(exc))
    findings: list[Finding] = []
    seen: set[str] = set()
    for feature in features.values():
        end = finished.end(layout, feature.name)
        for spec in feature.trees:
            findings.append(_known_tree(layout, feature, spec, s, end))
            seen.add(spec.name)
    candidates = set(s.worktrees) | s.dirs | s.named
    candidates |= {b for b in s.branches if feature_of(b) in {feature_of(c) for c in candidates} | set(features)}
    for name in sorted(candidates - seen, key=lambda n: (feature_of(n) or n, len(n), n)):
        owner = feature_of(name)
        if owner is None or (only and owner != only):
            if not only:
                findings.append(_orphan(layout, name, owner or "?", s, in_manifest=False))
            continue
        if name not in s.worktrees and name not in s.dirs and name not in s.branches:
            continue  # only stamps or a run record remain: nothing in git or on disk to recover
        findings.append(_unknown_tree(layout, name, owner, s))
    return findings, errors


def render(feature: str, findings: list[Finding]) -> str:
    """RECOVERY.md: a table of the findings, then each one with its facts and commands."""
    from pe.util import tabulate

    rows = [[f.tree, f.kind, f.commands[0].split("   #")[0] if f.commands else "nothing to do"] for f in findings]
    out = [f"# Recovery report: {feature}", "",
           f"_Generated {now_iso()} by `pe recover`. Read-only: nothing in git, the trees or pe's records was changed. "
           "Run the commands from the repository root._", "",
           tabulate(rows, headers=["tree", "finding", "recommended command"], tablefmt="github"), ""]
    for f in findings:
        out += [f"## {f.tree}: {f.kind}", "", f.summary + ("" if f.in_manifest else " (not in the manifest)"), ""]
        out += [f"- {fact}" for fact in f.facts]
        if f.facts:
            out.append("")
        if f.progress is not None:
            out += [f"- PROGRESS.md as `pe resume` would write it: recovery/{f.tree}.PROGRESS.md", ""]
        out += ["Recommended:", "", "```sh", *f.commands, "```", ""] if f.commands else ["Nothing to do.", ""]
    return "\n".join(out)


def write_reports(layout: Layout, findings: list[Finding]) -> dict[str, tuple[Path, list[Finding]]]:
    """Write each feature's RECOVERY.md (and the PROGRESS.md resume would write); by feature, its path and findings.

    Trees whose feature cannot be named share one report, reports/RECOVERY.md.
    """
    by_feature: dict[str, list[Finding]] = {}
    for f in findings:
        by_feature.setdefault(f.feature, []).append(f)
    written = {}
    for feature, group in by_feature.items():
        path = layout.recovery_report(feature if feature != "?" else None)
        for f in group:
            if f.progress is not None:
                write_atomic(path.parent / "recovery" / f"{f.tree}.PROGRESS.md", f.progress)
        write_atomic(path, render(feature, group))
        written[feature] = (path, group)
    return written
