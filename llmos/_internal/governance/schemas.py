"""Declared schemas, checked: plugin tools' inputs and outputs, orchestration artifacts.

A small JSON Schema validator for the keywords llmos's own schemas and plugins' declared
ones use (type, enum, const, properties, required, additionalProperties, items, minItems,
maxItems, minLength, maxLength, pattern, minimum, maximum, exclusiveMinimum,
exclusiveMaximum, anyOf, oneOf, allOf, not). A schema that uses another keyword is refused
when it is declared (`unsupported_keywords`), so nothing is silently left unchecked. It is
plain Python with no dependency: the full `jsonschema` package costs 80 ms to import, more
than a whole replay.

`check_artifact` is the seam for orchestration artifacts (a plan): the result is a checker
result on the run's bus like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmos._internal.kernel.run_context import RunContext

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "title", "description", "default", "examples", "$comment", "format"}
)
_KEYWORDS = (
    frozenset(
        "type enum const properties required additionalProperties items minItems maxItems "
        "minLength maxLength pattern minimum maximum exclusiveMinimum exclusiveMaximum anyOf "
        "oneOf allOf not uniqueItems".split()
    )
    | _ANNOTATIONS
)
_MAX_ERRORS = 5


def unsupported_keywords(schema: Any, where: str = "") -> list[str]:
    """The keywords of `schema` (and its subschemas) this validator does not check."""
    if not isinstance(schema, dict):
        return [] if isinstance(schema, bool) else [f"{where or '(root)'}: not a schema"]
    found = [f"{where or '(root)'}: {k}" for k in schema if k not in _KEYWORDS]
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            found += unsupported_keywords(schema[key], f"{where}/{key}")
    for name, sub in (schema.get("properties") or {}).items():
        found += unsupported_keywords(sub, f"{where}/properties/{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or ()):
            found += unsupported_keywords(sub, f"{where}/{key}/{i}")
    return found


def validate(schema: Any, value: Any) -> list[str]:
    """What is wrong with `value` against `schema` (at most a few problems), [] if nothing."""
    problems: list[str] = []
    for problem in _check(schema, value, "$"):
        problems.append(problem)
        if len(problems) >= _MAX_ERRORS:
            break
    return problems


def _type_ok(name: str, value: Any) -> bool:
    if name == "integer":
        if isinstance(value, float):
            return value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    expected = _TYPES.get(name)
    return expected is not None and isinstance(value, expected)


def _check(schema: Any, value: Any, at: str) -> Iterator[str]:
    if schema is True or schema is None:
        return
    if schema is False:
        yield f"{at}: no value is allowed here"
        return
    kind = schema.get("type")
    if kind is not None:
        names = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(n, value) for n in names):
            yield f"{at}: expected {' or '.join(names)}, got {_json_type(value)}"
            return
    if "enum" in schema and value not in schema["enum"]:
        yield f"{at}: {_shown(value)} is not one of {_shown(schema['enum'])}"
    if "const" in schema and value != schema["const"]:
        yield f"{at}: expected {_shown(schema['const'])}"
    if isinstance(value, dict):
        yield from _check_object(schema, value, at)
    elif isinstance(value, list):
        yield from _check_array(schema, value, at)
    elif isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            yield f"{at}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield f"{at}: longer than {schema['maxLength']} characters"
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield f"{at}: does not match {schema['pattern']!r}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield from _check_number(schema, value, at)
    for sub in schema.get("allOf") or ():
        yield from _check(sub, value, at)
    if "anyOf" in schema and not any(not validate(s, value) for s in schema["anyOf"]):
        yield f"{at}: matches none of anyOf"
    if "oneOf" in schema and sum(1 for s in schema["oneOf"] if not validate(s, value)) != 1:
        yield f"{at}: does not match exactly one of oneOf"
    if "not" in schema and not validate(schema["not"], value):
        yield f"{at}: matches what `not` excludes"


def _check_object(schema: dict[str, Any], value: dict[str, Any], at: str) -> Iterator[str]:
    properties = schema.get("properties") or {}
    for name in schema.get("required") or ():
        if name not in value:
            yield f"{at}: {name!r} is required"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            yield from _check(properties[name], item, f"{at}.{name}")
        elif extra is False:
            yield f"{at}: {name!r} is not allowed"
        elif isinstance(extra, dict):
            yield from _check(extra, item, f"{at}.{name}")


def _check_array(schema: dict[str, Any], value: list[Any], at: str) -> Iterator[str]:
    if len(value) < schema.get("minItems", 0):
        yield f"{at}: fewer than {schema['minItems']} items"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield f"{at}: more than {schema['maxItems']} items"
    if schema.get("uniqueItems"):
        seen = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(seen)) != len(seen):
            yield f"{at}: items are not unique"
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            yield from _check(items, item, f"{at}[{i}]")


def _check_number(schema: dict[str, Any], value: float, at: str) -> Iterator[str]:
    if "minimum" in schema and value < schema["minimum"]:
        yield f"{at}: below the minimum {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        yield f"{at}: above the maximum {schema['maximum']}"
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        yield f"{at}: must be above {schema['exclusiveMinimum']}"
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        yield f"{at}: must be below {schema['exclusiveMaximum']}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    for name, kind in _TYPES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def output_value(text: str, schema: dict[str, Any]) -> Any:
    """A tool's rendered output as the value its schema describes: the text itself for a
    string schema, else the JSON it holds (llmos renders a returned value as JSON)."""
    kind = schema.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind and "object" not in kind):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_artifact(ctx: RunContext, name: str, schema: dict[str, Any], value: Any) -> list[str]:
    """Check an orchestration artifact (`name`: "plan"...) against its declared schema and
    record the result on the run's bus; returns the problems ([] if none)."""
    from llmos._internal.kernel.events import CheckerResults

    problems = validate(schema, value)
    reason = "; ".join(problems)
    ctx.bus.publish(
        CheckerResults(
            run_id=ctx.run_id,
            phase="artifact",
            results=[{"checker": f"schema:{name}", "passed": not problems, "reason": reason}],
            allowed=not problems,
            tool=name,
        )
    )
    return [f"the {name} does not match its schema: {p}" for p in problems]
