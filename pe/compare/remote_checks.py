"""`pe compare --runner=dask`: each finished tree's own checks run on a Dask worker (issue 16).

The judged commit (the tree's branch tip, the one `pe adopt` takes) goes to the worker as a git
bundle of the branch (or is pushed to `remote:` under refs/pe/<feature>/<tree>/judged); there
pe.remote.checking clones it into a scratch dir, sets the tree up with pe's own graph and runs
each check with pe.compare.checks.run_check, as a local compare does. Each CheckResult comes home
with its log and its report directory (JUnit XML), written where a local run writes them
(.pe/checks/<tree>/), so evidence.json, the scoring and the report read the same things.

As locally: the shared checks of every tree run side by side (one task per tree, at most --jobs
at a time, one agent slot each), then the exclusive ones (benchmarks) one tree at a time, all on
one worker, so their timings compare. Retries are pe's, not Dask's (retries=0, a key unique to the
tree and round, the worker refuses a second start of a key). A tree whose task failed gets every
check as could-not-run, with the reason. Cross-tests and tests from the plan run here, in local
checkouts of the trees that passed their own checks (pe.compare.evidence).
"""

from __future__ import annotations

import dataclasses
import shutil
import threading
import uuid
from typing import Any, Protocol

from pe import proc, util
from pe.compare import checks
from pe.compare.checks import CheckResult
from pe.config.checks import CheckSpec
from pe.config.spec import Feature, TreeSpec
from pe.layout import Layout
from pe.remote import result

MARGIN_S = 120.0  # over the setup's and the checks' own limits: clone, bundle, the trip


class _Evidence(Protocol):  # pe.compare.evidence.TreeEvidence (which imports this module)
    tree: str
    head: str | None
    checks: list[CheckResult]
    checkout: dict[str, Any] | None


def check(feature: Feature) -> str:
    """Before any check runs: the extra is there, the scheduler answers, a worker has a slot (one line)."""
    from pe.engine import dask_runner

    return dask_runner.check(feature).replace("runner: dask", "checks on dask", 1)


def judged_ref(feature: str, tree: str) -> str:
    """Where the judged commit is pushed on `remote:` (cleanup deletes the feature's refs/pe/ there)."""
    return result.feature_refs(feature, tree) + "judged"


def _ship(layout: Layout, feature: Feature, tree: str, head: str, shipped: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """How the worker gets the judged commit; once per tree (the benchmarks' task reuses it)."""
    if tree not in shipped:
        shipped[tree] = result.ship_branch(layout.root, feature.remote, tree, head, judged_ref(feature.name, tree))
    return shipped[tree]


def _safe_rel(rel: str) -> bool:
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts


def _land(layout: Layout, tree: str, item: dict[str, Any]) -> CheckResult:
    """One check's result from the worker: its log and reports written here, where a local run's go."""
    got: CheckResult = item["result"]
    base = checks.check_dir(layout, tree)
    log = base / f"{got.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(item.get("log") or b"")
    report_dir = base / got.name
    shutil.rmtree(report_dir, ignore_errors=True)
    report_dir.mkdir(parents=True)
    for rel, data in (item.get("reports") or {}).items():
        if _safe_rel(rel):
            (report_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (report_dir / rel).write_bytes(data)
    landed = dataclasses.replace(got, log=str(log.relative_to(layout.root)))
    checks.tell("end", f"{got.name}:{tree}", landed)
    return landed


def _submit(c: Any, layout: Layout, feature: Feature, tree: TreeSpec, head: str, specs: list[CheckSpec],
            phase: str, pin: str | None, shipped: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One task: the tree's `specs` on a worker (`pin`, if given); what the worker returned, or a reason."""
    from pe.engine import dask_runner
    from pe.remote import worker

    key = f"pe-check-{feature.name}-{tree.name}-{phase}-{uuid.uuid4().hex[:8]}"
    limit = feature.setup.timeout_s + sum(s.timeout_s for s in specs) + MARGIN_S
    task = {"feature": feature, "tree": tree, "tip": head, "specs": specs, "timeout_s": limit, "key": key,
            **_ship(layout, feature, tree.name, head, shipped)}
    where: dict[str, Any] = {"workers": [pin], "allow_other_workers": False} if pin else {}
    for spec in specs:
        checks.tell("start", f"{spec.name}:{tree.name}")
    future = c.submit(worker.run_checks, task, dask_runner._stop_name(key), f"pe-once-{key}", key=key,
                      resources={"agent": 1}, retries=0, pure=False, **where)
    got: dict[str, Any] = dask_runner._wait(c, future, key)
    return got


def _one(c: Any, layout: Layout, feature: Feature, ev: _Evidence, tree: TreeSpec, specs: list[CheckSpec],
         all_specs: list[CheckSpec], phase: str, pin: str | None, lock: threading.Lock,
         shipped: dict[str, dict[str, Any]]) -> bool:
    """Run `specs` of one tree on the cluster into ev.checks; False when none could run (then every
    check of `all_specs` not yet recorded is could-not-run)."""
    if ev.head is None:
        got: dict[str, Any] = {"reason": f"cannot check out {tree.name}'s commit ?: no branch {tree.name} to check out"}
    elif proc.REGISTRY.stopping:
        got = {"reason": "interrupted by the user"}
    else:
        got = _submit(c, layout, feature, tree, ev.head, specs, phase, pin, shipped)
    landed = [_land(layout, tree.name, item) for item in got.get("results") or []]
    with lock:
        ev.checks.extend(landed)
        if got.get("dir") and ev.head is not None and ev.checkout is None:
            ev.checkout = {"commit": ev.head, "dir": got["dir"], "worker": got.get("worker"), "carried": [],
                           "linked": [], "seconds": got.get("setup_s", 0.0)}
    if got.get("reason") is None and landed:
        return True
    why = str(got.get("reason") or "the worker returned no result")
    have = {r.name for r in ev.checks}
    missing = [s for s in (all_specs if not landed else specs) if s.name not in have]
    setup_log = (got.get("setup_log") or b"").decode(errors="replace")
    failed = checks.not_run(layout, tree.name, missing, why, setup_log)
    with lock:
        ev.checks.extend(failed)
    return bool(landed)


def _bench_worker(c: Any) -> str | None:
    """The one worker every tree's benchmarks run on: the first (by address) with an agent slot."""
    workers = c.scheduler_info().get("workers", {})
    slots = sorted(a for a, w in workers.items() if int(w.get("resources", {}).get("agent", 0)) > 0)
    return slots[0] if slots else None


def run(layout: Layout, feature: Feature, done: list[tuple[Any, TreeSpec]], specs: list[CheckSpec], *,
        workers: int) -> None:
    """Every finished tree's checks on the cluster, into each evidence's checks (and its checkout)."""
    from pe.engine import dask_runner

    c = dask_runner.client(feature.scheduler)
    shared = [s for s in specs if not s.exclusive]
    exclusive = [s for s in specs if s.exclusive]
    lock = threading.Lock()
    ran: set[str] = set()
    shipped: dict[str, dict[str, Any]] = {}  # tree -> its bundle or ref (each tree's own key: no lock needed)

    def shared_of(pair: tuple[Any, TreeSpec]) -> None:
        ev, tree = pair
        if _one(c, layout, feature, ev, tree, shared, specs, "checks", None, lock, shipped):
            with lock:
                ran.add(tree.name)

    if shared:
        util.parallel(shared_of, done, workers=workers)
    pin = _bench_worker(c) if exclusive else None
    for ev, tree in done:
        # As locally: a tree whose checks could not run at all gets no benchmark either (it has its errors).
        if exclusive and (not shared or tree.name in ran):
            _one(c, layout, feature, ev, tree, exclusive, specs, "bench", pin, lock, shipped)
