"""Command-line flags applied to a manifest's data before it is resolved (the manifest file is not changed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pe.config.spec import Overrides
from pe.config.strategies import BUILTIN
from pe.errors import PeError


def apply_overrides(data: dict[str, Any], ov: Overrides, presets: Sequence[str]) -> dict[str, Any]:
    """`data` with the flags in `ov` applied; `presets`: the agent preset names --agent may use."""
    data = dict(data)
    if ov.plan is not None:
        data["plan"] = ov.plan
    if ov.count is not None:
        data["count"] = ov.count
    if ov.base is not None:
        data["base"] = ov.base
    if ov.jobs is not None:
        data["jobs"] = ov.jobs
    if ov.timeout is not None:
        data["timeout"] = int(ov.timeout) if ov.timeout.isdigit() else ov.timeout
    if ov.sandbox is not None:
        # The flag wins over the manifest everywhere, per-tree settings included; their
        # network and writable settings stay.
        top = data.get("sandbox")
        data["sandbox"] = {**(top if isinstance(top, dict) else {}), "mode": ov.sandbox}
        impls = _slots(data)
        for slot in impls.values():
            if isinstance(slot.get("sandbox"), dict):
                slot["sandbox"] = {**slot["sandbox"], "mode": ov.sandbox}
            elif "sandbox" in slot:
                slot["sandbox"] = ov.sandbox
        if impls:
            data["implementations"] = _unslot(data, impls)
    if ov.agent is not None and ov.agent_command is not None:
        raise PeError("--agent and --agent-command both name the agent: give one of them")
    if ov.agent is not None:
        data = _apply_agent(data, ov.agent, presets)
    if ov.agent_command is not None:
        current = data.get("agent")
        # The manifest's other settings of a command agent (env, timeout...) stay.
        keep = {k: v for k, v in current.items() if k != "command"} if isinstance(current, dict) else {}
        data["agent"] = {**keep, "preset": "command", "command": list(ov.agent_command)}
    if ov.strategy is not None:
        custom = {s["name"]: s for s in data.get("strategies", []) if isinstance(s, dict) and "name" in s}
        chosen: list[Any] = []
        for name in [s.strip() for s in ov.strategy.split(",")]:
            if not name:
                raise PeError(f"--strategy: an empty name in {ov.strategy!r}")
            if name in BUILTIN:
                chosen.append(name)
            elif name in custom:
                chosen.append(custom[name])
            else:
                known = ", ".join([*BUILTIN, *custom])
                raise PeError(f"--strategy: unknown strategy {name!r}; expected one of: {known}")
        data["strategies"] = chosen
    return data


def _apply_agent(data: dict[str, Any], flag: str, presets: Sequence[str]) -> dict[str, Any]:
    """--agent=claude (every tree) or --agent=claude:2,codex:1 (a cross-agent comparison)."""
    mix: list[tuple[str, int]] = []
    for part in [p.strip() for p in flag.split(",") if p.strip()]:
        name, _, n = part.partition(":")
        if name not in presets:
            raise PeError(f"--agent: unknown agent {name!r}; expected one of: {', '.join(presets)}")
        if n and not (n.isdigit() and int(n) > 0):
            raise PeError(f"--agent: {part!r}: the count after ':' must be a whole number above 0")
        mix.append((name, int(n) if n else 1))
    if not mix:
        raise PeError("--agent: empty")

    def entry(name: str) -> Any:
        # Keep the manifest's settings (command, model...) when it names the same preset.
        current = data.get("agent")
        if isinstance(current, dict) and current.get("preset") == name:
            return current
        return name

    data = dict(data)
    if len(mix) == 1 and ":" not in flag:
        data["agent"] = entry(mix[0][0])
        return data
    total = sum(n for _, n in mix)
    if "count" in data and data["count"] != total and flag.count(":"):
        raise PeError(f"--agent: the mix names {total} trees but count is {data['count']}; give --count={total}")
    data["count"] = total
    impls = _slots(data)
    index = 1
    for name, trees in mix:
        for _ in range(trees):
            slot = impls.setdefault(str(index), {})
            mine = slot.get("agent")
            # A per-tree agent mapping of the same preset keeps its env:/args:/model.
            if not ((isinstance(mine, dict) and mine.get("preset") == name) or mine == name):
                slot["agent"] = entry(name)
            index += 1
    data["implementations"] = _unslot(data, impls)
    data.setdefault("agent", entry(mix[0][0]))
    return data


def _slots(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of `implementations:`, list or mapping, keyed by tree index ("1".."N"); entries that are not
    mappings stay as they are, for the schema to name."""
    impls = data.get("implementations") or {}
    items = enumerate(impls, 1) if isinstance(impls, list) else impls.items() if isinstance(impls, dict) else ()
    return {str(k): dict(v) if isinstance(v, dict) else v for k, v in items}


def _unslot(data: dict[str, Any], impls: dict[str, Any]) -> Any:
    """`impls` back in the form the manifest wrote: a list stays a list (its errors name implementations[i])."""
    if not isinstance(data.get("implementations"), list):
        return impls
    return [impls[str(i)] for i in range(1, len(impls) + 1)]
