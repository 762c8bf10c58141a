"""``cycle._exact_sum`` (the queue sums of every round) against ``sum`` of Fractions."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from gpuplane.scheduler.cycle import _exact_sum

values = st.one_of(st.integers(-10**6, 10**6), st.fractions(max_denominator=1000))


@settings(max_examples=400, deadline=None)
@given(st.lists(values, max_size=8))
def test_exact_sum_is_the_fraction_sum(xs: list[Fraction | int]) -> None:
    got = _exact_sum(xs)
    assert got == sum(xs, Fraction(0)) and type(got) is Fraction
