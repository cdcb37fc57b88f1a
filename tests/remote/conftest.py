"""A real loopback Dask cluster for the --runner=dask tests: a scheduler and two workers, started by
`pe cluster start` (real processes), stopped by `pe cluster stop` at the end of the module.

The workers' TMPDIR is a directory of the test's own, so a test can see every scratch clone they make.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.repo import readme_repo
from tests.support.run import PE_ROOT, pe_run

if importlib.util.find_spec("distributed") is None:
    pytest.skip("the dask extra is not installed (pip install '.[dask]'; CI installs it)", allow_module_level=True)


@dataclass(frozen=True)
class Cluster:
    address: str
    home: Path  # the repository `pe cluster start` ran in (its .pe/cluster.json)
    scratch: Path  # the workers' TMPDIR


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    base = tmp_path_factory.mktemp("cluster")
    home = readme_repo(base / "home")
    scratch = base / "scratch"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch), "PYTHONPATH": str(PE_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    started = pe_run(home, "cluster", "start", "--workers=2", env=env, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield Cluster(started.stdout.strip().splitlines()[-1], home, scratch)
    finally:
        stopped = pe_run(home, "cluster", "stop", timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
