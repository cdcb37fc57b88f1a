"""A worker's result as one git commit (issue 16): what outlives the coordinator that asked for it.

The commit's first parent is the tree's branch as the worker left it; its own tree holds the
files pe keeps of the attempt (run.json, agent.log, RESULTS.md, PROGRESS.md) and result.json
(the task's key, the head, the worker's address, why it failed). One ref, refs/pe/<feature>/<tree>/<attempt>,
names both, and a ref moves in one step: the worker pushes it to `remote:`, or the coordinator
writes it the moment the task's result arrives, before any bookkeeping. A pe resumed after a
kill -9 that finds it lands it, and the agent does not run again.

Read back with `git archive` into a tarball, not `git cat-file` through a text pipe: a log may
hold any bytes, and a pipe in text mode would turn its CRLFs into LFs.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from pe import git, gitfacts, proc

FILES = {"record": "run.json", "log": "agent.log", "results": "RESULTS.md", "progress": "PROGRESS.md"}
META_FILE = "result.json"
META_KEYS = ("key", "head", "rc", "worker", "reason", "stopped")  # key: the Dask task's, unique to the attempt
# pe's own bookkeeping commits: one identity everywhere, a worker with no git identity included.
IDENTITY = ("-c", "user.name=pe", "-c", "user.email=pe@localhost")


def ref(feature: str, tree: str, attempt: int) -> str:
    """Where an attempt's result commit lives, here and on `remote:`."""
    return f"refs/pe/{feature}/{tree}/{attempt}"


def base_ref(feature: str, tree: str, attempt: int) -> str:
    """Where the coordinator pushes the branch an attempt starts from, on `remote:` only."""
    return f"refs/pe/{feature}/{tree}/base/{attempt}"


def feature_refs(feature: str, tree: str | None = None) -> str:
    """The prefix of every ref pe makes for the feature's (or one tree's) dispatched attempts."""
    return f"refs/pe/{feature}/" + (f"{tree}/" if tree else "")


def local_refs(repo: Path, feature: str, tree: str) -> list[str]:
    """The tree's attempt refs in `repo` (what cleanup archives, then deletes)."""
    listed = git.out(repo, "for-each-ref", "--format=%(refname)", "--", feature_refs(feature, tree))
    return [line for line in listed.split("\n") if line]


def commit(repo: Path, result: dict[str, Any], message: str) -> str:
    """Write `result` (the worker's dict) as a commit whose parent is its head; the commit's id.

    No index, no hook, no HEAD or branch moves: hash-object, mktree, commit-tree.
    """
    names: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pe-result-") as tmp:
        for key, name in FILES.items():
            data = result.get(key)
            if data is not None:
                (Path(tmp) / name).write_bytes(data)
                names.append(name)
        meta = {k: result.get(k) for k in META_KEYS}
        (Path(tmp) / META_FILE).write_text(json.dumps(meta, sort_keys=True) + "\n")
        names.append(META_FILE)
        blobs = git.out(repo, "hash-object", "-w", "--no-filters", "--",
                        *(str(Path(tmp) / n) for n in names)).split("\n")
    entries = "".join(f"100644 blob {blob}\t{name}\n" for name, blob in zip(names, blobs, strict=True))
    # (as pe.lifecycle.adoption does: git.git has no stdin, and mktree reads its entries there). Finished
    # on an interrupt, as git.git's calls are: after a Ctrl-C this stores what the stopped agent left.
    tree = proc.run(["git", "mktree"], cwd=repo, env=git.git_env(), stdin_text=entries,
                    finish_on_interrupt=True).stdout.strip()
    parent = ["-p", str(result["head"])] if result.get("head") else []
    return git.out(repo, *IDENTITY, "commit-tree", tree, *parent, "-m", message)


def exists(repo: Path, name: str) -> bool:
    found = git.git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{name}^{{commit}}", check=False)
    return found.returncode == 0


def read(repo: Path, name: str) -> dict[str, Any] | None:
    """The result dict back from the commit at ref `name` (the head is its parent); None if no such ref."""
    if not exists(repo, name):
        return None
    with tempfile.TemporaryDirectory(prefix="pe-result-") as tmp:
        tarball = Path(tmp) / "result.tar"
        git.git(repo, "archive", "--format=tar", f"--output={tarball}", "--end-of-options", name)
        data = tarball.read_bytes()
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            got = tar.extractfile(member) if member.isfile() else None
            if got is not None:
                files[member.name] = got.read()
    out: dict[str, Any] = {key: files.get(name) for key, name in FILES.items()}
    meta = json.loads(files.get(META_FILE, b"{}") or b"{}")
    out.update({k: meta.get(k) for k in META_KEYS})
    return out


def delete_remote_refs(root: Path, remote: str, prefix: str, local: dict[str, str | None],
                       tip: str | None) -> str | None:
    """Delete `prefix`* on `remote` (cleanup, after the bundle holding them verified), each only if
    nothing is lost: this repository held its commit (`local`: ref -> sha before they went), or the
    branch's `tip` contains it. None, or one line saying what was left there and why."""
    listed = git.git(root, "ls-remote", "--refs", "--", remote, f"{prefix}*", check=False, timeout=120)
    if listed.returncode != 0:
        return f"left {prefix}* on {remote}: it did not answer"
    gone = []
    for line in listed.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        # A result this repository holds (now in the bundle), or a base the branch contains: nothing is lost.
        if local.get(ref) == sha or (tip is not None and gitfacts.is_ancestor(root, sha, tip)):
            gone.append(f":{ref}")
    if not gone:
        return None
    pushed = git.git(root, "push", "--quiet", "--", remote, *gone, check=False, timeout=120)
    if pushed.returncode != 0:
        return f"left {prefix}* on {remote}: {(pushed.stderr.strip().splitlines() or ['push failed'])[-1]}"
    return None


def ship_branch(root: Path, remote: str | None, branch: str, tip: str, ref: str) -> dict[str, Any]:
    """How a worker gets `branch` (at `tip`): pushed to `remote:` as `ref`, or a bundle of it carried
    with the task. The agent step and compare's remote checks both send a tree this way."""
    if remote:
        git.git(root, "push", "--quiet", "--force", "--", remote, f"{tip}:{ref}", timeout=600)
        return {"remote": remote, "ref": ref}
    with tempfile.TemporaryDirectory(prefix="pe-bundle-") as tmp:
        path = Path(tmp) / "branch.bundle"
        git.git(root, "bundle", "create", "--quiet", str(path), f"refs/heads/{branch}", timeout=600)
        return {"bundle": path.read_bytes()}
