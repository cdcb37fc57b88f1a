"""`pe cluster start|stop`: a Dask scheduler and workers on this machine's loopback, for trying --runner=dask.

Real processes in sessions of their own (pe.proc.start_supervisor: they outlive the command), their
pids and the address in .pe/cluster.json; stop ends each process group. Loopback only and the
dashboard off: the scheduler has no authentication and unpickles what clients send. Workers get
one thread and one agent slot each (`--resources agent=1`) and no memory limit (`--memory-limit 0`:
at 95% of a limit a worker is killed, and its agent with it); the scheduler has allowed-failures 0,
so a task whose worker died is not run again by Dask (pe resume decides).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from pe import proc
from pe.errors import PeError
from pe.fsutil import read_json, write_json_atomic
from pe.layout import Layout

START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"  # retries are pe's (issue 16)
    return env


def running(layout: Layout) -> dict[str, Any] | None:
    """The recorded cluster if its scheduler still runs, else None."""
    data = read_json(layout.cluster_file)
    if not data:
        return None
    sched = data.get("scheduler", {})
    if proc.process_start_ticks(int(sched.get("pid", 0)) or -1) != sched.get("start"):
        return None
    return data


def start(layout: Layout, workers: int) -> str:
    """Start the scheduler and `workers` workers; the scheduler's address."""
    from pe.engine import dask_runner

    dask_runner.require_extra()
    found = running(layout)
    if found is not None:
        raise PeError(f"a cluster runs already at {found['address']}: pe cluster stop first")
    layout.state.mkdir(parents=True, exist_ok=True)
    address_file = layout.cluster_file.with_suffix(".address.json")
    address_file.unlink(missing_ok=True)
    log_path = layout.cluster_file.with_suffix(".log")
    procs: list[dict[str, Any]] = []
    with log_path.open("ab") as log:
        sched = proc.start_supervisor(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(address_file)],
            cwd=layout.state, env=_env(), log=log)
        procs.append({"role": "scheduler", "pid": sched.pid, "start": proc.process_start_ticks(sched.pid)})
        address = _address(address_file, sched)
        for _ in range(workers):
            w = proc.start_supervisor(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1",
                 "--nthreads", "1", "--resources", "agent=1", "--memory-limit", "0", "--no-dashboard"],
                cwd=layout.state, env=_env(), log=log)
            procs.append({"role": "worker", "pid": w.pid, "start": proc.process_start_ticks(w.pid)})
    data = {"address": address, "scheduler": procs[0], "workers": procs[1:], "log": str(log_path)}
    write_json_atomic(layout.cluster_file, data)
    _wait_workers(address, workers)
    return address


def _address(path: Any, sched: Any) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        data = read_json(path)
        if data and data.get("address"):
            return str(data["address"])
        if sched.poll() is not None:
            raise PeError(f"the Dask scheduler exited ({sched.returncode}) before it listened; see .pe/cluster.log")
        time.sleep(0.1)
    raise PeError(f"the Dask scheduler wrote no address in {START_TIMEOUT_S:g}s; see .pe/cluster.log")


def _wait_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, timeout=10, set_as_default=False) as c:
        c.wait_for_workers(n, timeout=START_TIMEOUT_S)


def stop(layout: Layout) -> int:
    """Stop every process of the recorded cluster (workers first); how many there were."""
    data = read_json(layout.cluster_file)
    if not data:
        return 0
    entries = [*data.get("workers", []), data.get("scheduler", {})]
    for entry in entries:
        pid = int(entry.get("pid", 0))
        # The same process, not one that got its pid since: its start time says so.
        if pid and proc.process_start_ticks(pid) == entry.get("start"):
            proc.kill_group(pid, grace=STOP_GRACE_S)
    layout.cluster_file.unlink(missing_ok=True)
    layout.cluster_file.with_suffix(".address.json").unlink(missing_ok=True)
    return len(entries)


def describe(data: dict[str, Any]) -> str:
    return json.dumps({"address": data["address"], "workers": len(data.get("workers", []))})
