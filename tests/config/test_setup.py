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
    ("setup: {copy: [/etc/passwd]}", "at setup.copy[0]: '/etc/passwd' does not match"),
    ("setup: {symlink: [a/../../b]}", "at setup.symlink[0]: 'a/../../b' does not match"),
    ("setup: {env: {PE_PORT: '1'}}", "at setup.env: 'PE_PORT' does not match"),
    ("setup: {env: {URL: 'http://x:{prot}'}}", "at setup.env.URL: 'http://x:{prot}' does not match"),
    ("setup: {ports: {per_tree: 33}}", "at setup.ports.per_tree: 33 is greater than the maximum of 32"),
    ("setup: {ports: {range: [80, 90]}}", "at setup.ports.range[1]: 90 is less than the minimum of 1024"),
    ("setup: {install: 5}", "at setup.install: expected one of auto, none or a string or an array, got 5"),
    ("setup: {verify: []}", "at setup.verify: [] should be non-empty"),
    ("setup: {baseline: true}", "at setup: missing key 'verify'"),
    ("setup: {timeout: 5x}", "at setup.timeout: '5x' does not match '^[1-9][0-9]*(s|m|h)$'"),
    ("setup: {env_file: ../x}", "at setup.env_file: '../x' does not match"),
    ("setup: {copy: .env}", "at setup.copy: '.env' is not of type 'array'"),
    ("setup: {bogus: 1}", "at setup: unknown key 'bogus'; expected one of: baseline, copy, env, env_file, install, "
     "ports, symlink, timeout, verify"),
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
    with pytest.raises(PeError, match=r"^setup.verify: cannot split the command .*: No closing quotation$"):
        config.parse({"verify": "echo 'unbalanced"})
    values = {"port": "4100", "tree": "f-1"}
    assert argv.expand("http://localhost:{port}/{tree}/{{literal}}", values, strict="k") == "http://localhost:4100/f-1/{literal}"
