"""Whole-string checks over character sets."""
from berth.charsets import DIGITS, LOWER_HEX, is_number, made_of


def test_made_of():
    assert made_of("deadbeef", LOWER_HEX)
    assert not made_of("", LOWER_HEX)
    assert not made_of("dead beef", LOWER_HEX)
    assert not made_of("DEAD", LOWER_HEX)
    assert not made_of("12x3", DIGITS)  # a stranger in the middle, not only at the ends


def test_is_number():
    assert is_number("1") and is_number("10.25")
    for bad in ("", ".", "1.", ".5", "1.2.3", "+1", "-1", "١", "1_0"):
        assert not is_number(bad), bad
