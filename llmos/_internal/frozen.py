"""`@frozen`: a frozen dataclass at a quarter of the cost of `@dataclass(frozen=True)` to
define.

For each frozen dataclass, Python 3.11 writes six methods as source and compiles them
(`__init__`, `__repr__`, `__eq__`, `__hash__`, `__setattr__`, `__delattr__`): about 0.7 ms a
class, and a replay defines some eighty before its first step. A `@frozen` class is a
dataclass whose `__init__` is still written by `dataclasses`; the other five are functions
shared by every such class, which read the field names worked out once for it.

It behaves as the frozen dataclass it replaces: its fields are set once, by `__init__`
(after that, setting or deleting one raises `FrozenInstanceError`, and so does setting any
other attribute); it equals an object of its exact class whose compared fields are equal,
and hashes by its hashed fields; its repr is the dataclass's. `dataclasses.fields`,
`replace`, `asdict`, copying and pickling work as on any dataclass. A class that defines
one of the shared methods keeps its own. mypy sees a frozen dataclass
(`dataclass_transform(frozen_default=True)`): an assignment is a type error too.
tests/test_frozen.py holds such classes to frozen dataclasses.

Every immutable record of llmos is one, the events and the public API's included. The one
difference a caller could meet: `dataclasses` refuses a frozen dataclass whose base is not
one, so a subclass of a `@frozen` class is `@frozen` too (plugins receive and build these
classes; none subclasses them).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
_MISSING = object()


@overload
def frozen(cls: type[T], /) -> type[T]: ...


@overload
def frozen(*, kw_only: bool = False, eq: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def frozen(
    cls: type[T] | None = None, /, *, kw_only: bool = False, eq: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """`@frozen`, `@frozen(kw_only=True, eq=False)`: as `@dataclass(frozen=True, ...)`."""

    def make(cls: type[T]) -> type[T]:
        for name in ("__setattr__", "__delattr__"):
            if name in cls.__dict__:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        made = dataclasses.dataclass(cls, repr=False, eq=False, kw_only=kw_only)
        fields = dataclasses.fields(made)  # type: ignore[arg-type]
        # What the shared methods read, worked out once per class.
        type.__setattr__(made, "_frozen_shown", tuple(f.name for f in fields if f.repr))
        type.__setattr__(made, "_frozen_compared", tuple(f.name for f in fields if f.compare))
        hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
        type.__setattr__(made, "_frozen_hashed", hashed)
        shared: dict[str, Any] = {
            "__setattr__": _set_once,
            "__delattr__": _no_delete,
            "__repr__": _repr,
        }
        if eq:
            shared |= {"__eq__": _eq, "__hash__": _hash}
        for name, method in shared.items():
            if not _defines(cls, name):
                type.__setattr__(made, name, method)
        return made

    return make if cls is None else make(cls)


def _defines(cls: type, name: str) -> bool:
    """Whether the class body defines `name` (as `dataclasses` decides it: the `__hash__ =
    None` Python adds to a class that defines `__eq__` does not count)."""
    if name == "__hash__":
        value = cls.__dict__.get("__hash__", _MISSING)
        return not (value is _MISSING or (value is None and "__eq__" in cls.__dict__))
    return name in cls.__dict__


def _set_once(self: Any, name: str, value: Any) -> None:
    """Set a field in `__init__`; after that (or any other attribute), refuse."""
    if name not in type(self).__dataclass_fields__ or name in self.__dict__:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _no_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._frozen_shown)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:  # a bool, or NotImplemented
    if other.__class__ is not self.__class__:
        return NotImplemented
    names = self._frozen_compared
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, name) for name in self._frozen_hashed))
