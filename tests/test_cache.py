"""pe/cache.py: what a fresh `pe init` computed is kept, so the next command skips YAML and jsonschema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import pe_run, write_manifest

# Runs one pe command in-process and reports which of the slow libraries it imported.
_PROBE = """
import contextlib, io, sys
from pe.main import main
with contextlib.redirect_stdout(io.StringIO()):
    rc = main(sys.argv[1:])
print(rc, sorted(m for m in ("yaml", "jsonschema") if m in sys.modules))
"""


def _imports(root: Path, *args: str) -> str:
    res = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_after_init_the_manifest_is_neither_parsed_nor_validated_again(repo: Path) -> None:
    write_manifest(repo, count=2)
    assert not (repo / ".pe").exists()
    init = pe_run(repo, "init", "--feature=feat")
    assert init.returncode == 0, init.stderr
    # init loaded the manifest before .pe/ existed; what it learnt was written once it did.
    assert len(list((repo / ".pe" / "cache" / "yaml").iterdir())) == 1
    assert len(list((repo / ".pe" / "cache" / "valid").iterdir())) == 1
    assert _imports(repo, "status") == "0 []"
    # An edit is a new text: parsed and validated again, then cached again.
    with (repo / "features" / "feat.yaml").open("a") as fh:
        fh.write("jobs: 1\n")
    assert _imports(repo, "status") == "0 ['jsonschema', 'yaml']"
    assert _imports(repo, "status") == "0 []"


def test_a_bad_manifest_leaves_no_cache_and_no_state_dir(repo: Path) -> None:
    write_manifest(repo, count=0)
    res = pe_run(repo, "init", "--feature=feat")
    assert res.returncode == 3 and res.stderr.count("\n") == 1
    assert not (repo / ".pe").exists()
