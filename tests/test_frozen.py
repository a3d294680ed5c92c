"""`@frozen` classes (llmos/_internal/frozen.py) behave as the frozen dataclasses they
replace: the same class written both ways must print, compare, hash, copy, pickle and
refuse changes alike."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from llmos._internal.frozen import frozen


# Each shape twice, module-level (pickle finds them by name): @frozen and a frozen dataclass.
@frozen
class PointR:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class PointD:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


@frozen(kw_only=True)
class OptionsR:
    name: str
    items: list[int] = field(default_factory=list)
    secret: str = field(default="", repr=False)
    note: str = field(default="", compare=False)
    weight: float = field(default=1.0, hash=False)


@dataclass(frozen=True, kw_only=True)
class OptionsD:
    name: str
    items: list[int] = field(default_factory=list)
    secret: str = field(default="", repr=False)
    note: str = field(default="", compare=False)
    weight: float = field(default=1.0, hash=False)


@frozen
class Point3R(PointR):
    z: int = 0


@dataclass(frozen=True)
class Point3D(PointD):
    z: int = 0


@frozen
class DerivedR:
    text: str
    length: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", len(self.text))


@dataclass(frozen=True)
class DerivedD:
    text: str
    length: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", len(self.text))


@frozen
class WeightedR:
    name: str
    weight: float = field(default=1.0, hash=False)


@dataclass(frozen=True)
class WeightedD:
    name: str
    weight: float = field(default=1.0, hash=False)


@frozen(eq=False)
class IdentityR:
    x: int


@dataclass(frozen=True, eq=False)
class IdentityD:
    x: int


@frozen
class NodeR:
    name: str
    children: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class NodeD:
    name: str
    children: list[Any] = field(default_factory=list)


PAIRS: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
    (lambda: PointR(1), lambda: PointD(1)),
    (lambda: PointR(1, 2, ("a",)), lambda: PointD(1, 2, ("a",))),
    (
        lambda: OptionsR(name="n", items=[1], secret="s", note="x"),
        lambda: OptionsD(name="n", items=[1], secret="s", note="x"),
    ),
    (lambda: Point3R(1, 2, (), 3), lambda: Point3D(1, 2, (), 3)),
    (lambda: DerivedR("abc"), lambda: DerivedD("abc")),
    (lambda: WeightedR("w", 2.0), lambda: WeightedD("w", 2.0)),
    (lambda: IdentityR(1), lambda: IdentityD(1)),
]


def _hash_or_none(thing: object) -> int | None:
    try:
        return hash(thing)
    except TypeError:  # a field holds a list: unhashable, as with a frozen dataclass
        return None


def _same_name(text: str) -> str:
    return text.replace("R(", "(").replace("D(", "(")


@pytest.mark.parametrize(("make_r", "make_d"), PAIRS)
def test_a_frozen_class_behaves_as_its_frozen_dataclass(
    make_r: Callable[[], Any], make_d: Callable[[], Any]
) -> None:
    r, d = make_r(), make_d()
    assert _same_name(repr(r)) == _same_name(repr(d))
    assert (r == make_r()) == (d == make_d())
    assert (r == object()) == (d == object()) is False
    assert dataclasses.is_dataclass(r)
    assert [f.name for f in dataclasses.fields(r)] == [f.name for f in dataclasses.fields(d)]
    assert dataclasses.asdict(r) == dataclasses.asdict(d)
    assert type(r).__match_args__ == type(d).__match_args__
    assert _hash_or_none(r) is None if _hash_or_none(d) is None else _hash_or_none(r) is not None
    if type(d).__eq__ is not object.__eq__ and _hash_or_none(d) is not None:
        assert hash(r) == hash(make_r()) == hash(d)  # by its fields, as the dataclass's
    for name in [f.name for f in dataclasses.fields(r)] + ["other"]:
        for thing in (r, d):
            with pytest.raises(FrozenInstanceError):
                setattr(thing, name, 1)
            if name != "other":
                with pytest.raises(FrozenInstanceError):
                    delattr(thing, name)
    for thing in (copy.copy(r), copy.deepcopy(r), pickle.loads(pickle.dumps(r))):
        assert thing == r or type(r).__eq__ is object.__eq__
        assert repr(thing) == repr(r)
    first = dataclasses.fields(r)[0].name
    if dataclasses.fields(r)[0].init:
        changed = dataclasses.replace(r, **{first: getattr(r, first)})
        assert repr(changed) == repr(r)


def test_compare_hash_and_repr_options_are_kept() -> None:
    a = OptionsR(name="n", note="one", weight=1.0, secret="s1")
    b = OptionsR(name="n", note="two", weight=2.0, secret="s2")
    assert a != b  # weight is compared (hash=False only leaves it out of the hash)
    assert a == OptionsR(name="n", note="other", weight=1.0, secret="s1")  # note is not compared
    assert _hash_or_none(a) is None  # its list field: unhashable, as the dataclass
    assert WeightedR("w", 1.0) != WeightedR("w", 2.0)
    assert hash(WeightedR("w", 1.0)) == hash(WeightedR("w", 2.0)) == hash(WeightedD("w", 3.0))
    assert "secret" not in repr(a)
    assert PointR(1) != Point3R(1)  # another class never equals, as with dataclasses
    same = IdentityR(1)
    assert same == same and IdentityR(1) != IdentityR(1)  # eq=False: identity


def test_a_recursive_repr_does_not_loop() -> None:
    r, d = NodeR("top"), NodeD("top")
    r.children.append(r)
    d.children.append(d)
    assert _same_name(repr(r)) == _same_name(repr(d))


def test_a_frozen_class_cannot_define_its_own_setattr() -> None:
    with pytest.raises(TypeError, match="__setattr__"):

        @frozen
        class Bad:
            x: int

            def __setattr__(self, name: str, value: Any) -> None:
                object.__setattr__(self, name, value)


def test_a_class_keeps_the_methods_it_defines() -> None:
    @frozen
    class Shown:
        x: int

        def __repr__(self) -> str:
            return "shown"

    assert repr(Shown(1)) == "shown"
    assert Shown(1) == Shown(1)


def test_a_class_that_defines_eq_is_still_hashed_by_its_fields() -> None:
    # Python sets `__hash__ = None` in a class body that defines `__eq__`; dataclasses then
    # still hash a frozen class by its fields, and so must @frozen.
    @frozen
    class ByName:
        name: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, ByName) and other.name.lower() == self.name.lower()

    @dataclass(frozen=True)
    class ByNameD:
        name: str

        def __eq__(self, other: object) -> bool:
            return isinstance(other, ByNameD) and other.name.lower() == self.name.lower()

    assert ByName("a") == ByName("A")
    assert hash(ByName("a")) == hash(ByNameD("a"))
