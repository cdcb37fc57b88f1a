"""Load pe's JSON Schemas and turn validation errors into one-line messages."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_FILES = ("feature.schema.json", "agent.schema.json", "setup.schema.json", "checks.schema.json")


def schema_text(name: str) -> str:
    # Installed, the top-level schemas/ ships as the package pe.schemas. Running from a
    # checkout (`python -m pytest` puts the source tree first on sys.path) there is no
    # such package under pe/: read schemas/ beside it.
    source = Path(__file__).resolve().parents[2] / "schemas" / name
    if source.is_file():
        return source.read_text()
    return resources.files("pe.schemas").joinpath(name).read_text()


@cache
def preset_names() -> tuple[str, ...]:
    """The agent presets a manifest may name: the schema's list is the one pe.agents must match."""
    return tuple(json.loads(schema_text("agent.schema.json"))["anyOf"][0]["enum"])


@cache
def feature_validator() -> Any:
    # Imported here: jsonschema costs ~100 ms and `pe --help` must stay fast.
    import jsonschema
    from referencing import Registry, Resource

    schemas = {name: json.loads(schema_text(name)) for name in SCHEMA_FILES}
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    # JSON Schema counts 2.0 as an integer; Python does not (range(2.0) fails deep inside pe):
    # for pe an integer is written without a fraction.
    base = jsonschema.Draft202012Validator
    strict = base.TYPE_CHECKER.redefine(
        "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
    )
    validator = jsonschema.validators.extend(base, type_checker=strict)
    return validator(schemas["feature.schema.json"], registry=registry)


def key_path(parts: Any) -> str:
    """['implementations', '2', 'agent'] -> 'implementations.2.agent'; [] -> '(top level)'."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _type_matches(instance: Any, schema: dict[str, Any]) -> bool:
    kinds: dict[str, type | tuple[type, ...]] = {
        "object": dict, "array": list, "string": str, "integer": int, "number": (int, float)
    }
    if "enum" in schema:
        return isinstance(instance, str)
    kind = schema.get("type")
    if kind is None:
        return False
    return isinstance(instance, kinds[kind]) and not (kind in ("integer", "number") and isinstance(instance, bool))


def _refine(error: Any) -> Any:
    """For anyOf, the error inside the branch whose type the value has.

    `agent: {preset: command}` should say "'command' is a required property",
    not "expected one of command or a mapping".
    """
    while error.validator == "anyOf" and error.context:
        branches = error.schema["anyOf"]
        fitting = [i for i, b in enumerate(branches) if _type_matches(error.instance, b)]
        if len(fitting) != 1:
            return error
        inner = [e for e in error.context if e.relative_schema_path[0] == fitting[0]]
        if not inner:
            return error
        import jsonschema

        error = jsonschema.exceptions.best_match(inner)
    return error


def _describe(error: Any) -> str:
    if error.validator == "additionalProperties" and "unexpected" in error.message:
        known = sorted(error.schema.get("properties", {}))
        extra = error.message.split("(")[-1].split(" w")[0]
        return f"unknown key {extra}; expected one of: {', '.join(known)}"
    if error.validator == "required":
        return f"missing key {error.message.split(' is a required')[0]}"
    if error.validator == "anyOf":
        # Say what the alternatives were instead of jsonschema's repr of the value.
        alternatives = []
        for sub in error.schema["anyOf"]:
            if "enum" in sub:
                alternatives.append("one of " + ", ".join(map(str, sub["enum"])))
            elif sub.get("type") == "object":
                req = sub.get("required", [])
                alternatives.append("a mapping" + (f" with {', '.join(req)}" if req else ""))
            elif "pattern" in sub:
                alternatives.append(f"a string like {sub['pattern']}")
            elif "type" in sub:
                alternatives.append(f"{'an' if sub['type'][0] in 'aeiou' else 'a'} {sub['type']}")
        return f"expected {' or '.join(alternatives)}, got {json.dumps(error.instance, default=str)[:60]}"
    if error.validator == "pattern" and "\x00" in str(error.validator_value):
        # A pattern that forbids NUL or '=' reads badly as a regex: say what is wrong instead.
        what = "NUL" if "\x00" in str(error.instance) else "'='"
        return f"{json.dumps(error.instance)[:60]} contains {what}, which the OS cannot pass in the environment"
    return str(error.message)[:200]


def first_error(instance: Any) -> tuple[str, str] | None:
    """(key path, message) of the most relevant schema error, or None if valid."""
    import jsonschema

    errors = list(feature_validator().iter_errors(instance))
    if not errors:
        return None
    # Report in document order the error best_match ranks first, refined into anyOf branches.
    best = _refine(jsonschema.exceptions.best_match(errors, key=_relevance))
    return key_path(best.absolute_path), _describe(best)


def _relevance(error: Any) -> Any:
    from jsonschema.exceptions import relevance

    return relevance(error)
