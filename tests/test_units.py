"""Sizes and durations: what docker's flags take, checked against the grammar as regular expressions."""
import random
import re

import pytest

from berth.errors import InvalidArgument
from berth.units import parse_duration, parse_size

_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)b?", re.I)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd]?)")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _expected(fn, text):
    try:
        return fn(text)
    except (AttributeError, KeyError):
        return None


def _ours(fn, text):
    try:
        return fn(text)
    except InvalidArgument:
        return None


@pytest.mark.parametrize("kind", ["size", "duration"])
def test_matches_the_grammar(kind):
    if kind == "size":
        ours = parse_size
        alphabet = "0123.bBkKmMgGtTx "

        def grammar(t):
            m = _SIZE.fullmatch(t.strip())
            return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    else:
        ours = parse_duration
        alphabet = "0129.smhdSx "

        def grammar(t):
            m = _DURATION.fullmatch(t.strip().lower())
            return float(m.group(1)) * _SECONDS[m.group(2)]
    rng = random.Random(kind)
    samples = {"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 7))) for _ in range(20000)}
    wrong = [s for s in samples if _ours(ours, s) != _expected(grammar, s)]
    assert not wrong, wrong[:10]
    assert sum(_ours(ours, s) is not None for s in samples) > 100


def test_examples():
    assert parse_size("64m") == 64 << 20
    assert parse_size(" 1.5G ") == 3 << 29
    assert parse_size("10 kb") == 10 << 10
    assert parse_size("512") == 512
    assert parse_duration("168h") == 168 * 3600
    assert parse_duration("1.5") == 1.5
    for bad in ("", "m", "1.m", ".5m", "1e3", "-1", "٣m", "1 s"):
        with pytest.raises(InvalidArgument):
            parse_size(bad) if bad != "1 s" else parse_duration(bad)
