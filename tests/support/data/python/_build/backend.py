"""A PEP 517/660 build backend of about forty lines, so the fixture installs offline.

Also what tests/support/treesetup.py uses to write the little wheels the fixture depends on.
"""

from __future__ import annotations

import os
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_wheel(directory: str, name: str, version: str, files: dict[str, str], requires: list[str] = (),
                extras: dict[str, list[str]] | None = None) -> str:
    dist = name.replace("-", "_")
    meta = [f"Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    for extra, reqs in (extras or {}).items():
        meta.append(f"Provides-Extra: {extra}")
        meta += [f'Requires-Dist: {r}; extra == "{extra}"' for r in reqs]
    info = f"{dist}-{version}.dist-info"
    files = {**files, f"{info}/METADATA": "\n".join(meta) + "\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: pe-fixture\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{info}/RECORD"])
    wheel = f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, wheel), "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


def _project() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        return tomllib.load(fh)["project"]


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    pth = {"pe_fixture.pth": os.path.join(ROOT, "src") + "\n"}
    return write_wheel(wheel_directory, p["name"], p["version"], pth, p.get("dependencies", []),
                       p.get("optional-dependencies"))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    p = _project()
    src = os.path.join(ROOT, "src", "pe_fixture", "__init__.py")
    with open(src) as fh:
        files = {"pe_fixture/__init__.py": fh.read()}
    return write_wheel(wheel_directory, p["name"], p["version"], files, p.get("dependencies", []),
                       p.get("optional-dependencies"))


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("the fixture installs from its tree only")
