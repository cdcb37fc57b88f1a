"""Archive a tree before cleanup removes it: reports/<feature>/<tree>/ (a later round: <tree>.<round>/).

What goes in: RESULTS.md, PROGRESS.md, the agent's and setup's logs, the run
record, stamps, prompt, check logs and JUnit reports, and the branch as a git bundle that is
verified (`git bundle verify`) before anything is removed, so an unmerged
implementation can always be restored; every git repository nested in the tree
(pe/lifecycle/nested.py). With --force, uncommitted changes go in as a patch,
untracked files as a tarball, and ignored files that are work (not setup's
output, not reproducible like node_modules: pe/tree/unsaved.py tells) as
ignored.tar.gz, which a .gitignore there keeps out of commits (an edited .env
holds secrets).

Which directory is the round's, and the index of every round, are in
pe/lifecycle/rounds.py. Every file is written to a temporary name and renamed,
and files already in the archive from an earlier, interrupted cleanup of the
same round are kept.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pe import git, gitfacts, proc
from pe.fsutil import not_regular, write_atomic
from pe.layout import Layout
from pe.lifecycle import nested as nested_repos
from pe.lifecycle import rounds
from pe.remote import result
from pe.tree import stamps
from pe.tree.results import PROGRESS_FILE, RESULTS_FILE

BUNDLE_SUFFIX = ".bundle"
IGNORED_TARBALL = "ignored.tar.gz"


@dataclass
class ArchivePlan:
    tree: str
    dest: Path
    files: list[tuple[Path, str]] = field(default_factory=list)  # (source, name inside dest)
    branch: str | None = None
    tip: str | None = None
    prerequisite: str | None = None  # bundle holds tip's history minus this commit's
    patch: bool = False  # tracked changes as uncommitted.patch
    untracked: list[str] = field(default_factory=list)  # into untracked.tar.gz
    stray: str | None = None  # the tree's HEAD, with commits on no branch: bundled too
    ignored: list[str] = field(default_factory=list)  # ignored files that are work: into ignored.tar.gz
    nested: list[nested_repos.Nested] = field(default_factory=list)
    round: rounds.Round | None = None
    # --runner=dask: refs/pe/<feature>/<tree>/<attempt>, each attempt's result commit (its parent: the
    # work the worker made, which a fast-forward that failed left on no branch). Bundled too.
    attempt_refs: list[str] = field(default_factory=list)

    @property
    def stray_ref(self) -> str:
        """Where the bundle holds the stray commits (and, while it is written, the repository)."""
        return f"refs/pe/stray/{self.tree}"

    @property
    def bundle(self) -> Path:
        return self.dest / f"{self.tree}{BUNDLE_SUFFIX}"

    def describe(self, root: Path) -> list[str]:
        """One line per archived item: `name in the archive <- where it comes from`."""
        out = [f"{name} <- {src.relative_to(root)}" for src, name in self.files]
        if self.branch and self.tip:
            scope = f"commits since {self.prerequisite[:12]}" if self.prerequisite else "its whole history"
            out.append(f"{self.bundle.name} <- branch {self.branch} ({self.tip[:12]}, {scope}), "
                       "then git bundle verify")
        if self.attempt_refs and self.branch:
            out.append(f"{self.bundle.name} <- also {len(self.attempt_refs)} result refs of attempts on a Dask "
                       f"cluster ({_prefix(self.attempt_refs)}/*)")
        if self.stray:
            out.append(f"{self.bundle.name} <- also HEAD {self.stray[:12]}: commits on no branch, as {self.stray_ref}")
        if self.patch:
            out.append(f"uncommitted.patch <- the uncommitted changes in trees/{self.tree}")
        if self.untracked:
            out.append(f"untracked.tar.gz <- {len(self.untracked)} untracked files in trees/{self.tree}")
        if self.ignored:
            out.append(f"{IGNORED_TARBALL} <- {len(self.ignored)} ignored files in trees/{self.tree} that are work: "
                       + ", ".join(self.ignored[:5]) + (" ..." if len(self.ignored) > 5 else ""))
        for n in self.nested:
            out.append(f"{n.bundle}, {n.files} <- the git repository nested at trees/{self.tree}/{n.path}: "
                       "every ref (then git bundle verify), and its files")
        return out


def _prefix(refs: list[str]) -> str:
    return "/".join(refs[0].split("/")[:4])  # refs/pe/<feature>/<tree>: no name of either holds a slash


def plan(layout: Layout, feature: str, tree: str, *, keep_ref: str | None, dirty: bool,
         untracked: list[str], stray: str | None = None, ignored: list[str] | None = None) -> ArchivePlan:
    """What archiving `tree` will do. `keep_ref`: a commit the repo keeps (the base branch's tip)."""
    tip = gitfacts.branch_tip(layout.root, tree)
    dest, rnd = rounds.choose(layout, feature, tree, tip)
    p = ArchivePlan(tree, dest, round=rnd)
    tree_dir = layout.trees / tree
    for name in (RESULTS_FILE, PROGRESS_FILE):
        # An agent's files: a link (to anywhere outside the tree) or a FIFO is not archived.
        if (tree_dir / name).is_file() and not_regular(tree_dir / name) is None:
            p.files.append((tree_dir / name, name))
    logs = layout.logs(tree)
    if logs.is_dir():
        p.files += [(f, f"logs/{f.relative_to(logs)}") for f in sorted(logs.rglob("*")) if f.is_file()]
    for src, name in ((layout.run_record(tree), "run.json"), (layout.prompt(tree), "prompt.md")):
        if src.is_file():
            p.files.append((src, name))
    for step in (stamps.WORKTREE, stamps.SETUP, stamps.AGENT, stamps.CREATING):
        if layout.stamp(tree, step).is_file():
            p.files.append((layout.stamp(tree, step), f"stamps/{layout.stamp(tree, step).name}"))
    supervised = layout.supervision(tree)
    if supervised.is_dir():  # each attempt's launch and end files (not the supervisor's lock)
        p.files += [(f, f"supervise/{f.name}") for f in sorted(supervised.glob("*.json")) if f.is_file()]
    checks = layout.checks(tree)
    if checks.is_dir():
        p.files += [(f, f"checks/{f.name}") for f in sorted(checks.glob("*.log"))]
        # Each check's JUnit report (its report dir, {report_dir}): which tests failed, by name.
        # The report dir is the check's to write (the tree's code runs there): no link or FIFO is taken.
        p.files += [(f, f"checks/{f.parent.name}/{f.name}") for f in sorted(checks.glob("*/*.xml"))
                    if not_regular(f) is None]
        # The cross-tests: other sources' tests run against this tree (pe.compare.crosstest).
        cross = checks / ".cross"
        if cross.is_dir():
            p.files += [(f, f"checks/cross/{f.relative_to(cross)}") for f in sorted(cross.glob("*/*.log"))
                        if not_regular(f) is None]
            p.files += [(f, f"checks/cross/{f.relative_to(cross)}") for f in sorted(cross.glob("*/*/*.xml"))
                        if not_regular(f) is None]
    if tip is not None:
        p.branch, p.tip = tree, tip
        p.attempt_refs = result.local_refs(layout.root, feature, tree)
        base = stamps.tree_base(layout, tree)
        # A bundle with a prerequisite is small, and restores while the repo keeps
        # that commit; keep it only when the base branch still contains it.
        if base and keep_ref and base != tip and gitfacts.is_ancestor(layout.root, base, keep_ref):
            p.prerequisite = base
    p.patch = dirty
    p.stray = stray
    p.ignored = list(ignored or [])
    if tree_dir.is_dir():
        generated, _ = stamps.setup_created(layout, tree)
        p.nested = nested_repos.find(tree_dir, skip={g.strip("/") for g in generated})
    # A nested repository shows as one untracked directory: its own archive holds it.
    inside = {n.path for n in p.nested}
    p.untracked = [u for u in untracked if u.rstrip("/") not in inside]
    return p


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _bundle(layout: Layout, p: ArchivePlan) -> tuple[bool, str]:
    """Write and verify the bundle; (verified, what git said)."""
    assert p.branch and p.tip
    p.dest.mkdir(parents=True, exist_ok=True)
    tmp = p.dest / f".{p.bundle.name}.tmp"
    revs = [f"refs/heads/{p.branch}"] + ([p.stray_ref] if p.stray else []) + p.attempt_refs + (
        [f"^{p.prerequisite}"] if p.prerequisite else [])
    # git's lock on the bundle it writes: one killed with an earlier cleanup leaves it behind, and
    # `bundle create` then refuses. We hold the repository lock: no other cleanup writes here.
    tmp.with_name(tmp.name + ".lock").unlink(missing_ok=True)
    try:
        if p.stray:
            # A bundle holds refs: the stray commits get one for as long as it takes to write it.
            git.git(layout.root, *git.NO_HOOKS, "update-ref", p.stray_ref, p.stray)
        gitfacts.read(layout.root, "bundle", "create", "--quiet", str(tmp), *revs)
        res = gitfacts.read(layout.root, "bundle", "verify", "--quiet", str(tmp), check=False)
        if res.returncode != 0:
            said = (res.stderr.strip() or res.stdout.strip()).splitlines()
            return False, said[-1] if said else "git bundle verify failed"
        heads = gitfacts.read(layout.root, "bundle", "list-heads", str(tmp)).stdout
        if p.tip not in heads or (p.stray and p.stray not in heads):
            return False, f"the bundle does not hold {(p.tip if p.tip not in heads else p.stray or '')[:12]}"
        listed = {line.split(" ", 1)[-1] for line in heads.splitlines()}
        missing = [r for r in p.attempt_refs if r not in listed]
        if missing:
            return False, f"the bundle does not hold {missing[0]}"
        os.replace(tmp, p.bundle)
        return True, "verified"
    except proc.ProcError as exc:
        return False, str(exc)
    finally:
        tmp.unlink(missing_ok=True)
        if p.stray:
            git.git(layout.root, *git.NO_HOOKS, "update-ref", "-d", p.stray_ref, check=False)


def _restore_notes(layout: Layout, feature: str, p: ArchivePlan, bundle_ok: bool, nested_ok: list[bool]) -> str:
    rel = p.dest.relative_to(layout.root)
    lines = [f"# Archive of {p.tree} ({feature})", "",
             "Written by `pe cleanup` before it removed the tree. To restore, from the repository root:", "",
             "```sh"]
    if bundle_ok:
        branch = p.branch or p.tree  # (a re-run after the branch went: the earlier bundle holds it)
        at = f"   # the branch, at {p.tip}" if p.tip else ""
        lines += [f"git fetch {rel}/{p.bundle.name} {branch}:{branch}{at}", f"git worktree add trees/{p.tree} {branch}"]
    if p.stray and bundle_ok:
        lines.append(f"git fetch {rel}/{p.bundle.name} {p.stray_ref}:refs/heads/{p.tree}-stray"
                     f"   # the commits that were on no branch, at {p.stray}")
    if p.attempt_refs and bundle_ok:
        prefix = _prefix(p.attempt_refs)
        lines.append(f"git fetch {rel}/{p.bundle.name} '{prefix}/*:{prefix}/*'"
                     "   # each Dask attempt's result commit (its parent: the work the worker made)")
    if p.patch:
        lines.append(f"git -C trees/{p.tree} apply --binary ../../{rel}/uncommitted.patch")
    if p.untracked:
        lines.append(f"tar -xzf {rel}/untracked.tar.gz -C trees/{p.tree}")
    if p.ignored:
        lines.append(f"tar -xzf {rel}/{IGNORED_TARBALL} -C trees/{p.tree}   # ignored files: keep them out of commits")
    for n, bundled in zip(p.nested, nested_ok, strict=True):
        if bundled:
            lines.append(f"git clone {rel}/{n.bundle} trees/{p.tree}/{n.path}   # the nested repository, every ref")
        lines.append(f"tar -xzf {rel}/{n.files} -C trees/{p.tree}   # its files as they were")
    lines += ["```", ""]
    if p.prerequisite and bundle_ok:
        lines.append(f"The bundle needs commit {p.prerequisite} (the tree's base) in the repository.")
    if p.round is not None:
        lines.append(f"Round {p.round.id}: the tree was created {p.round.created_at or '(not recorded)'}; "
                     f"every round of {feature} is listed in ../ARCHIVE.md.")
    return "\n".join(lines) + "\n"


def _tarball(dest: Path, name: str, tree_dir: Path, paths: list[str], *, private: bool = False) -> None:
    tmp = dest / f".{name}.tmp"
    tmp.unlink(missing_ok=True)
    # Ignored files may be secrets (.env): that tarball is for the user alone to read.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for rel in paths:
            # A directory entry (git lists an ignored or untracked directory as one) goes in whole.
            tar.add(tree_dir / rel.rstrip("/"), arcname=rel.rstrip("/"), recursive=True)
    os.replace(tmp, dest / name)


def execute(layout: Layout, feature: str, p: ArchivePlan) -> tuple[bool | None, str]:
    """Archive; (bundle verified: True/False, or None when there is no branch; git's words)."""
    tree_dir = layout.trees / p.tree
    rnd = p.round or rounds.current(layout, p.tree)
    # First: it claims the directory for this round, so no later round writes into it.
    if not (p.dest / rounds.ROUND_FILE).is_file():
        p.dest.mkdir(parents=True, exist_ok=True)
        rounds.write_record(p.dest, p.tree, rnd, p.tip)
    for src, name in p.files:
        _copy(src, p.dest / name)
    if p.patch:
        diff = gitfacts.read(tree_dir, "diff", "--binary", "HEAD").stdout
        write_atomic(p.dest / "uncommitted.patch", diff)
    if p.untracked:
        _tarball(p.dest, "untracked.tar.gz", tree_dir, p.untracked)
    if p.ignored:
        write_atomic(p.dest / ".gitignore", f"/{IGNORED_TARBALL}\n")
        _tarball(p.dest, IGNORED_TARBALL, tree_dir, p.ignored, private=True)
    # Before the tree can go: a nested repository that cannot be archived stops the cleanup here.
    nested_ok = [nested_repos.archive(tree_dir, p.dest, n) for n in p.nested]
    bundle_ok: bool | None = None
    said = "no branch"
    if p.branch:
        bundle_ok, said = _bundle(layout, p)
    if p.files or p.patch or p.untracked or p.ignored or p.nested or bundle_ok:
        # A re-run that finds nothing new must not overwrite the notes of the archive it made before.
        notes = _restore_notes(layout, feature, p, bool(bundle_ok) or p.bundle.exists(), nested_ok)
        write_atomic(p.dest / "ARCHIVE.md", notes)
        rounds.write_record(p.dest, p.tree, rnd, p.tip, bundle=bool(bundle_ok) or p.bundle.exists(),
                            nested=[n.path for n in p.nested])
    rounds.write_index(layout, feature, [p.tree])
    return bundle_ok, said
