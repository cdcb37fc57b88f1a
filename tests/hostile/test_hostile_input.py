"""The hostile-input corpus: each case exits 3 with exactly one line on stderr saying what is
wrong and where, no traceback, and nothing created or changed (no .pe/, no trees/, no new
branch, no new file, .git/config as it was).

This file is where all of them are found. Cases tested elsewhere are listed in ELSEWHERE
(a test below checks each still exists); every other case is in CASES.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pe.main import main
from tests.support import git, refs, same

TESTS = Path(__file__).resolve().parent.parent

# Already covered, with their exact messages, in these tests:
ELSEWHERE = {
    "malformed YAML (an unclosed bracket), a key twice, not UTF-8, a top-level list":
        "tests/config/test_manifest.py::CORPUS ('feature: [', 'count: 3\\ncount: 4', '\\xff\\xfe', '[1, 2]')",
    "wrong types: count 'three' / true, strategies a string, agent 5": "tests/config/test_manifest.py::CORPUS",
    "unknown keys, top level and in implementations.N.agent": "tests/config/test_manifest.py::CORPUS ('bogus: 1', 'foo: 1')",
    "count 0 and 51, jobs 0, timeout 0 and '10x', implementations beyond count":
        "tests/config/test_manifest.py::CORPUS",
    "a plan that is missing, a directory, binary, outside the repository": "tests/config/test_manifest.py::CORPUS",
    "a base that does not exist (manifest)": "tests/config/test_manifest.py::CORPUS ('base: no-such-ref')",
    "feature names --set-upstream-to=x, ../x, 'a b', -x, A, x/y, a..b, 42 characters, é, ''":
        "tests/config/test_manifest.py::test_bad_feature_names_refused_before_git",
    "--count=0, --strategy=fast": "tests/config/test_manifest.py::test_flag_errors_are_one_line_exit_3",
    "setup: settings (bad commands, port ranges, env names)": "tests/config/test_setup.py::test_bad_setup_is_one_line_exit_3",
    "refs that look like options, ranges": "tests/test_git.py::test_resolve_commit_never_takes_options",
    "detached HEAD, a repository with no commits":
        "tests/test_git.py::test_detached_head_and_empty_repository_are_one_line_errors",
    "an unrelated directory at trees/<tree>":
        "tests/steps/test_worktree.py::test_foreign_directory_is_refused_before_anything_runs",
    "a branch with a tree's name (the feature's name is taken)":
        "tests/steps/test_worktree.py::test_a_users_branch_of_the_same_name_is_refused",
    "--tree names of cleanup": "tests/commands/test_cleanup.py::test_bad_tree_names",
    "status: --watch=0, an unknown feature": "tests/commands/test_status.py::test_bad_input_is_one_line",
}

GOOD = "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo]}\n"
NOT_A_NAME = "use 1-41 characters a-z 0-9 . _ -, starting with a letter or digit (no '..', no '/')"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # the action and its flags; --dir= is added
    error: str  # the line after "pe: error: "; {root} and {tmp} are filled in
    manifest: str | bytes | None = None  # features/feat.yaml, written before the run
    prepare: Callable[[Path], object] | None = None  # anything else, in the repository
    where: Callable[[Path, Path], Path] | None = None  # the --dir, from (repo, tmp_path); default the repo


def _billion_laughs() -> str:
    lines = [GOOD.rstrip("\n"), 'x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _big_plan(root: Path) -> None:
    with (root / "specs" / "big.md").open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # 50 MB; sparse, it is never read


def _user_worktree(root: Path) -> None:
    git(root, "worktree", "add", "--quiet", "-b", "mine", "--", "trees/feat-1")


def _symlink_out(root: Path) -> None:
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "x").write_text("not pe's")
    (root / "trees").mkdir()
    (root / "trees" / "feat-1").symlink_to(outside)


def _file(rel: str, data: bytes = b"x") -> Callable[[Path], object]:
    def make(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return make


def _other_dir(kind: str) -> Callable[[Path, Path], Path]:
    def where(repo: Path, tmp: Path) -> Path:
        path = tmp / kind
        if kind == "plain":
            path.mkdir()
        elif kind == "bare.git":
            git(tmp, "init", "--quiet", "--bare", str(path))
        elif kind == "a-file":
            path.write_text("x")
        return path

    return where


INIT = ("init", "--feature=feat")
NEW = ("init", "--feature=feat", "--plan=specs/plan.md")
EXECUTE = ("execute", "--feature=feat")
MF = "features/feat.yaml"
WITH = f"{MF} with"

CASES = [
    # --- malformed YAML and files that are not manifests --------------------------------------
    Case("yaml-tab-indent", INIT, f"{MF}: line 2, column 1: not valid YAML (found character '\\t' that cannot "
         "start any token)", "feature: feat\n\tplan: specs/plan.md\n"),
    Case("yaml-two-documents", INIT, f"{MF}: line 2, column 1: not valid YAML (but found another document)",
         "feature: feat\n---\nplan: specs/plan.md\n"),
    Case("yaml-unclosed-quote", INIT, f"{MF}: line 2, column 1: not valid YAML (found unexpected end of stream)",
         "feature: 'feat\n"),
    Case("yaml-empty-file", INIT, f"{MF}: the file is empty; expected a mapping of keys (feature:, plan:, ...)", ""),
    Case("yaml-a-sentence", INIT, f"{MF}: at (top level): expected a mapping of keys, got str", "just words\n"),
    Case("yaml-python-tag", INIT, f"{MF}: line 1, column 1: not valid YAML (could not determine a constructor for "
         "the tag 'tag:yaml.org,2002:python/object/apply:os.system')",
         '!!python/object/apply:os.system ["touch pwned"]\n'),
    Case("yaml-list-as-key", INIT, f"{MF}: line 4: a key must be a name, got 'list'", GOOD + "? [a, b]\n: c\n"),
    Case("yaml-null-key", INIT, f"{MF}: line 4: a key must be a name, got None", GOOD + "null: 2\n"),
    Case("yaml-number-key", INIT, f"{MF}: at (top level): unknown key: expected one of: agent, base, checks, "
         "count, feature, implementations, jobs, judge, judge_weight, lessons, notify, plan, plan_tests, remote, "
         "runner, sandbox, scheduler, setup, strategies, synthesis, timeout; got '1'", GOOD + "1: 2\n"),
    Case("yaml-alias-bomb", INIT, f"{MF}: more than 100000 values once its aliases (*name) are expanded",
         _billion_laughs()),
    Case("yaml-nested-5000-deep", INIT, f"{MF}: nested more than 40 levels deep", GOOD + "x: " + "[" * 5000 + "\n"),
    Case("manifest-2mb", INIT, f"{MF}: the file is {len(GOOD) + 2_000_002} bytes; the limit is 1000000",
         GOOD + "#" + "x" * 2_000_000 + "\n"),
    # --- wrong types ---------------------------------------------------------------------------
    Case("count-a-float", INIT, f"{MF}: at count: expected a whole number, got 2.0", GOOD + "count: 2.0\n"),
    Case("jobs-a-float", INIT, f"{MF}: at jobs: expected a whole number, got 2.0", GOOD + "jobs: 2.0\n"),
    Case("jobs-a-fraction", INIT, f"{MF}: at jobs: expected a whole number, got 2.5", GOOD + "jobs: 2.5\n"),
    Case("jobs-a-string", INIT, f"{MF}: at jobs: expected a whole number, got '3'", GOOD + "jobs: '3'\n"),
    Case("count-infinite", INIT, f"{MF}: at count: expected a whole number, got inf", GOOD + "count: .inf\n"),
    Case("feature-a-number", INIT, f"{MF}: at feature: expected a string, got 5", "feature: 5\nplan: specs/plan.md\n"),
    Case("plan-a-list", INIT, f"{MF}: at plan: expected a string, got ['a', 'b']", "feature: feat\nplan: [a, b]\n"),
    Case("implementations-an-empty-list", INIT, f"{MF}: at implementations: expected at least 1 item, got []",
         GOOD + "implementations: []\n"),
    Case("implementations-a-number", INIT, f"{MF}: at implementations: expected a list or a mapping, got 5",
         GOOD + "implementations: 5\n"),
    Case("implementations-list-against-count", INIT, f"{MF}: at count: expected 2, the length of the "
         "implementations list (or no count:), got 3", GOOD + "count: 3\nimplementations: [{}, {strategy: simple}]\n"),
    # 10,000 entries: refused on their number, before the schema looks at each (issue 17: 4 s of CPU before).
    Case("implementations-10000", INIT, f"{MF}: at implementations: expected at most 50 entries (one per tree), "
         "got 10000", GOOD + "implementations:\n" + "  - {strategy: simple}\n" * 10_000),
    Case("implementations-a-list-entry-unknown-key", INIT, f"{MF}: at implementations[1]: unknown key: expected "
         "one of: agent, model, sandbox, strategy, timeout; got 'colour'",
         GOOD + "implementations: [{}, {colour: red}]\n"),
    Case("agent-command-a-string", INIT, f"{MF}: at agent.command: expected a list, got 'python x.py'",
         "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: 'python x.py'}\n"),
    Case("agent-env-a-number", INIT, f"{MF}: at agent.env.A: expected a string, got 1",
         "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo], env: {A: 1}}\n"),
    Case("strategies-a-number", INIT, f"{MF}: at strategies[1]: expected one of simple, performance, extensible, "
         "innovative or a mapping with name, prompt, got 5", GOOD + "strategies: [simple, 5]\n"),
    Case("timeout-negative", INIT, f"{MF}: at timeout: expected at least 1, got -5", GOOD + "timeout: -5\n"),
    Case("checks-a-number", INIT, f"{MF}: at checks: expected a mapping, got 5", GOOD + "checks: 5\n"),
    Case("setup-yes", INIT, f"{MF}: at setup: expected a mapping, got True", GOOD + "setup: yes\n"),
    # --- unknown keys --------------------------------------------------------------------------
    Case("key-capitalised", INIT, f"{MF}: at (top level): unknown key: expected one of: agent, base, "
         "checks, count, feature, implementations, jobs, judge, judge_weight, lessons, notify, plan, plan_tests, "
         "remote, runner, sandbox, scheduler, setup, strategies, synthesis, timeout; got 'Feature'",
         "Feature: feat\nfeature: feat\nplan: specs/plan.md\n"),
    Case("agent-unknown-key", INIT, f"{MF}: at agent: unknown key: expected one of: args, budget_usd, "
         "command, env, idle_timeout, model, preset, retries, timeout; got 'colour'",
         "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo], colour: red}\n"),
    Case("strategy-unknown-key", INIT, f"{MF}: at strategies[0]: unknown key: expected one of: name, prompt; got 'extra'",
         GOOD + "strategies: [{name: x, prompt: p, extra: 1}]\n"),
    # --- durations that overflow the timers (issue 17: 600h failed every agent with OverflowError) ---
    Case("timeout-600h", INIT, f"{MF}: at timeout: expected a duration from 1s to 7 days (604800 s or 168h), "
         "got '600h'", GOOD + "timeout: 600h\n"),
    Case("timeout-huge-digits", INIT, f"{MF}: at timeout: expected a duration from 1s to 7 days (604800 s or "
         "168h), got '99999999999999999999999h'", GOOD + "timeout: 99999999999999999999999h\n"),
    Case("tree-timeout-8-days", INIT, f"{MF}: at implementations.2.timeout: expected at most 604800, got 691200",
         GOOD + "implementations: {'2': {timeout: 691200}}\n"),
    Case("tree-timeout-in-a-list", INIT, f"{MF}: at implementations[0].timeout: expected a duration from 1s to 7 "
         "days (604800 s or 168h), got '10081m'", GOOD + "implementations: [{timeout: 10081m}]\n"),
    Case("agent-idle-timeout-200h", INIT, f"{MF}: at agent.idle_timeout: expected a duration from 1s to 7 days "
         "(604800 s or 168h), got '200h'",
         "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo], idle_timeout: 200h}\n"),
    Case("check-timeout-169h", INIT, f"{MF}: at checks.test.timeout: expected a duration from 1s to 7 days "
         "(604800 s or 168h), got '169h'", GOOD + "checks: {test: {command: [x], timeout: 169h}}\n"),
    Case("timeout-flag-600h", (*INIT, "--timeout=600h"), f"{WITH} --timeout=600h: at timeout: expected a duration "
         "from 1s to 7 days (604800 s or 168h), got '600h'", GOOD),
    # --- a check as a string: split like a shell would, never run by one ------------------------------
    Case("check-string-unbalanced", INIT, f"{MF}: at checks.test: expected a command line shlex can split (No "
         "closing quotation), got \"pytest -k 'x\"", GOOD + "checks: {test: \"pytest -k 'x\"}\n"),
    Case("check-string-empty", INIT, f"{MF}: at checks.test: expected a command, got '  '",
         GOOD + "checks: {test: '  '}\n"),
    # --- a long bad value: what was expected first, then at most 80 characters of the value --------
    Case("plan-a-long-list", INIT, f"{MF}: at plan: expected a string, got " + repr(["a" * 10] * 20)[:77] + "...",
         "feature: feat\nplan: [" + ", ".join(["a" * 10] * 20) + "]\n"),
    # --- huge and zero counts --------------------------------------------------------------------
    Case("count-bignum", INIT, f"{MF}: at count: expected at most 50, got 99999999999999999999999",
         GOOD + "count: 99999999999999999999999\n"),
    Case("count-flag-million", (*NEW, "--count=1000000"),
         "argument --count: expected 1 to 50, got 1000000 (see `pe init --help`)"),
    Case("jobs-flag-huge", (*NEW, "--jobs=100000000000000000000"),
         "argument --jobs: expected 1 to 50, got 100000000000000000000 (see `pe init --help`)"),
    Case("count-flag-negative", (*NEW, "--count=-1"), "argument --count: expected 1 to 50, got -1 (see `pe init --help`)"),
    Case("count-flag-empty", (*NEW, "--count="),
         "argument --count: expected a whole number, got '' (see `pe init --help`)"),
    # --- names -----------------------------------------------------------------------------------
    Case("feature-200-characters", ("init", "--feature=" + "a" * 200, "--plan=specs/plan.md"),
         f"invalid feature name '{'a' * 200}': {NOT_A_NAME}"),
    Case("feature-trailing-newline", ("init", "--feature=feat\n", "--plan=specs/plan.md"),
         f"invalid feature name 'feat\\n': {NOT_A_NAME}"),
    Case("feature-trailing-space", ("init", "--feature=feat ", "--plan=specs/plan.md"),
         f"invalid feature name 'feat ': {NOT_A_NAME}"),
    Case("feature-dot-lock", ("init", "--feature=feat.lock", "--plan=specs/plan.md"),
         f"invalid feature name 'feat.lock': {NOT_A_NAME}"),
    Case("feature-homoglyph", ("init", "--feature=f\u0435at", "--plan=specs/plan.md"),
         f"invalid feature name 'f\u0435at': {NOT_A_NAME}"),
    Case("feature-in-manifest-traversal", INIT, f"{MF}: at feature: expected a string matching "
         "'^[a-z0-9][a-z0-9._-]{0,40}$', got '../feat'", "feature: ../feat\nplan: specs/plan.md\n"),
    Case("strategy-name-unicode", INIT, f"{MF}: at strategies[0].name: expected a short name shown in status "
         "and compare: lower-case letters, digits, '_' and '-', got 'é'", GOOD + "strategies: [{name: é, prompt: p}]\n"),
    Case("logs-tree-traversal", ("logs", "--feature=feat", "--tree=../../etc"),
         "--tree: '../../etc' is not a tree of feat (feat-1, feat-2, feat-3)", GOOD),
    Case("base-flag-an-option", (*NEW, "--base=--output=x"),
         f"{MF} (from the flags): at base: '--output=x' is not a commit in this repository"),
    Case("base-flag-a-range", (*NEW, "--base=main..HEAD"),
         f"{MF} (from the flags): at base: 'main..HEAD' is not a commit in this repository"),
    Case("base-flag-a-tree-object", (*NEW, "--base=HEAD^{tree}"),
         f"{MF} (from the flags): at base: 'HEAD^{{tree}}' is not a commit in this repository"),
    # --- plans -----------------------------------------------------------------------------------
    Case("plan-50mb", ("init", "--feature=feat", "--plan=specs/big.md"),
         f"{MF} (from the flags): plan 'specs/big.md' is 52428800 bytes; the limit is 1000000", prepare=_big_plan),
    Case("plan-fifo", ("init", "--feature=feat", "--plan=specs/fifo"),
         f"{MF} (from the flags): plan 'specs/fifo' is not a regular file",
         prepare=lambda root: os.mkfifo(root / "specs" / "fifo")),
    Case("plan-symlink-loop", ("init", "--feature=feat", "--plan=specs/loop"),
         f"{MF} (from the flags): plan 'specs/loop' cannot be resolved (Symlink loop from '{{root}}/specs/loop')",
         prepare=lambda root: (root / "specs" / "loop").symlink_to("loop")),
    Case("plan-in-dot-git", ("init", "--feature=feat", "--plan=.git/config"),
         f"{MF} (from the flags): plan '.git/config' is inside .git/; keep plans with the checked-in files"),
    Case("plan-in-trees", ("init", "--feature=feat", "--plan=trees/notes.md"),
         f"{MF} (from the flags): plan 'trees/notes.md' is inside trees/; keep plans with the checked-in files",
         prepare=_file("trees/notes.md", b"# notes\n")),
    Case("plan-latin-1", ("init", "--feature=feat", "--plan=specs/latin.md"),
         f"{MF} (from the flags): plan 'specs/latin.md' is not UTF-8 text", prepare=_file("specs/latin.md", b"caf\xe9\n")),
    Case("plan-dev-zero", ("init", "--feature=feat", "--plan=/dev/zero"),
         f"{MF} (from the flags): plan '/dev/zero' is outside the repository"),
    Case("plan-through-a-link-out", ("init", "--feature=feat", "--plan=specs/out/passwd"),
         f"{MF} (from the flags): plan 'specs/out/passwd' is outside the repository",
         prepare=lambda root: (root / "specs" / "out").symlink_to("/etc")),
    # --- repositories ----------------------------------------------------------------------------
    Case("not-a-repository", NEW, "{tmp}/plain is not inside a git repository (run `git init` first)",
         where=_other_dir("plain")),
    Case("bare-repository", NEW, "{tmp}/bare.git is a bare repository: pe needs a checkout to put trees/ in",
         where=_other_dir("bare.git")),
    Case("dir-missing", NEW, "{tmp}/missing is not a directory", where=_other_dir("missing")),
    Case("dir-a-file", NEW, "{tmp}/a-file is not a directory", where=_other_dir("a-file")),
    Case("inside-dot-git", NEW, "{root}/.git/refs is inside git's own directory: run pe from the checkout",
         where=lambda root, tmp: root / ".git" / "refs"),
    Case("manifest-file-not-a-feature-name", ("status",), f"features/My Feature.yaml: invalid feature name "
         f"'My Feature': {NOT_A_NAME} (a manifest is named after its feature)",
         prepare=_file("features/My Feature.yaml", GOOD.encode())),
    # --- what is already at a tree's path or branch ------------------------------------------
    Case("file-at-tree-path", NEW, "trees/feat-1 exists and is not a directory; move it away or pick another "
         "feature name", prepare=_file("trees/feat-1")),
    Case("trees-a-file", NEW, "trees exists and is not a directory; pe keeps its worktrees there: move it away",
         prepare=_file("trees")),
    Case("link-at-tree-path", NEW, "tree path {root}/trees/feat-1 escapes {root}/trees", prepare=_symlink_out),
    Case("users-worktree-at-tree-path", NEW, "trees/feat-1 is a worktree on branch mine, not pe's (expected branch "
         "feat-1); remove it with `git worktree remove`, or pick another feature name", prepare=_user_worktree),
    Case("branch-below-tree-branch", NEW, "a branch named feat-2/wip exists, so git cannot create branch feat-2; "
         "pick another feature name, or rename that branch", prepare=lambda root: git(root, "branch", "feat-2/wip")),
    # --- flags that contradict the manifest ------------------------------------------------------
    Case("count-flag-below-implementations", (*INIT, "--count=2"), f"{WITH} --count=2: at implementations.3: "
         "tree 3 does not exist (count is 2)", GOOD + "implementations: {'3': {strategy: simple}}\n"),
    Case("agent-mix-against-count", (*INIT, "--count=3", "--agent=command:1,command:1"),
         "--agent: the mix names 2 trees but count is 3; give --count=2", GOOD),
    Case("agent-and-agent-command", (*INIT, "--agent=command", "--agent-command=echo"),
         "--agent and --agent-command both name the agent: give one of them", GOOD),
    Case("strategy-flag-not-in-manifest", (*INIT, "--strategy=theirs"), "--strategy: unknown strategy 'theirs'; "
         "expected one of: simple, performance, extensible, innovative, mine",
         GOOD + "strategies: [{name: mine, prompt: p}]\n"),
    Case("strategy-flag-empty", (*INIT, "--strategy="), "--strategy: an empty name in ''", GOOD),
    Case("strategy-flag-empty-item", (*NEW, "--strategy=simple,,innovative"),
         "--strategy: an empty name in 'simple,,innovative'"),
    Case("timeout-flag-zero", (*INIT, "--timeout=0"), f"{WITH} --timeout=0: at timeout: expected at least 1, got 0", GOOD),
    Case("plan-flag-missing", (*INIT, "--plan=specs/nope.md"), f"{WITH} --plan=specs/nope.md: plan file "
         "'specs/nope.md' does not exist (plan paths are relative to the repository root, {root})", GOOD),
    Case("base-flag-missing", (*INIT, "--base=nope"), f"{WITH} --base=nope: at base: 'nope' is not a commit in this "
         "repository", GOOD + "base: main\n"),
    # --- everything else -------------------------------------------------------------------------
    Case("unknown-action", ("frobnicate",), "argument <action>: invalid choice: 'frobnicate' (choose from 'demo', "
         "'init', 'execute', 'resume', 'wait', 'stop', 'recover', 'status', 'compare', 'synthesize', 'logs', 'adopt', 'cleanup', 'history', "
         "'insights', 'validate', 'doit', 'cluster', 'install-command') (see `pe --help`)"),
    Case("unknown-flag", (*NEW, "--colour=red"), "unrecognized arguments: --colour=red (see `pe --help`)"),
    Case("no-plan-no-manifest", INIT, "features/feat.yaml does not exist: give --plan=PATH to create it"),
    Case("no-agent", EXECUTE, f"{MF}: at agent: no agent configured for feat-1; add e.g. `agent: {{preset: "
         "command, command: [python, tools/agent.py, '{prompt_file}']}`", "feature: feat\nplan: specs/plan.md\n"),
    Case("agent-not-on-path", EXECUTE, f"{MF}: agent command 'no-such-agent-xyz' is not on PATH",
         "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [no-such-agent-xyz]}\n"),
    Case("agent-command-unbalanced-quote", (*NEW, "--agent-command='x"), "--agent-command: No closing quotation"),
]


def _files(root: Path) -> dict[str, str]:
    """Path -> content hash (or kind) of everything under `root`; a FIFO is not read."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            p = Path(dirpath, name)
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[str(p)] = os.readlink(p) if p.is_symlink() else stat.filemode(st.st_mode)
    return out


def _state(root: Path) -> tuple[dict[str, str], str, str, str]:
    """Every file under the repository (.git included), the refs, the worktrees, .git/config."""
    files = _files(root)
    return files, refs(root), git(root, "worktree", "list", "--porcelain"), (root / ".git" / "config").read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case) -> None:
    if case.manifest is not None:
        path = repo / "features" / "feat.yaml"
        path.parent.mkdir()
        path.write_bytes(case.manifest if isinstance(case.manifest, bytes) else case.manifest.encode())
    if case.prepare is not None:
        case.prepare(repo)
    target = case.where(repo, tmp_path) if case.where else repo
    had_trees = (repo / "trees").exists()
    before = _state(repo)
    rc = main([*case.argv, f"--dir={target}"])
    out, err = capsys.readouterr()
    expected = case.error.replace("{root}", str(repo)).replace("{tmp}", str(tmp_path))
    assert (rc, err) == (3, f"pe: error: {expected}\n"), out
    assert out == ""
    after = _state(repo)
    same(before[0], after[0])  # no file created or changed, in the repository or in .git
    assert before[1:] == after[1:]  # refs, worktrees, .git/config
    assert not (repo / ".pe").exists() and (repo / "trees").exists() == had_trees
    assert not (repo / "pwned").exists()


def test_the_corpus_is_big_enough_and_its_index_is_true() -> None:
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    for where in ELSEWHERE.values():
        path, _, rest = where.partition("::")
        name = re.split(r"[ (]", rest)[0]
        assert re.search(rf"^(def {name}\(|{name} = )", (TESTS.parent / path).read_text(), re.M), where


def test_a_feature_named_like_an_existing_branch_is_fine(repo: Path) -> None:
    """Not hostile: pe's branches are <feature>-<n>, so a branch called just <feature> is no one's
    business but its owner's. It is left alone (a branch *named like a tree* is refused, see ELSEWHERE)."""
    git(repo, "branch", "feat")
    tip = git(repo, "rev-parse", "feat")
    assert main(["init", "--feature=feat", "--plan=specs/plan.md", "--count=1", f"--dir={repo}"]) == 0
    assert git(repo, "rev-parse", "feat") == tip
    assert git(repo, "branch", "--list", "feat*").split() == ["feat", "+", "feat-1"]


def test_integer_keys_of_implementations_are_tree_numbers(repo: Path) -> None:
    """Not hostile either: `2:` unquoted is how anyone writes it (it used to be ignored, silently)."""
    from pe.config import manifest
    from pe.layout import Layout

    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(GOOD + "implementations: {2: {strategy: innovative}}\n")
    feature = manifest.load(Layout(repo), "feat")
    assert [t.strategy.name for t in feature.trees] == ["simple", "innovative", "extensible"]
