"""Load pe's JSON Schemas and turn validation errors into one-line messages."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILES = ("feature.schema.json", "agent.schema.json", "setup.schema.json", "checks.schema.json")


@cache
def schema_text(name: str) -> str:
    # Read once per process: a validate of 50 manifests read all 4 texts once per manifest
    # (the validation cache key, pe/config/manifest.py), a path resolve and a file read each time. Installed, the
    # top-level schemas/ ships as the package pe.schemas. Running from a
    # checkout (`python -m pytest` puts the source tree first on sys.path) there is no
    # such package under pe/: read schemas/ beside it.
    source = Path(__file__).resolve().parents[2] / "schemas" / name
    if source.is_file():
        return source.read_text()
    from importlib import resources  # here: with tempfile, ~3 ms of every status's start (issue 18)

    return resources.files("pe.schemas").joinpath(name).read_text()


@cache
def texts() -> str:
    """Every schema's text, one after another: the part of a manifest's cache key that says
    which schemas passed it (the same key as before, so an earlier pe's caches still hold)."""
    return "".join(map(schema_text, SCHEMA_FILES))


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


SHOWN_MAX = 80  # characters of a bad value an error line quotes
_KINDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
          "number": "a number", "boolean": "true or false", "null": "nothing"}


def shown(value: Any) -> str:
    """A bad value as an error line quotes it: its repr, cut to SHOWN_MAX characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else text[:SHOWN_MAX - 3] + "..."


def _alternatives(error: Any) -> str:
    out = []
    for i, sub in enumerate(error.schema["anyOf"]):
        if "$ref" in sub:
            # The branch's own schema, as jsonschema resolved it when it tried the branch.
            tried = [e.schema for e in error.context if list(e.relative_schema_path)[:2] == [i, "$ref"]]
            sub = tried[0] if tried else sub
        if "enum" in sub:
            out.append("one of " + ", ".join(map(str, sub["enum"])))
        elif sub.get("type") == "object":
            req = sub.get("required", [])
            out.append("a mapping" + (f" with {', '.join(req)}" if req else ""))
        elif "pattern" in sub:
            out.append(f"a string like {sub['pattern']}")
        elif "type" in sub:
            out.append(_KINDS.get(sub["type"], sub["type"]))
    return " or ".join(out)


def _pattern(schema: dict[str, Any], is_key: bool) -> str:
    """What a pattern asks for: its schema's description when that is short, else the regex."""
    desc = str(schema.get("description", ""))
    if desc and len(desc) <= 120:
        return desc[0].lower() + desc[1:].rstrip(".")
    return f"{'a key' if is_key else 'a string'} matching '{schema['pattern']}'"


def _describe(error: Any) -> str:
    """What was expected, then the bad value (at most SHOWN_MAX characters of it): the start of a line
    cut by a narrow terminal still says what is wrong."""
    kind, want, got = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties" and "unexpected" in error.message:
        known = sorted(error.schema.get("properties", {}))
        extra = [k for k in got if k not in known]
        return f"unknown key: expected one of: {', '.join(known)}; got {shown(extra[0]) if extra else '?'}"
    if kind == "required":
        return f"missing key {error.message.split(' is a required')[0]}"
    if kind == "anyOf":
        return f"expected {_alternatives(error)}, got {shown(got)}"
    if kind == "pattern" and "\x00" in str(want):
        # A pattern that forbids NUL or '=' reads badly as a regex: say what is wrong instead.
        what = "NUL" if "\x00" in str(got) else "'='"
        return f"expected no {what} (the OS cannot pass it in the environment), got {shown(got)}"
    is_key = "propertyNames" in error.absolute_schema_path
    simple = {
        "type": lambda: " or ".join(_KINDS.get(t, t) for t in ([want] if isinstance(want, str) else want)),
        "enum": lambda: "one of " + ", ".join(map(str, want)),
        "const": lambda: repr(want),
        "minimum": lambda: f"at least {want}",
        "maximum": lambda: f"at most {want}",
        "exclusiveMinimum": lambda: f"more than {want}",
        "pattern": lambda: _pattern(error.schema, is_key),
        "minLength": lambda: "a non-empty string" if want == 1 else f"at least {want} characters",
        "maxLength": lambda: f"at most {want} characters",
    }
    if kind in simple:
        return f"expected {simple[kind]()}, got {shown(got)}"
    sized = {"minItems": ("at least", "item"), "maxItems": ("at most", "item"),
             "minProperties": ("at least", "key"), "maxProperties": ("at most", "key")}
    if kind in sized:
        bound, noun = sized[kind]
        many = f"{want} {noun}{'s' if want != 1 else ''}"
        return f"expected {bound} {many}, got {len(got) if bound == 'at most' else shown(got)}"
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
