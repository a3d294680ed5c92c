"""A typed Python function as a tool: its JSON input schema, and calling it with JSON input.

The schema is what the model sees (and what the SDK validates the model's input against);
`bind` turns a recorded or received input back into keyword arguments, so a tool gets the
same arguments whether the model called it or Follower mode replays the call.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin, get_type_hints

from llmos._internal.errors import LlmosError

WORKDIR_PARAMETER = "workdir"
_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_ARRAYS = (list, tuple, set, frozenset, Sequence)
_SUPPORTED = "str, int, float, bool, Literal[...], list[...], dict[str, ...], or Optional of them"


class SchemaError(LlmosError):
    """A tool function's parameters cannot be described to the model, or an input is wrong."""


def input_schema(function: Callable[..., Any]) -> tuple[dict[str, Any], bool]:
    """The JSON Schema of `function`'s parameters, and whether it takes `workdir`."""
    name = getattr(function, "__name__", "tool")
    try:
        hints = get_type_hints(function, include_extras=True)
    except Exception as exc:  # a bad or unresolvable annotation
        raise SchemaError(f"tool {name}: cannot read its type hints ({exc})") from exc
    properties: dict[str, Any] = {}
    required: list[str] = []
    wants_workdir = False
    for param in inspect.signature(function).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise SchemaError(f"tool {name}: parameter {param.name} must be a named parameter")
        if param.name == WORKDIR_PARAMETER:
            wants_workdir = True
            continue
        if param.name not in hints:
            raise SchemaError(f"tool {name}: parameter {param.name} needs a type annotation")
        try:
            schema, optional = _schema(hints[param.name])
        except SchemaError as exc:
            raise SchemaError(f"tool {name}: parameter {param.name}: {exc.message}") from exc
        if param.default is not param.empty:
            if isinstance(param.default, str | int | float | bool):
                schema["default"] = param.default
        elif not optional:
            required.append(param.name)
        properties[param.name] = schema
    schema = {"type": "object", "properties": properties, "required": required}
    schema["additionalProperties"] = False
    return schema, wants_workdir


def return_schema(function: Callable[..., Any]) -> dict[str, Any] | None:
    """The schema of what `function` returns, from its return annotation: None when it has
    none, returns None, or has a type a schema cannot describe (nothing is then checked)."""
    try:
        hint = get_type_hints(function).get("return", inspect.Signature.empty)
    except Exception:
        return None
    if hint in (inspect.Signature.empty, None, type(None), Any):
        return None
    try:
        schema, optional = _schema(hint)
    except SchemaError:
        return None
    if optional and isinstance(schema.get("type"), str):
        schema["type"] = [schema["type"], "null"]
    return schema or None


def _schema(hint: Any) -> tuple[dict[str, Any], bool]:
    """(schema, optional) for one annotation."""
    origin = get_origin(hint)
    if origin is Annotated:
        base, *extras = get_args(hint)
        schema, optional = _schema(base)
        notes = [e for e in extras if isinstance(e, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema, optional
    if origin in (typing.Union, types.UnionType):
        members = [a for a in get_args(hint) if a is not type(None)]
        if len(members) != 1:
            raise SchemaError(f"unions other than Optional are not supported; use {_SUPPORTED}")
        return _schema(members[0])[0], True
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}, False
    if hint is Any:
        return {}, False
    if origin is Literal:
        values = list(get_args(hint))
        kinds = {_SCALARS.get(type(v)) for v in values}
        enum: dict[str, Any] = {"enum": values}
        if len(kinds) == 1 and None not in kinds:
            enum["type"] = kinds.pop()
        return enum, False
    if hint in _ARRAYS or origin in _ARRAYS:
        args = get_args(hint)
        items = _schema(args[0])[0] if args else {}
        return ({"type": "array", "items": items} if items else {"type": "array"}), False
    if hint is dict or origin in (dict, Mapping):
        return {"type": "object"}, False
    raise SchemaError(f"type {hint!r} is not supported; use {_SUPPORTED}")


def bind(
    function: Callable[..., Any],
    schema: dict[str, Any],
    arguments: Mapping[str, Any],
    *,
    workdir: Path | None,
    wants_workdir: bool,
) -> dict[str, Any]:
    """Keyword arguments for `function` from a JSON input; SchemaError on unknown or missing."""
    properties = schema.get("properties", {})
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        raise SchemaError(f"unknown argument(s): {', '.join(unknown)}")
    missing = sorted(set(schema.get("required", ())) - set(arguments))
    if missing:
        raise SchemaError(f"missing argument(s): {', '.join(missing)}")
    kwargs = dict(arguments)
    if wants_workdir:
        if workdir is None:
            raise SchemaError("this tool needs the run's working folder")
        kwargs[WORKDIR_PARAMETER] = workdir
    return kwargs
