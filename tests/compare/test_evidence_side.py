"""pe compare's evidence on hostile or plain inputs: no checks, deep manifests, float counts, non-UTF-8
names, huge output; the failing tests by name; one progress line per check (issue 13)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import git, pe, pe_popen, pe_run, wait_for
from tests.support.cycle import CHECKS, make_repo, write_cycle_manifest

# A check that writes a JUnit report whose counts read "1.0" (some runners format them as floats).
FLOAT_JUNIT = """import sys
from pathlib import Path
Path(sys.argv[1]).mkdir(exist_ok=True)
Path(sys.argv[1], "junit.xml").write_text(
    '<testsuites><testsuite name="s" tests="2.0" failures="1.0" errors="0.0" skipped="0">'
    '<testcase classname="suite.Case" name="test_a"/>'
    '<testcase classname="suite.Case" name="test_b"><failure message="no"/></testcase>'
    '</testsuite></testsuites>')
sys.exit(1)
"""
HANG = ("import os, sys, time\n"
        "open(os.path.join(sys.argv[1], os.environ['PE_TREE']), 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n")
PLAIN_PYTEST = {"command": ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"], "timeout": 120}


def no_traceback(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stdout + res.stderr, res.stdout + res.stderr
    return res.stdout


def evidence(root: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    return {t["tree"]: t for t in json.loads((root / "reports/calc/evidence.json").read_text())["trees"]}


def commit_in(tree: Path, files: dict[bytes, str], message: str) -> None:
    for name, text in files.items():
        path = os.fsencode(tree) + b"/" + name
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
    git(tree, "add", "--all")
    git(tree, "commit", "--quiet", "-m", message)


def test_compare_without_checks_and_with_no_checks_writes_a_report(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2)  # no checks: key, like the manifest `pe init` writes
    assert pe(root, "execute", "--feature=calc")[0] == 0
    for argv in ([], ["--no-checks"], ["--json"]):
        res = pe_run(root, "compare", "--feature=calc", *argv)
        out = no_traceback(res)
        assert res.returncode == 0, res.stderr
        assert "recommended: calc-" in out or json.loads(out)["recommended"]
        assert (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").is_file()


@pytest.fixture
def junit_pair(tmp_path: Path) -> Path:
    """Two finished trees whose one check writes a JUnit report with counts "2.0" and "1.0" and fails."""
    root = make_repo(tmp_path)
    (tmp_path / "junit.py").write_text(FLOAT_JUNIT)
    write_cycle_manifest(root, count=2, checks={"junit": ["python", str(tmp_path / "junit.py"), "{report_dir}"]})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    return root


def test_a_deeply_nested_package_json_is_a_changed_manifest(junit_pair: Path) -> None:
    root = junit_pair
    commit_in(root / "trees/calc-1", {b"package.json": "[" * 100_000 + "]" * 100_000}, "a deep package.json")
    res = pe_run(root, "compare", "--feature=calc", "--no-checks")
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    one = evidence(root)["calc-1"]
    assert "package.json" in one["dependency_manifests_changed"] and one["new_dependencies"] == []


def test_junit_counts_written_as_floats(junit_pair: Path) -> None:
    root = junit_pair
    res = pe_run(root, "compare", "--feature=calc")
    no_traceback(res)
    assert res.returncode == 1, res.stderr  # the check fails in both trees: none is recommended
    junit = evidence(root)["calc-1"]["checks"][0]
    assert junit["status"] == "failed" and (junit["counts"]["total"], junit["counts"]["failed"]) == (2, 1)
    assert junit["failed_tests"] == ["suite.Case.test_b"]


def test_a_junit_report_the_check_wrote_in_its_checkout_is_kept(junit_pair: Path, tmp_path: Path) -> None:
    root = junit_pair
    write_cycle_manifest(root, count=2, checks={"junit": {
        "command": ["python", str(tmp_path / "junit.py"), "{tree}/out"], "junit": "out/junit.xml"}})
    assert pe(root, "compare", "--feature=calc")[0] == 1
    assert evidence(root)["calc-1"]["checks"][0]["failed_tests"] == ["suite.Case.test_b"]
    assert "test_b" in (root / ".pe/checks/calc-1/junit/junit.xml").read_text()  # what cleanup archives


def test_a_file_name_that_is_not_utf8_in_a_tree(junit_pair: Path) -> None:
    root = junit_pair
    commit_in(root / "trees/calc-2", {b"caf\xe9.txt": "Latin-1 name\n", b"d\xe9p/requirements.txt": "requests\n"},
              "Latin-1 file names")
    (root / "trees/calc-2" / os.fsdecode(b"untracked-\xe9.txt")).write_text("not committed\n")
    res = pe_run(root, "compare", "--feature=calc", "--no-checks")
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    two = evidence(root)["calc-2"]
    assert two["files_changed"] >= 4
    assert two["new_dependencies"] == [{"name": "requests", "file": "d\ufffdp/requirements.txt"}]
    assert "d\ufffdp/requirements.txt" in (root / "reports/calc/IMPLEMENTATION_COMPARISON.md").read_text()
    # adopt lists the tree's uncommitted entries: the untracked one is refused by name, not a crash.
    res = pe_run(root, "adopt", "--feature=calc", "--tree=calc-2")
    no_traceback(res)
    assert res.returncode == 3 and "1 uncommitted entries" in res.stderr, res.stderr


def test_a_file_name_that_is_not_utf8_in_the_base_branch_fails_no_adopt(junit_pair: Path) -> None:
    root = junit_pair
    commit_in(root / "trees/calc-2", {b"caf\xe9.txt": "Latin-1 name\n"}, "a Latin-1 file name")
    # The base branch gets one at its top level: what adopt lists when it builds the result.
    commit_in(root, {b"na\xefve.txt": "base\n"}, "base: a Latin-1 file name")
    res = pe_run(root, "adopt", "--feature=calc", "--tree=calc-2", "--force")  # (its junit check failed)
    no_traceback(res)
    assert res.returncode == 0, res.stderr
    listed = subprocess.run(["git", "ls-tree", "-z", "--name-only", "main"], cwd=root, capture_output=True,
                            check=True).stdout.split(b"\0")
    assert b"caf\xe9.txt" in listed and b"na\xefve.txt" in listed and b"RESULTS.md" not in listed


@pytest.fixture
def one_broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """calc-1 fails two tests, calc-2 passes; checks: pytest with a JUnit report, and plain pytest."""
    root = make_repo(tmp_path)
    write_cycle_manifest(root, count=2, checks={"test": CHECKS["test"], "plain": PLAIN_PYTEST})
    monkeypatch.setenv("CYCLE_VARIANT_1", "broken")
    assert pe(root, "execute", "--feature=calc")[0] == 0
    return root


def test_failing_tests_are_named_from_junit_and_else_from_pytests_summary(one_broken: Path) -> None:
    root = one_broken
    rc, _, err = pe(root, "compare", "--feature=calc", "--json")
    assert rc == 0, err
    trees = evidence(root)
    test, plain = trees["calc-1"]["checks"]
    assert test["failed_tests"] == ["test_mathlib.test_ten", "test_mathlib.test_twenty"]
    assert plain["failed_tests"] == ["test_mathlib.py::test_ten", "test_mathlib.py::test_twenty"]
    assert all(c["failed_tests"] == [] for c in trees["calc-2"]["checks"])


def test_one_line_per_check_as_it_starts_and_ends(one_broken: Path) -> None:
    root = one_broken
    rc, out, err = pe(root, "compare", "--feature=calc")
    assert rc == 0, err
    stamp = r"\[\d\d:\d\d:\d\d\] "
    for tree in ("calc-1", "calc-2"):
        for check in ("test", "plain"):
            assert re.search(rf"^{stamp}start  {check}:{tree}$", out, re.MULTILINE), out
    assert re.search(rf"^{stamp}done    test:calc-2 \(\d+\.\ds\)$", out, re.MULTILINE), out
    assert re.search(rf"^{stamp}FAILED test:calc-1 \(\d+\.\ds\): .*1/3 passed, 2 failed", out, re.MULTILINE), out
    assert out.index("start  test:calc-1") < out.index("recommended: calc-2")
    # With --json the lines go to stderr: stdout is the JSON alone.
    rc, out, err = pe(root, "compare", "--feature=calc", "--json")
    assert json.loads(out)["recommended"] == "calc-2" and "start  test:calc-1" in err


def test_cleanup_archives_each_checks_junit_report(one_broken: Path) -> None:
    root = one_broken
    assert pe(root, "compare", "--feature=calc")[0] == 0
    rc, _, err = pe(root, "cleanup", "--feature=calc", "--tree=calc-1", "--force")
    assert rc == 0, err
    archived = root / "reports/calc/calc-1/checks"
    assert (archived / "test.log").is_file()
    assert "test_twenty" in (archived / "test/junit.xml").read_text()


def test_parsers_of_failing_test_names(tmp_path: Path) -> None:
    from pe.compare.checks import failed_in_output, read_junit

    pytest_out = ("=========================== short test summary info ============================\n"
                  "FAILED tests/test_a.py::test_one - assert 1 == 2\n"
                  "FAILED tests/test_a.py::test_two[a b]\n"
                  "ERROR tests/test_b.py - ImportError: no module\n"
                  "========================= 2 failed, 1 error in 0.12s ==========================\n")
    assert failed_in_output(pytest_out) == ["tests/test_a.py::test_one", "tests/test_a.py::test_two[a b]",
                                            "tests/test_b.py"]
    unittest_out = ("FAIL: test_b (test_mod.T.test_b)\n----\nERROR: test_c (test_mod.T)\n\n"
                    "Ran 3 tests in 0.001s\n\nFAILED (failures=1, errors=1)\n")
    assert failed_in_output(unittest_out) == ["test_mod.T.test_b", "test_mod.T.test_c"]
    xml = tmp_path / "r.xml"
    xml.write_text('<testsuite tests="3" failures="1" errors="1" skipped="nan">'
                   '<testcase name="ok"/><testcase classname="m" name="bad"><failure/></testcase>'
                   '<testcase name="broken"><error/></testcase></testsuite>')
    counts, names = read_junit(xml)
    assert counts is not None and (counts.total, counts.failed, counts.errors, counts.skipped) == (3, 1, 1, 0)
    assert names == ["m.bad", "broken"]


# 100 MB of output in lines of 1 kB: held in memory, it took about four times that (str, copies, lines).
LOUD = "import sys\nline = 'x' * 1023 + '\\n'\nfor _ in range(100_000):\n    sys.stdout.write(line)\nprint('the end')\n"
# pe compare in a child of its own, which then reports the largest RSS among its children (kB).
MAX_RSS = ("import resource, subprocess, sys\n"
           "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def test_a_checks_output_goes_to_its_log_not_into_memory(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    (tmp_path / "loud.py").write_text(LOUD)
    write_cycle_manifest(root, count=1, checks={"loud": ["python", str(tmp_path / "loud.py")]})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    res = subprocess.run([sys.executable, "-c", MAX_RSS, sys.executable, "-m", "pe", "compare", "--feature=calc",
                          "--dir", str(root)], capture_output=True, text=True, check=True, timeout=300)
    max_rss_mb = int(res.stdout) / 1024
    log = root / ".pe/checks/calc-1/loud.log"
    assert log.stat().st_size > 100_000_000
    check = evidence(root)["calc-1"]["checks"][0]
    assert check["status"] == "passed" and check["summary"] == "the end"
    assert max_rss_mb < 150, f"compare peaked at {max_rss_mb:.0f} MB for 100 MB of output"


def test_cleanup_is_refused_while_compare_runs(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    marks = tmp_path / "marks"
    marks.mkdir()
    write_cycle_manifest(root, count=1, checks={"hang": {"command": ["python", "-c", HANG, str(marks)],
                                                         "timeout": 600}})
    assert pe(root, "execute", "--feature=calc")[0] == 0
    compare = pe_popen(root, "compare", "--feature=calc")
    try:
        wait_for(lambda: any(marks.iterdir()), timeout=60, what="the check to start")
        res = pe_run(root, "cleanup", "--feature=calc", "--force")
        assert res.returncode == 3 and "holds" in res.stderr and "pe compare" in res.stderr, res.stderr
        assert "Traceback" not in res.stderr and (root / "trees/calc-1").is_dir()
    finally:
        compare.send_signal(signal.SIGTERM)
        compare.wait(30)
