"""Record: the part of @dataclass berth uses, without its import cost.

`import dataclasses` pulls in inspect, ast and dis, and every @dataclass compiles generated code:
on this project's 2-core machines that was over 35 ms of each `berth run`. A Record takes its fields
from the class annotations and its defaults from class attributes (a list or dict default is
copied per instance), and gives __init__ (positional or keyword), __eq__, __hash__ and __repr__.

    class Mount(Record):
        destination: str
        options: list = []

Class keywords: `compare=("a", "b")` limits equality and hashing to those fields; `order=True`
adds ordering by the compared fields.
"""
from __future__ import annotations


class Record:
    _fields: tuple = ()
    _defaults: dict = {}
    _compare: tuple = ()

    def __init_subclass__(cls, compare: tuple | None = None, order: bool = False, **kw):
        super().__init_subclass__(**kw)
        fields = list(cls._fields)
        fields += [n for n in cls.__dict__.get("__annotations__", {}) if n not in fields]
        cls._fields = tuple(fields)
        cls._defaults = {**cls._defaults, **{n: cls.__dict__[n] for n in fields if n in cls.__dict__}}
        cls._compare = tuple(compare) if compare is not None else cls._fields
        if order:
            cls.__lt__ = lambda a, b: a._key() < b._key() if type(a) is type(b) else NotImplemented
            cls.__le__ = lambda a, b: a._key() <= b._key() if type(a) is type(b) else NotImplemented
            cls.__gt__ = lambda a, b: a._key() > b._key() if type(a) is type(b) else NotImplemented
            cls.__ge__ = lambda a, b: a._key() >= b._key() if type(a) is type(b) else NotImplemented

    def __init__(self, *args, **kwargs):
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}() takes {len(fields)} arguments, {len(args)} given")
        values = self.__dict__
        for name, value in zip(fields, args):
            values[name] = value
        for name in fields[len(args):]:
            if name in kwargs:
                values[name] = kwargs.pop(name)
            elif name in self._defaults:
                default = self._defaults[name]
                values[name] = default.copy() if isinstance(default, (list, dict)) else default
            else:
                raise TypeError(f"{type(self).__name__}() missing argument {name!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got unexpected arguments {', '.join(kwargs)}")

    def _key(self) -> tuple:
        return tuple(self.__dict__[n] for n in self._compare)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{n}={self.__dict__[n]!r}' for n in self._fields)})"
