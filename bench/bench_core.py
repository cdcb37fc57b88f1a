"""Core benchmarks (issue 18): pe against the floor of each operation, alternated in one run.

    python bench/bench_core.py [--rows status,resume,...] [--pairs N] [--json FILE]

Rows (each independent; its repositories are made in a temp dir by the row itself, nothing is
kept across runs):
  status     pe status, 30 trees, against python -c pass + the 30 `git status` calls (2-way parallel)
  resume     no-op pe resume, 30 done trees, against pe status of the same trees
  help       pe --help against python -c "import argparse"
  agents     8 agents sleeping 2 s against the same shells without pe (sleep, cp, git add, git commit);
             pe with sandbox: none (like the floor), and with --sandbox=bwrap where bubblewrap works
  agents20k  the same on a 20,000-file repository whose main-checkout index is stale
  init       pe init, 3 trees of a 2000-file repository, against the git worktree adds (2-way parallel)
  validate   pe validate, 50 features against 1

The floors run as a shell runs them (`sh -c`, `xargs -P2`), never one Python call per git
process, and each starts with `python -c pass`, the interpreter pe cannot do without. pe's
bytecode is compiled first, as pip leaves an installed pe (this machine sets
PYTHONDONTWRITEBYTECODE=1, which would otherwise make pe compile itself on every run).
Not a test: nothing here fails on a figure. Harness: bench/harness.py.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Ratio, Row, Side, add_arguments, run_rows

PE = [sys.executable, "-m", "pe"]
PY = shlex.quote(sys.executable)
# The agent of the benchmarks: it sleeps, then leaves a complete RESULTS.md. A shell
# and sleep(1), so the figure is pe's overhead and not an interpreter's start-up.
RESULTS_TEMPLATE = "".join(f"## {s}\n\nx\n\n" for s in [
    "Approach Summary", "Files Created/Modified", "Key Design Decisions", "Trade-offs Made",
    "Performance Considerations", "Testing Strategy"])
SLEEP_AGENT = 'sleep "$0" && cp tools/RESULTS.template.md RESULTS.md'
COMMIT = "git -c user.name=b -c user.email=b@b commit -q"
# The git status pe runs per tree (pe.gitfacts.scan).
GIT_STATUS = "status --porcelain=v2 --branch -z --untracked-files=all"


def sh(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} in {cwd} exited {proc.returncode}:\n"
                           f"{proc.stderr.decode(errors='replace')[-2000:]}")


def make_repo(where: Path, files: int) -> Path:
    root = where / "repo"
    (root / "src").mkdir(parents=True)
    for i in range(files):
        (root / "src" / f"m{i}.py").write_text(f"x = {i}\n" * 20)
    (root / "specs").mkdir()
    (root / "specs" / "plan.md").write_text("# plan\n")
    (root / "tools").mkdir()
    (root / "tools" / "RESULTS.template.md").write_text(RESULTS_TEMPLATE)
    sh(["git", "init", "-q", "-b", "main"], root)
    sh(["git", "add", "-A"], root)
    sh(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"], root)
    return root


def manifest(root: Path, feature: str, count: int, sleep: float = 0.0, sandbox: str | None = None,
             jobs: int | None = None) -> None:
    (root / "features").mkdir(exist_ok=True)
    (root / "features" / f"{feature}.yaml").write_text(
        f"feature: {feature}\nplan: specs/plan.md\ncount: {count}\njobs: {jobs or count}\n"
        f"agent: {{preset: command, command: [sh, -c, '{SLEEP_AGENT}', '{sleep}']}}\n"
        + (f"sandbox: {sandbox}\n" if sandbox else "")
    )


def reset(root: Path) -> None:
    """Back to the freshly made repository: no trees, no branches but main, no .pe/."""
    shutil.rmtree(root / "trees", ignore_errors=True)
    sh(["git", "worktree", "prune"], root)
    branches = subprocess.run(["git", "branch", "--format=%(refname:short)"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.split()
    others = [b for b in branches if b != "main"]
    if others:
        sh(["git", "branch", "-q", "-D", "--", *others], root)
    shutil.rmtree(root / ".pe", ignore_errors=True)


def stale_index(root: Path) -> None:
    """Touch every tracked file of the main checkout, so its index no longer vouches for any of them."""
    for path in (root / "src").iterdir():
        os.utime(path)


def shell(script: str) -> list[str]:
    return ["sh", "-c", script]


def status_floor(parallel: bool) -> str:
    """python -c pass, then one `git status` per tree (the trees/*/ of the cwd), as a shell runs them."""
    if parallel:
        return f"{PY} -c pass && ls -d trees/*/ | xargs -P2 -I{{}} git -C {{}} {GIT_STATUS} >/dev/null"
    return f"{PY} -c pass && for t in trees/*/; do git -C \"$t\" {GIT_STATUS}; done >/dev/null"


class Rows:
    """Every row, each with its own repositories under `tmp`, made by the row's setup."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    KEYS = ("status", "resume", "help", "agents", "agents20k", "init", "validate")

    def all(self) -> list[Row]:
        return [self.status(), self.resume(), self.help(), self.agents("agents", 10), self.agents("agents20k", 20_000),
                self.init(), self.validate()]

    def status(self) -> Row:
        root = self.tmp / "status" / "repo"

        def setup() -> None:
            make_repo(root.parent, 200)
            for f in range(6):
                manifest(root, f"s{f}", 5)
                sh([*PE, "init", f"--feature=s{f}"], root)
            for t in sorted((root / "trees").iterdir()):
                (t / "src" / "m1.py").write_text("changed = True\n" * 30)
                sh(["git", *COMMIT.split()[1:], "-am", "work"], t)
                (t / "notes.txt").write_text("uncommitted\n")

        def cold() -> None:
            shutil.rmtree(root / ".pe" / "cache" / "facts", ignore_errors=True)

        return Row("status", "pe status, 30 trees (6 features x 5; each a commit ahead, one file dirty)", [
            Side("pe", [*PE, "status"], root),
            Side("floor-par", shell(status_floor(True)), root),
            Side("floor-seq", shell(status_floor(False)), root),
            Side("pe-cold", [*PE, "status"], root, prepare=cold),
        ], [Ratio("pe", "floor-par", 2.0), Ratio("pe", "floor-seq"), Ratio("pe-cold", "floor-par")], setup=setup,
            notes=["pe-cold: pe status with its commit-facts cache (.pe/cache/facts) emptied before each run"])

    def resume(self) -> Row:
        root = self.tmp / "resume" / "repo"

        def setup() -> None:
            make_repo(root.parent, 50)
            manifest(root, "r", 30, sandbox="none", jobs=8)
            sh([*PE, "execute", "--feature=r"], root)

        return Row("resume", "no-op pe resume, 30 done trees, against pe status of the same trees", [
            Side("resume", [*PE, "resume", "--feature=r"], root),
            Side("status", [*PE, "status"], root),
            Side("floor-par", shell(status_floor(True)), root),
        ], [Ratio("resume", "status", 1.1), Ratio("resume", "floor-par"), Ratio("status", "floor-par")],
            setup=setup)

    def help(self) -> Row:
        return Row("help", "pe --help against python -c \"import argparse\"", [
            Side("pe", [*PE, "--help"], self.tmp),
            Side("argparse", [sys.executable, "-c", "import argparse"], self.tmp),
            Side("python", [sys.executable, "-c", "pass"], self.tmp),
        ], [Ratio("pe", "argparse", 3.0), Ratio("pe", "python")])

    def agents(self, key: str, files: int) -> Row:
        root = self.tmp / key / "repo"
        n, sleep = 8, 2
        stale = files > 1000

        def setup() -> None:
            make_repo(root.parent, files)
            manifest(root, "p", n, sleep=sleep, sandbox="none")

        def fresh_trees() -> None:
            reset(root)
            sh([*PE, "init", "--feature=p"], root)
            if stale:
                stale_index(root)

        raw = (f"for t in trees/p-*/; do (cd \"$t\" && sleep {sleep} && cp tools/RESULTS.template.md RESULTS.md "
               f"&& git add -A && {COMMIT} -m work) & done; wait")
        title = f"{n} agents sleeping {sleep} s, jobs={n}, right after pe init"
        notes = [f"a {files}-file repository; pe: sandbox: none, like the floor"
                 + (", its main-checkout index made stale (every file touched) after pe init, before each run"
                    if stale else ""),
                 "floor: the agents' shells without pe, all at once: sleep, cp, git add -A, git commit"]
        sides = [Side("pe", [*PE, "execute", "--feature=p"], root, prepare=fresh_trees),
                 Side("floor", shell(raw), root, prepare=fresh_trees)]
        ratios = [Ratio("pe", "floor", 1.2 if stale else 1.10)]
        if bwrap_usable():  # pe's default where bubblewrap works (sandbox: auto), against the same floor
            notes.append("pe-bwrap: the same run with --sandbox=bwrap (the default, auto, where bubblewrap works)")
            sides.append(Side("pe-bwrap", [*PE, "execute", "--feature=p", "--sandbox=bwrap"], root,
                              prepare=fresh_trees))
            ratios.append(Ratio("pe-bwrap", "floor", ratios[0].target))
        if stale:  # for reading the figure: what one look at the stale main checkout costs
            notes.append("main-status: one `git --no-optional-locks status` of the stale main checkout (which "
                         "does not write the refreshed index back, so every such look re-hashes every file)")
            sides.append(Side("main-status", ["git", "--no-optional-locks", *GIT_STATUS.split()], root,
                              prepare=lambda: stale_index(root)))
        return Row(key, title, sides, ratios, setup=setup, notes=notes)

    def init(self) -> Row:
        root = self.tmp / "init" / "repo"
        n = 3

        def setup() -> None:
            make_repo(root.parent, 2000)
            manifest(root, "b", n)

        add = "git worktree add -q -b b-{} -- trees/b-{} main"
        seq = f"{PY} -c pass && for i in $(seq {n}); do {add.replace('{}', '$i')}; done"
        par = f"{PY} -c pass && seq {n} | xargs -P2 -I{{}} {add}"
        return Row("init", f"pe init, {n} trees of a 2000-file repository, against the git worktree adds", [
            Side("pe", [*PE, "init", "--feature=b"], root, prepare=lambda: reset(root)),
            Side("floor-par", shell(par), root, prepare=lambda: reset(root)),
            Side("floor-seq", shell(seq), root, prepare=lambda: reset(root)),
        ], [Ratio("pe", "floor-par", 1.2), Ratio("pe", "floor-seq")], setup=setup)

    def validate(self) -> Row:
        many, one = self.tmp / "validate50" / "repo", self.tmp / "validate1" / "repo"
        many_cold, one_cold = self.tmp / "validate50c" / "repo", self.tmp / "validate1c" / "repo"

        def setup() -> None:
            for root, count in ((many, 50), (one, 1), (many_cold, 50), (one_cold, 1)):
                make_repo(root.parent, 5)
                for f in range(count):
                    manifest(root, f"g{f:02}", 5)
            for root in (many, one):  # as after pe init: .pe/ holds the caches
                (root / ".pe").mkdir()

        return Row("validate", "pe validate, 50 features (5 trees each) against 1", [
            Side("50", [*PE, "validate"], many),
            Side("1", [*PE, "validate"], one),
            Side("50-fresh", [*PE, "validate"], many_cold),
            Side("1-fresh", [*PE, "validate"], one_cold),
        ], [Ratio("50", "1", 1.3), Ratio("50-fresh", "1-fresh", 1.3)], setup=setup,
            notes=["50, 1: a repository with .pe/ (pe's caches kept, as after pe init); "
                   "-fresh: no .pe/, so every run schema-checks every manifest (a fresh clone, CI)"])


def bwrap_usable() -> bool:
    """Whether pe's sandbox works here (asked of the pe being measured, in a child process)."""
    code = "import sys; from pe import sandbox; sys.exit(0 if sandbox.probe() is None else 1)"
    return subprocess.run([sys.executable, "-c", code], cwd=tempfile.gettempdir(), check=False,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def compile_pe(cwd: Path) -> Path:
    """Compile pe's bytecode as pip does for an installed package (a source checkout run with
    PYTHONDONTWRITEBYTECODE=1 would compile pe's modules on every run, which no installed pe pays).
    Returns the package directory the benchmarks' `python -m pe` imports."""
    where = subprocess.run([sys.executable, "-c", "import pe; print(pe.__file__)"], capture_output=True, text=True,
                           check=True, cwd=cwd).stdout.strip()
    package = Path(where).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True, stdout=subprocess.DEVNULL)
    return package


def export(rev: str, where: Path) -> str:
    """pe/ of commit `rev` of this checkout, exported under `where` and put first on PYTHONPATH; its full hash."""
    checkout = Path(__file__).resolve().parents[1]
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=checkout, capture_output=True,
                         text=True, check=True).stdout.strip()
    where.mkdir()
    archive = subprocess.run(["git", "archive", sha, "pe"], cwd=checkout, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(where), *filter(None, [os.environ.get("PYTHONPATH")])])
    return sha


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", help="measure pe as committed at REV (git archive of its pe/ into the temp dir, "
                    "first on PYTHONPATH), not the working tree's pe, which may hold uncommitted changes")
    with tempfile.TemporaryDirectory(prefix="pe-bench-") as d:
        rows = Rows(Path(d))
        add_arguments(ap, Rows.KEYS)
        args = ap.parse_args()
        header = {}
        if args.rev:
            header["commit"] = export(args.rev, Path(d) / "pe-src")
        header["pe_from"] = str(compile_pe(Path(d)))
        return run_rows(rows.all(), args, header)


if __name__ == "__main__":
    raise SystemExit(main())
