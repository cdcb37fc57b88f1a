"""The manifest's setup: key: bad values are one line naming the key, exit 3, nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest

from pe.config import argv
from pe.config import setup as config
from pe.errors import PeError
from pe.main import main

HEAD = "feature: feat\nplan: specs/plan.md\nagent: {preset: command, command: [echo]}\n"

CORPUS = [
    # What was expected comes first, then the bad value (issue 17).
    ("setup: {copy: [/etc/passwd]}", "at setup.copy[0]: expected a path or glob relative to the repository root; "
     "no absolute paths and no '..', got '/etc/passwd'"),
    ("setup: {symlink: [a/../../b]}", "at setup.symlink[0]: expected a path or glob relative to the repository root; "
     "no absolute paths and no '..', got 'a/../../b'"),
    ("setup: {env: {PE_PORT: '1'}}", "at setup.env: expected a variable name: letters, digits and _, not starting "
     "with a digit or PE_, got 'PE_PORT'"),
    ("setup: {env: {URL: 'http://x:{prot}'}}", "at setup.env.URL: expected a string whose placeholders are {port}, "
     "{port0}..{portN}, {index}, {tree}, {feature}, {tree_dir} or {root}, got 'http://x:{prot}'"),
    ("setup: {ports: {per_tree: 33}}", "at setup.ports.per_tree: expected at most 32, got 33"),
    ("setup: {ports: {range: [80, 90]}}", "at setup.ports.range[1]: expected at least 1024, got 90"),
    ("setup: {install: 5}", "at setup.install: expected one of auto, none or a string or a list, got 5"),
    ("setup: {verify: []}", "at setup.verify: expected at least 1 item, got []"),
    ("setup: {baseline: true}", "at setup: missing key 'verify'"),
    ("setup: {timeout: 5x}", "at setup.timeout: expected a whole number with s, m or h (e.g. 45m), got '5x'"),
    ("setup: {timeout: 200h}", "at setup.timeout: expected a duration from 1s to 7 days (604800 s or 168h), got '200h'"),
    ("setup: {env_file: ../x}", "at setup.env_file: expected a string matching '^\\.?[A-Za-z0-9_][A-Za-z0-9._-]{0,99}$', "
     "got '../x'"),
    ("setup: {copy: .env}", "at setup.copy: expected a list, got '.env'"),
    ("setup: {bogus: 1}", "at setup: unknown key: expected one of: baseline, copy, env, env_file, install, "
     "ports, symlink, timeout, verify; got 'bogus'"),
    ("setup: {ports: {range: [5000, 5000], per_tree: 2}}", "at setup.ports.range: expected a range of at least "
     "per_tree=2 ports, got [5000, 5000]"),
]


@pytest.mark.parametrize(("body", "message"), CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_setup_is_one_line_exit_3(repo: Path, capsys: pytest.CaptureFixture[str], body: str,
                                      message: str) -> None:
    (repo / "features").mkdir()
    (repo / "features" / "feat.yaml").write_text(HEAD + body + "\n")
    assert main(["init", "--feature=feat", f"--dir={repo}"]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"pe: error: features/feat.yaml: {message}") and err.count("\n") == 1
    assert not (repo / "trees").exists()


def test_commands_split_without_a_shell_and_placeholders_expand() -> None:
    cfg = config.parse({"verify": "npm test -- --grep 'two words'", "install": ["make", "deps"]})
    assert cfg.verify == ("npm", "test", "--", "--grep", "two words")
    assert cfg.install == ("make", "deps")
    assert config.parse({}).install == "auto" and config.parse({}).copy_is_default
    with pytest.raises(PeError, match=r"^setup.verify: expected a command line shlex can split \(No closing "
                                      r"quotation\), got \"echo 'unbalanced\"$"):
        config.parse({"verify": "echo 'unbalanced"})
    values = {"port": "4100", "tree": "f-1"}
    assert argv.expand("http://localhost:{port}/{tree}/{{literal}}", values, strict="k") == "http://localhost:4100/f-1/{literal}"
