"""Record keeps the dataclass behaviour berth relies on."""
from __future__ import annotations

import pytest

from berth.record import Record


class Point(Record, order=True):
    x: int
    y: int = 0


class Tagged(Record, compare=("name",)):
    name: str
    notes: list = []
    meta: dict = {}


def test_positional_keyword_and_defaults():
    assert Point(1) == Point(x=1, y=0) == Point(1, y=0)
    assert repr(Point(1, 2)) == "Point(x=1, y=2)"
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()
    with pytest.raises(TypeError, match="unexpected arguments z"):
        Point(1, z=3)
    with pytest.raises(TypeError, match="takes 2 arguments"):
        Point(1, 2, 3)


def test_mutable_defaults_are_per_instance():
    a, b = Tagged("a"), Tagged("b")
    a.notes.append(1)
    a.meta["k"] = "v"
    assert b.notes == [] and b.meta == {} and Tagged._defaults["notes"] == []


def test_equality_hash_and_order():
    assert Tagged("a", [1]) == Tagged("a", [2]) and hash(Tagged("a", [1])) == hash(Tagged("a"))
    assert Point(1, 2) != Point(1, 3) and Point(1, 2) != (1, 2)
    assert sorted([Point(2), Point(1, 5), Point(1, 1)]) == [Point(1, 1), Point(1, 5), Point(2)]
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_subclass_adds_fields():
    class Point3(Point):
        z: int = 0
    assert Point3(1, 2, 3).z == 3 and Point3(1)._fields == ("x", "y", "z")
