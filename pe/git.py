"""The one git wrapper: small functions, one git call each, argv only.

Read-only queries may run anywhere. Mutations of shared repository state
(`worktree add/remove/prune`, `branch -D`) run only under mutation_lock(), because
concurrent `git worktree add` races inside git itself. Callers validate names
first (layout.check_feature_name); here `--` goes before every path and refs
are resolved with `--end-of-options` so a name can never become an option.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pe import proc
from pe.errors import PeError
from pe.gitscan import git_env
from pe.leftovers import file_in_use, git_running_under
from pe.lock import file_lock

# Used only when the user has no identity configured, so pe's checkpoint
# commits never fail on a fresh machine.
_FALLBACK_IDENTITY = ("-c", "user.name=pe", "-c", "user.email=pe@localhost")


def git(cwd: Path, *args: str, check: bool = True, timeout: float = 120) -> proc.Result:
    return start(cwd, *args, check=check, timeout=timeout).wait()


def start(cwd: Path, *args: str, check: bool = True, timeout: float = 120) -> proc.Running:
    """git() without waiting: the caller's wait() collects it (its timeout counts from there)."""
    # An interrupt lets git finish: killed mid-write it leaves locks every later call trips over.
    return proc.start(["git", *args], cwd=cwd, env=git_env(), check=check, timeout=timeout, finish_on_interrupt=True)


def out(cwd: Path, *args: str) -> str:
    return git(cwd, *args).stdout.strip()


def toplevel(cwd: Path) -> Path:
    """The root of the main checkout containing `cwd`, or a one-line error."""
    if not cwd.is_dir():
        raise PeError(f"{cwd} is not a directory")
    # One process for both answers: this runs before every action.
    res = git(cwd, "rev-parse", "--show-toplevel", "--path-format=absolute", "--git-common-dir", check=False)
    lines = res.stdout.splitlines()
    if res.returncode != 0 or len(lines) != 2 or not lines[0]:
        bare = git(cwd, "rev-parse", "--is-bare-repository", check=False).stdout.strip()
        if bare == "true":
            raise PeError(f"{cwd} is a bare repository: pe needs a checkout to put trees/ in")
        if git(cwd, "rev-parse", "--is-inside-git-dir", check=False).stdout.strip() == "true":
            raise PeError(f"{cwd} is inside git's own directory: run pe from the checkout")
        raise PeError(f"{cwd} is not inside a git repository (run `git init` first)")
    top, common = Path(lines[0]), Path(lines[1])
    if common.parent != top:
        # Inside a linked worktree (e.g. one of pe's own trees): use the main checkout.
        top = common.parent
    return top


def has_commits(root: Path) -> bool:
    return git(root, "rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0


def current_branch(root: Path) -> str | None:
    # Not --short: with a tag of the same name it says "heads/main", which no ref is (issue 17).
    res = git(root, "symbolic-ref", "--quiet", "HEAD", check=False)
    ref = res.stdout.strip()
    return ref.removeprefix("refs/heads/") or None


def resolve_commit(root: Path, ref: str) -> str | None:
    res = git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    sha = res.stdout.strip()
    # A range such as `a..b` "resolves" to two lines: that is not a commit.
    return sha if res.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


def valid_branch_name(root: Path, name: str) -> bool:
    return git(root, "check-ref-format", "--branch", name, check=False).returncode == 0


def branch_exists(root: Path, branch: str) -> bool:
    return git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0


def branch_names(root: Path) -> set[str]:
    """Every local branch, by full name (`refname:short` can come back as heads/x when a tag is x too)."""
    raw = out(root, "for-each-ref", "--format=%(refname)", "refs/heads/")
    return {line.removeprefix("refs/heads/") for line in raw.splitlines() if line}


def common_dir(root: Path) -> Path:
    return admin_dirs(root)[1]


def ensure_excluded(root: Path, patterns: Sequence[str]) -> None:
    """Keep pe's directories out of `git status` and out of `git clean -x` reach."""
    exclude = common_dir(root) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    existing = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [p for p in patterns if p not in existing]
    if missing:
        with exclude.open("a") as fh:
            if existing and existing[-1] != "":
                fh.write("\n")
            fh.write("# added by pe\n" + "\n".join(missing) + "\n")


@dataclass
class Worktree:
    path: Path
    head: str | None = None
    branch: str | None = None
    locked: str | None = None  # the lock reason; "" when locked without one
    prunable: str | None = None
    bare: bool = False


def worktree_list(root: Path) -> list[Worktree]:
    raw = out(root, "worktree", "list", "--porcelain", "-z")
    result: list[Worktree] = []
    current: Worktree | None = None
    for field in raw.split("\0"):
        if not field:
            if current is not None:
                result.append(current)
                current = None
            continue
        key, _, value = field.partition(" ")
        if key == "worktree":
            current = Worktree(Path(value))
        elif current is None:
            continue
        elif key == "HEAD":
            current.head = value
        elif key == "branch":
            current.branch = value.removeprefix("refs/heads/")
        elif key == "locked":
            current.locked = value
        elif key == "prunable":
            current.prunable = value
        elif key == "bare":
            current.bare = True
    if current is not None:
        result.append(current)
    return result


def find_worktree(root: Path, path: Path) -> Worktree | None:
    want = path.resolve()
    for wt in worktree_list(root):
        if wt.path.resolve() == want:
            return wt
    return None


# --- mutations: only under mutation_lock() ---------------------------------

_held = threading.local()


@contextlib.contextmanager
def mutation_lock(lock_path: Path) -> Iterator[None]:
    """Serialise worktree/branch mutations across threads and processes.

    flock locks belong to an open file description, so two threads of one
    process exclude each other too.
    """
    with file_lock(lock_path):
        _held.value = True
        try:
            yield
        finally:
            _held.value = False


def _mutate(root: Path, *args: str) -> proc.Result:
    if not getattr(_held, "value", False):
        raise RuntimeError(f"git {args[0]} outside mutation_lock()")
    return git(root, *args)


def add_worktree(root: Path, path: Path, branch: str, base_sha: str) -> None:
    """Register `path` on `branch` (existing, or new from `base_sha`), no checkout.

    The checkout itself (`checkout_tree`) runs outside the lock, in parallel.
    --no-track: tracking makes parallel adds fight over .git/config.
    """
    if branch_exists(root, branch):
        _mutate(root, "worktree", "add", "--no-checkout", "--", str(path), branch)
    else:
        _mutate(root, "worktree", "add", "--no-checkout", "--no-track", "-b", branch, "--", str(path), base_sha)


def add_detached_worktree(root: Path, path: Path, commit: str) -> None:
    """Register `path` on a detached HEAD at `commit`, no checkout (checkout_tree fills it, outside the lock).

    Detached: a scratch checkout must not take a branch, which its tree has checked out already.
    """
    _mutate(root, "worktree", "add", "--no-checkout", "--detach", "--", str(path), commit)


def remove_worktree(root: Path, path: Path, *, force: int = 0) -> None:
    _mutate(root, "worktree", "remove", *(["--force"] * force), "--", str(path))


def prune(root: Path) -> None:
    _mutate(root, "worktree", "prune")


def delete_branch(root: Path, branch: str) -> None:
    # A crash in an earlier delete leaves the locks, or the packed-refs.new git then cannot create again.
    _clear_stale([common_dir(root) / n for n in ("packed-refs.lock", "packed-refs.new", f"refs/heads/{branch}.lock")],
                 root)
    _mutate(root, "branch", "-D", "--", branch)


def clear_stale_branch_lock(root: Path, branch: str, tree: Path) -> list[Path]:
    """The lock of a branch that a killed `git worktree add -b` was creating for `tree`.

    That add creates the branch with a `git branch` of its own; killed in it, it leaves
    refs/heads/<branch>.lock, and every later add fails ("cannot lock ref"). Callers hold
    the mutation lock, under which pe's own writers of that ref run.
    """
    return _clear_stale([common_dir(root) / "refs" / "heads" / f"{branch}.lock"], tree)


# --- inside one tree --------------------------------------------------------


def checkout_tree(tree: Path) -> None:
    """Populate a tree made with --no-checkout from its HEAD."""
    git(tree, "reset", "--hard", "--quiet")


def overlay(tree: Path, commit: str, paths: Sequence[str]) -> None:
    """Write `paths` as they are at `commit` into `tree`'s files and index, byte for byte
    (cross-testing: another tree's tests over this one's checkout). Literal paths, after `--`:
    a test file named `:(glob)**` or `-f` is a name, nothing else. No hook runs (post-checkout
    runs for a file checkout too, and a hook is something an agent can plant)."""
    git(tree, *NO_HOOKS, "--literal-pathspecs", "checkout", "--quiet", _object_id(commit), "--", *paths)


def restore(tree: Path, commit: str) -> None:
    """Put `tree`'s tracked files and index back to `commit`, overlaid files dropped (untracked
    files stay: the env file, the carried files and the links to the tree's installs)."""
    git(tree, *NO_HOOKS, "reset", "--hard", "--quiet", _object_id(commit))


_OBJECT_ID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def _object_id(commit: str) -> str:
    """A full object id, or PeError: checkout and reset take no --end-of-options (git 2.39), so
    what stands where a revision goes must be one that cannot be read as an option."""
    if not _OBJECT_ID.fullmatch(commit):
        raise PeError(f"not a full commit id: {commit!r}")
    return commit


def _clear_stale(locks: Sequence[Path], where: Path) -> list[Path]:
    """Remove those of `locks` that a killed git left: nobody holds them open, no git runs in `where`."""
    present = [lock for lock in locks if lock.exists()]
    if not present or git_running_under(where):
        return []
    removed = [lock for lock in present if not file_in_use(lock)]
    for lock in removed:
        lock.unlink(missing_ok=True)
    return removed


def clear_stale_locks(tree: Path) -> list[Path]:
    """Remove the tree's index.lock and its branch's ref lock if a killed git left them.

    A git killed in the tree (a crash during pe's checkpoint commit or checkout, an
    agent's own git killed at its timeout) leaves them, and git then refuses every
    later write there ("remove the file manually to continue"). Callers hold the
    repository lock and have stopped the tree's agent, so no git of pe's runs there.
    """
    gitdir, common = admin_dirs(tree)
    locks = [gitdir / "index.lock"]
    head = (gitdir / "HEAD").read_text(errors="replace").strip() if (gitdir / "HEAD").is_file() else ""
    if head.startswith("ref: refs/heads/"):
        locks.append(common / f"{head.removeprefix('ref: ')}.lock")
    return _clear_stale(locks, tree)


def admin_dirs(tree: Path) -> tuple[Path, Path]:
    """(git dir, common dir) of a checkout.

    Read from the `.git` file and `commondir` (gitrepository-layout(5)) when they
    are there: this runs twice around every agent run, and two git processes per
    call were a measurable part of pe's overhead with many trees. Anything unusual
    is left to git itself.
    """
    dotgit = tree / ".git"
    try:
        if dotgit.is_dir():
            return dotgit, dotgit
        text = dotgit.read_text(encoding="utf-8").strip()
        if text.startswith("gitdir: "):
            gitdir = (tree / text.removeprefix("gitdir: ")).resolve()
            commondir = gitdir / "commondir"
            common = (gitdir / commondir.read_text(encoding="utf-8").strip()).resolve() \
                if commondir.is_file() else gitdir
            if (gitdir / "HEAD").is_file() and common.is_dir():
                return gitdir, common
    except (OSError, UnicodeDecodeError):
        pass
    lines = out(tree, "rev-parse", "--path-format=absolute", "--absolute-git-dir", "--git-common-dir").splitlines()
    return Path(lines[0]), Path(lines[1])


def half_written_entries(root: Path) -> list[Path]:
    """Worktree admin dirs a killed `git worktree add` left without a usable gitdir or commondir.

    git creates <common>/worktrees/<name>/ first and fills it in after; one cut off
    in between makes every later `git worktree list` fail ("failed to read
    .../commondir"), prune included, so git cannot repair it itself.
    """
    admin = common_dir(root) / "worktrees"
    found = []
    for entry in sorted(admin.iterdir()) if admin.is_dir() else []:
        try:
            usable = all((entry / name).read_text().strip() for name in ("gitdir", "commondir"))
        except OSError:
            usable = False
        if entry.is_dir() and not usable:
            found.append(entry)
    return found


# No hook and no fsmonitor of the user's or an agent's runs in pe's own commands in a tree:
# --no-verify skips pre-commit and commit-msg but not post-commit, and an agent can point
# core.hooksPath or core.fsmonitor (read by `git add` and `status`) at a program of its own.
NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


def detach(tree: Path, tip: str) -> None:
    """Put `tree` on a detached HEAD at `tip`, its branch's tip: HEAD changes, nothing else.

    In the sandbox the refs are read-only, so an agent's `git commit` on its branch would
    fail; on a detached HEAD it only writes the tree's admin directory and objects.
    Callers record the tip first: a kill -9 right after this must find it recorded. Not
    `checkout --detach`, which re-reads every file of the tree (110-140 ms on 20,000 files);
    the old value makes it fail, changing nothing, if HEAD no longer points at `tip`.
    """
    git(tree, *NO_HOOKS, "update-ref", "--no-deref", "-m", "pe: detached for the sandboxed run",
        "HEAD", tip, tip)


def attach(root: Path, tree: Path, branch: str, base_sha: str) -> str | None:
    """Move `branch` to the tree's detached HEAD and put the tree back on it; why not, or None.

    Only a HEAD that descends from the tree's base moves the branch: the agent's own
    commits, rewritten or not. The old tip stays in the branch's reflog.
    """
    head = out(tree, "rev-parse", "HEAD")
    tip = out(root, "rev-parse", "--verify", "--end-of-options", f"refs/heads/{branch}")
    if head != tip:
        if git(root, "merge-base", "--is-ancestor", base_sha, head, check=False).returncode != 0:
            return (f"the agent's HEAD {head[:12]} does not descend from the tree's base {base_sha[:12]}; "
                    f"branch {branch} stays at {tip[:12]}")
        git(root, *NO_HOOKS, "update-ref", "-m", "pe: the sandboxed agent's commits", f"refs/heads/{branch}", head, tip)
    git(tree, *NO_HOOKS, "symbolic-ref", "-m", "pe: back on the branch", "HEAD", f"refs/heads/{branch}")
    return None


def commit_all(tree: Path, message: str, skip: Sequence[str] = ()) -> str | None:
    """Commit everything left uncommitted in `tree` but the paths in `skip`; the new sha, or None if clean.

    Callers first make sure the tree is still theirs (not_pes): this commits on whatever
    branch the tree's HEAD names. A nested repository without a commit makes `git add --all`
    fail outright: callers pass nested_repositories() as `skip` so the rest is committed.
    """
    git(tree, *NO_HOOKS, "add", "--all", "--", ".", *(f":(exclude){p}" for p in skip))
    # --no-verify and NO_HOOKS: this is a checkpoint of the agent's work; a hook must not lose it.
    # useConfigOnly: no identity guessed from the host name; without a configured one the
    # commit fails, and goes again with pe's. A failed commit changes nothing, so the usual case
    # costs one process: only a failed commit asks whether there was anything to commit. No auto
    # maintenance either: one more process per checkpoint, and a `gc --auto` at an agent's end.
    commit = ("-c", "maintenance.auto=false", "commit", "--quiet", "--no-verify", "-m", message)
    if git(tree, *NO_HOOKS, "-c", "user.useConfigOnly=true", *commit, check=False).returncode != 0:
        if git(tree, *NO_HOOKS, "diff", "--cached", "--quiet", check=False).returncode == 0:
            return None  # nothing to commit
        git(tree, *NO_HOOKS, *_FALLBACK_IDENTITY, *commit)
    return out(tree, "rev-parse", "HEAD")
