"""pe compare --plan-tests=PRESET: acceptance tests written from the plan alone (issue 13).

An agent that sees the plan and the base commit, and no implementation, writes tests in a
scratch detached worktree of the base (layout.plan_tests). pe takes the test files it added
or changed (pe.compare.testfiles.is_test_path), nothing else, and commits exactly those on
top of the base: the result is a TestSource named "plan" that the cross-test runner overlays
onto every tree's judged commit. refs/pe/plan-tests/<feature> keeps that commit reachable
while compare runs; the scratch worktree is removed before write() returns.

An agent's misbehaviour (a failed or timed-out run, no test files, a symlink planted as a
test, a deleted or rewritten .git file) gives a PlanTests without a source and says why;
only bad input (an unknown preset, a CLI that is not installed, a base that is no commit)
raises PeError.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pe import agents, git, gitfacts, proc, sandbox
from pe.agents import launch
from pe.agents.base import Outcome, Preset, RunContext
from pe.compare import checkout
from pe.compare.testfiles import TestSource, is_test_path
from pe.config.spec import AgentSpec, Feature, TreeSpec
from pe.config.strategies import Strategy
from pe.errors import PeError
from pe.fsutil import write_atomic
from pe.layout import Layout, check_feature_name
from pe.sandbox import tree as confined

SOURCE = "plan"  # the TestSource's name, as the report shows it
DEFAULT_TIMEOUT_S = 900.0
REF_PREFIX = "refs/pe/plan-tests/"

PROMPT = """\
# Write acceptance tests for `{feature}` from its plan

This directory is a checkout of the project at its base commit: the feature below is not
implemented here (at most stubbed). Other agents are implementing it elsewhere; you will not
see their work, and must not look for it. Work from the plan and this checkout only.

Your job: write acceptance tests for the plan, so that a correct implementation passes them
and this checkout fails them.

- Write them as NEW test files in the project's own test layout (for example `tests/test_<topic>.py`,
  or `*_test.go`, `*.test.ts`, as the project does), using the project's existing test framework.
- Do not implement the feature. Do not change any file that is not a test: pe keeps only test
  files (in a test directory, or named as tests are) and drops everything else.
- Test what the plan specifies, through its public interface, not one implementation's internals.
- The tests must fail on this checkout and pass on a correct implementation.
- Do not commit: pe collects your files from this directory.

The tests will run with: {commands}

Exit with status 0 when done.

## The plan ({plan})

{plan_text}
"""


@dataclass(frozen=True)
class PlanTests:
    """What write() made: the tests as a TestSource, or None and why not."""

    source: TestSource | None
    why: str  # why there is no source ("" when there is one); what was dropped, when something was
    ignored: tuple[str, ...]  # what the agent changed that is not taken (not tests, links, deletions)
    log: Path  # the agent's log
    seconds: float  # the whole of it: checkout, agent, commit, removal


def choose(feature: Feature, preset: str | None) -> AgentSpec | None:
    """The agent to write plan tests: --plan-tests=PRESET's, else the manifest's `plan_tests:`, else none.

    A preset the manifest configures (as plan_tests: or as the trees' agent) keeps its settings.
    """
    configured = feature.plan_tests
    if preset is None or (configured is not None and configured.preset == preset):
        return configured
    agents.get(preset)  # a one-line error for an unknown preset
    for tree in feature.trees:
        if tree.agent is not None and tree.agent.preset == preset:
            return tree.agent
    if preset == "command":
        raise PeError("--plan-tests=command needs a command: set plan_tests: {preset: command, command: [...]} "
                      "in the manifest")
    return AgentSpec(preset)


def ref(feature: str) -> str:
    """The ref that keeps a feature's plan-tests commit reachable."""
    return REF_PREFIX + check_feature_name(feature)


def release(layout: Layout, feature: str) -> None:
    """Drop the ref (compare is done with the commit; the next gc may take it)."""
    git.git(layout.root, *git.NO_HOOKS, "update-ref", "-d", ref(feature), check=False)


def _files_dir(layout: Layout, feature: str) -> Path:
    """The prompt and the log: .pe/checks/<feature>.plan/, beside the trees' check logs.

    Not inside the scratch checkout (the agent would see pe's files as its own changes, and
    the log must outlive the checkout for the report), and not beside it under judged/:
    remove_stale treats every entry there as a checkout to remove. No tree is named so.
    """
    return layout.checks(layout.plan_tests(feature).name)


def _prompt(layout: Layout, feature: Feature) -> str:
    text = feature.plan_text
    if not text.strip():
        try:
            text = (layout.root / feature.plan).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise PeError(f"cannot read the plan {feature.plan}: {exc.strerror}") from None
    tests = [c for c in feature.checks if c.kind == "test"]
    commands = ", ".join(f"`{shlex.join(c.command)}` (check `{c.name}`)" for c in tests) or \
        "the project's usual test command (the manifest names no test check)"
    return PROMPT.format(feature=feature.name, commands=commands, plan=feature.plan, plan_text=text.strip())


def _run_agent(layout: Layout, feature: Feature, spec: AgentSpec, preset: Preset, work: Path,
               prompt_file: Path, log_path: Path) -> tuple[proc.Exit, Outcome]:
    """One run of the agent in `work`, as compare's judge runs (own group, time limit, log, sandbox).

    TODO(dedupe with judge.run): the same steps; judge.py is being edited elsewhere.
    """
    name = layout.plan_tests(feature.name).name
    tree = TreeSpec(feature.name, 0, name, Strategy("plan-tests", "Write acceptance tests from the plan."),
                    spec, spec.timeout_s or DEFAULT_TIMEOUT_S)
    ctx = RunContext(root=layout.root, tree=tree, tree_dir=work, prompt_file=prompt_file, plan=feature.plan,
                     context="", log_path=log_path, resume=False, session_id=None)
    confine = None
    if sandbox.resolve(feature.sandbox.mode) == "bwrap":
        # The agent may write its scratch checkout only (and its CLI's state): not the trees,
        # not the refs, not the checkout's git admin directory.
        def confine(argv: list[str], env: Mapping[str, str]) -> list[str]:
            return sandbox.wrap(argv, confined.for_dir(layout, work, feature.sandbox, env, preset.state_paths(ctx)))

    return launch.run_once(preset, ctx, timeout=tree.timeout_s, confine=confine)


def _within(path: Path, top: Path) -> bool:
    real, real_top = os.path.realpath(path), os.path.realpath(top)
    return real.startswith(real_top + os.sep)


def _collect(work: Path, where: tuple[str, ...], base: str) -> tuple[list[str], list[str]]:
    """(taken, ignored): what the agent added or changed against `base`, committed or not.

    The index is first put back to the base's tree, so an agent's own commits and staging
    count as changes of its files like the rest (what is in the files is what it wrote).
    """
    git.git(work, *where, "read-tree", base)
    changed = gitfacts.names(work, *where, "diff", "--name-only", "--no-renames", base, "--")
    untracked = gitfacts.names(work, *where, "ls-files", "--others", "--exclude-standard")
    taken: list[str] = []
    ignored: list[str] = []
    for rel in sorted(set(changed) | set(untracked)):
        path = work / rel
        # A link (to a file outside, or in place of a directory) is never a test: an overlay
        # would plant it in every tree's checkout. A nested repository lists as "dir/".
        ok = (is_test_path(rel) and not rel.endswith("/") and not os.path.islink(path) and path.is_file()
              and _within(path, work))
        (taken if ok else ignored).append(rel)
    return taken, ignored


def _commit(work: Path, where: tuple[str, ...], base: str, files: list[str], feature: str) -> str:
    """A commit of `base` plus `files` as they are on disk, byte for byte, made without hooks.

    hash-object --no-filters: a .gitattributes the agent wrote (an eol rule, a filter) must not
    change what is committed; commit-tree runs no hook and moves no HEAD or branch.
    """
    blobs = git.out(work, *where, "hash-object", "-w", "--no-filters", "--", *files).split("\n")
    entries = []
    for rel, blob in zip(files, blobs, strict=True):
        mode = "100755" if os.access(work / rel, os.X_OK) else "100644"
        entries += ["--cacheinfo", f"{mode},{blob},{rel}"]
    git.git(work, *where, "update-index", "--add", *entries)
    tree = git.out(work, *where, "write-tree")
    make = ("commit-tree", tree, "-p", base, "-m", f"pe: tests written from the plan of {feature}")
    res = git.git(work, *where, "-c", "user.useConfigOnly=true", *make, check=False)
    if res.returncode != 0:  # no identity configured: pe's own, as commit_all does
        res = git.git(work, *where, "-c", "user.name=pe", "-c", "user.email=pe@localhost", *make)
    return res.stdout.strip()


def _resolve_base(layout: Layout, base: str) -> str:
    res = git.git(layout.root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{base}^{{commit}}",
                  check=False)
    if res.returncode != 0 or not res.stdout.strip():
        raise PeError(f"--plan-tests: the base {base!r} is not a commit")
    return res.stdout.strip()


def _dropped(ignored: list[str]) -> str:
    shown = ", ".join(ignored[:5]) + (f" and {len(ignored) - 5} more" if len(ignored) > 5 else "")
    return f"dropped what is not a test file ({shown})" if ignored else ""


def write(layout: Layout, feature: Feature, spec: AgentSpec, base: str) -> PlanTests:
    """Have the agent `spec` write tests from `feature`'s plan on `base`; the commit that holds them."""
    t0 = time.monotonic()
    preset = agents.get(spec.preset)  # a one-line error for an unknown preset
    preset.check_available(spec, layout.root)
    base = _resolve_base(layout, base)
    name = ref(feature.name)
    work = layout.plan_tests(feature.name)
    files = _files_dir(layout, feature.name)
    files.mkdir(parents=True, exist_ok=True)
    prompt_file, log_path = files / "PROMPT.md", files / "agent.log"
    write_atomic(prompt_file, _prompt(layout, feature))
    log_path.unlink(missing_ok=True)  # a fresh log: the preset reads the run's output from offset 0
    release(layout, feature.name)  # an earlier compare's tests are not this one's

    def result(source: TestSource | None, why: str, ignored: Sequence[str] = ()) -> PlanTests:
        return PlanTests(source, why, tuple(ignored), log_path, time.monotonic() - t0)

    if os.path.lexists(work):
        checkout.remove(layout, work, feature.setup.env_file)  # a killed compare's
    work.parent.mkdir(parents=True, exist_ok=True)
    with git.mutation_lock(layout.git_lock_file):
        git.prune(layout.root)  # an entry whose directory went blocks the add (see checkout.prepare)
        git.add_detached_worktree(layout.root, work, base)
    try:
        git.checkout_tree(work)
        # pe's git commands name the checkout's admin directory themselves from here on: the
        # agent may have deleted or rewritten the .git file (git would then find the main
        # checkout and commit there).
        gitdir, _ = git.admin_dirs(work)
        # NO_HOOKS too: no hook or fsmonitor the agent configured runs in pe's commands.
        where = (*git.NO_HOOKS, f"--git-dir={gitdir}", f"--work-tree={work}")
        ended, outcome = _run_agent(layout, feature, spec, preset, work, prompt_file, log_path)
        rel_log = log_path.relative_to(layout.root)
        if ended.timed_out or ended.interrupted or not outcome.ok:
            why = ended.describe() if ended.timed_out or ended.interrupted else (outcome.reason or ended.describe())
            return result(None, f"the agent did not finish ({why}); its log: {rel_log}")
        if not work.is_dir() or not gitdir.is_dir():
            return result(None, "the agent removed its scratch checkout or its git directory")
        try:
            taken, ignored = _collect(work, where, base)
            if not taken:
                dropped = f"; it changed only {', '.join(ignored[:5])}" if ignored else ""
                return result(None, f"the agent wrote no test files{dropped}", ignored)
            commit = _commit(work, where, base, taken, feature.name)
            git.git(layout.root, *git.NO_HOOKS, "update-ref", "-m", "pe compare --plan-tests", name, commit)
        except proc.ProcError as exc:
            return result(None, f"pe could not collect the agent's tests: {exc}")
        return result(TestSource(SOURCE, commit, tuple(taken)), _dropped(ignored), ignored)
    finally:
        checkout.remove(layout, work, feature.setup.env_file)
