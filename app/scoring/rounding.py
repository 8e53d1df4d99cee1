"""Integer division with an instrument's rounding rule: how mean and prorated scores become stored integers.

Each function takes a numerator >= 0 and a denominator > 0 (scores are never negative: weights are checked) and
returns the quotient rounded as named; exact integer arithmetic, never a float."""

from __future__ import annotations

from collections.abc import Callable


def half_up(numerator: int, denominator: int) -> int:
    """Nearest integer, a half rounded up (2.5 -> 3)."""
    return (2 * numerator + denominator) // (2 * denominator)


def half_even(numerator: int, denominator: int) -> int:
    """Nearest integer, a half rounded to the even neighbour (2.5 -> 2, 3.5 -> 4)."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        return quotient + 1
    return quotient


def floor(numerator: int, denominator: int) -> int:
    return numerator // denominator


def ceiling(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


ROUNDING: dict[str, Callable[[int, int], int]] = {
    "half_up": half_up,
    "half_even": half_even,
    "floor": floor,
    "ceiling": ceiling,
}
