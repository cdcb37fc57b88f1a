"""The tree's env file: sh, bash and python-dotenv read every value back as pe wrote it (issue 17)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pe.treesetup import envfile

# Each spelled so that all three readers agree.
SHARED = [
    "plain", "", "a=b", "/srv/x y", "it's", "it's \"quoted\"", "back\\slash", "ends with \\", "\\'", "x\\\\y",
    "$HOME", "$(id)", "`id`", "a;b|c&d", "multi\nline", "tab\there", "ünïcode", "#hash", " lead", "trail ",
    "{{braces}}", "'", '"', "it's a \\ and a \"",
]
# A ' or \\ with a $ or `, or a ${: no spelling python-dotenv shares with sh; written for sh.
SH_ONLY = ["it's $HOME", "`it's`", "${HOME}", "'${x}'"]


def _env(values: list[str]) -> dict[str, str]:
    return {f"V{i}": v for i, v in enumerate(values)}


def _shell(shell: str, path: Path, names: list[str]) -> list[str]:
    script = f'set -a; . "{path}"; set +a; printf "%s\\0" ' + " ".join(f'"${n}"' for n in names)
    out = subprocess.run([shell, "-c", script], check=True, capture_output=True).stdout.decode()
    return out.split("\0")[:-1]


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_sh_and_bash_read_every_value_back(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"no {shell}")
    env = _env(SHARED + SH_ONLY)
    path = tmp_path / ".pe.env"
    envfile.write(path, env, "feat-1")
    assert _shell(shell, path, list(env)) == list(env.values())


def test_python_dotenv_reads_every_value_back(tmp_path: Path) -> None:
    dotenv = pytest.importorskip("dotenv")
    env = _env(SHARED)
    path = tmp_path / ".pe.env"
    envfile.write(path, env, "feat-1")
    assert dotenv.dotenv_values(path) == env
    assert dotenv.dotenv_values(path, interpolate=False) == env


def test_a_single_quote_is_not_dropped_by_python_dotenv(tmp_path: Path) -> None:
    # The bug: shlex.quote wrote it's as 'it'"'"'s', a line python-dotenv skipped.
    dotenv = pytest.importorskip("dotenv")
    path = tmp_path / ".pe.env"
    envfile.write(path, {"GREETING": "it's", "AFTER": "x"}, "feat-1")
    assert dotenv.dotenv_values(path) == {"GREETING": "it's", "AFTER": "x"}
