"""The long form of the fault trials runs only when asked for: `python -m pytest -m slow tests/faults`.

pyproject declares the `slow` marker; without `-m slow` (or PE_SLOW_TESTS=1)
those tests are deselected, so the ordinary suite runs the fast subset only.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "slow" in (config.getoption("markexpr") or "") or os.environ.get("PE_SLOW_TESTS") == "1":
        return
    # Deselected rather than skipped: hundreds of "skipped" trials would only be noise in the summary.
    slow = [i for i in items if "slow" in i.keywords and HERE in Path(str(i.fspath)).parents]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i not in slow]
