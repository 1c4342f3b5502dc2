"""The latency sketch: bucket numbering shared with SQL, quantiles within the documented error of exact
percentile_disc values, and merging that equals sketching the combined data."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.sla.sketch import (
    BOUNDS,
    BUCKET_COUNT,
    BUCKETS_PER_DOUBLING,
    MAX_RELATIVE_ERROR,
    MAX_SECONDS,
    MIN_SECONDS,
    OVERFLOW_BUCKET,
    ZERO_BUCKET,
    LatencySketch,
    bucket_bounds,
    bucket_of,
    bucket_value,
)

SIXTY_DAYS = 60 * 86400.0
GROWTH = 2 ** (1 / BUCKETS_PER_DOUBLING)

in_range = st.floats(math.log(MIN_SECONDS), math.log(MAX_SECONDS), exclude_max=True).map(math.exp)
on_bounds = st.sampled_from(BOUNDS)
just_below_bounds = on_bounds.map(lambda bound: math.nextafter(bound, 0))
tiny = st.floats(0, MIN_SECONDS, exclude_max=True)
huge = st.floats(MAX_SECONDS, 1e9)
latencies = st.one_of(in_range, in_range, in_range, on_bounds, just_below_bounds, tiny, huge)
# Timestamps have microsecond resolution, so real latencies are whole microseconds.
microsecond_latencies = st.integers(0, 10**13).map(lambda us: us / 1_000_000)


def exact_quantile(values: list[float], q: float) -> float:
    # PostgreSQL's percentile_disc: the first value whose rank reaches q of the count.
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# Buckets


def test_bounds_are_a_log_scale_from_a_tenth_of_a_second_past_sixty_days() -> None:
    assert BOUNDS[0] == MIN_SECONDS == 0.1
    assert MAX_SECONDS == BOUNDS[-1] == 6_710_886.4
    assert MAX_SECONDS > SIXTY_DAYS
    assert len(BOUNDS) == 26 * 8 + 1
    assert (ZERO_BUCKET, OVERFLOW_BUCKET, BUCKET_COUNT) == (0, 209, 210)
    for lower, upper in pairwise(BOUNDS):
        assert upper / lower == pytest.approx(GROWTH, rel=1e-5)
    for bound in BOUNDS:
        assert round(bound * 1_000_000) / 1_000_000 == bound


def test_error_bound_is_the_relative_half_width_of_the_widest_bucket() -> None:
    assert math.isclose(MAX_RELATIVE_ERROR, (GROWTH - 1) / (GROWTH + 1), rel_tol=1e-4)
    assert MAX_RELATIVE_ERROR < 0.0433


def test_every_bound_opens_its_bucket_and_the_value_just_below_stays_in_the_previous_one() -> None:
    for index, bound in enumerate(BOUNDS):
        assert bucket_of(bound) == index + 1
        assert bucket_of(math.nextafter(bound, 0)) == index
        assert bucket_bounds(index + 1)[0] == bound
    assert bucket_of(0.0) == ZERO_BUCKET
    assert bucket_of(1e12) == OVERFLOW_BUCKET


@pytest.mark.parametrize("bad", [-1e-9, -1.0, math.nan, math.inf])
def test_bucket_of_refuses_what_is_not_a_latency(bad: float) -> None:
    with pytest.raises(ValueError, match="latency"):
        bucket_of(bad)


@pytest.mark.parametrize("bad", [-1, BUCKET_COUNT])
def test_bucket_numbers_outside_the_scheme_are_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        bucket_bounds(bad)


@given(latencies)
def test_a_value_lies_within_the_bounds_of_its_bucket(seconds: float) -> None:
    lower, upper = bucket_bounds(bucket_of(seconds))
    assert lower <= seconds < upper


@given(st.integers(1, OVERFLOW_BUCKET - 1))
def test_a_bucket_value_is_within_the_error_bound_of_both_ends(bucket: int) -> None:
    lower, upper = bucket_bounds(bucket)
    value = bucket_value(bucket)
    assert lower < value < upper
    assert (value - lower) / lower <= MAX_RELATIVE_ERROR * (1 + 1e-12)
    assert (upper - value) / upper <= MAX_RELATIVE_ERROR * (1 + 1e-12)


# Quantiles


def test_empty_sketch_has_no_quantiles() -> None:
    assert LatencySketch().quantile(0.5) is None
    assert LatencySketch().total == 0


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan])
def test_quantile_must_be_a_fraction(bad: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        LatencySketch.of([1.0]).quantile(bad)


def test_quantile_ranks_like_percentile_disc() -> None:
    sketch = LatencySketch.of([1.0, 2.0, 3.0, 4.0])
    assert sketch.quantile(0.0) == bucket_value(bucket_of(1.0))
    assert sketch.quantile(0.5) == bucket_value(bucket_of(2.0))
    assert sketch.quantile(0.51) == bucket_value(bucket_of(3.0))
    assert sketch.quantile(1.0) == bucket_value(bucket_of(4.0))


def test_values_outside_the_range_report_zero_or_the_top_bound() -> None:
    assert LatencySketch.of([0.0, 0.05]).quantile(1.0) == 0.0
    assert LatencySketch.of([100 * 86400.0]).quantile(0.5) == MAX_SECONDS


@given(
    st.lists(latencies, min_size=1, max_size=300),
    st.one_of(st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]), st.floats(0, 1)),
)
@settings(max_examples=300)
def test_quantiles_are_within_the_documented_error_of_exact_percentiles(
    values: list[float], q: float
) -> None:
    estimate = LatencySketch.of(values).quantile(q)
    exact = exact_quantile(values, q)
    assert estimate == bucket_value(bucket_of(exact))
    if exact < MIN_SECONDS:
        assert estimate == 0.0
    elif exact >= MAX_SECONDS:
        assert estimate == MAX_SECONDS <= exact
    else:
        assert abs(estimate - exact) <= MAX_RELATIVE_ERROR * exact * (1 + 1e-12)


@given(st.lists(microsecond_latencies, min_size=1, max_size=200))
def test_p50_p90_p95_of_microsecond_latencies(values: list[float]) -> None:
    sketch = LatencySketch.of(values)
    for q in (0.5, 0.9, 0.95):
        exact = exact_quantile(values, q)
        estimate = sketch.quantile(q)
        assert estimate is not None
        if MIN_SECONDS <= exact < MAX_SECONDS:
            assert abs(estimate - exact) <= MAX_RELATIVE_ERROR * exact * (1 + 1e-12)


# Merging and storage


sketches = st.lists(latencies, max_size=50).map(LatencySketch.of)


@given(st.lists(latencies, max_size=100), st.lists(latencies, max_size=100))
def test_merge_equals_the_sketch_of_the_combined_data(first: list[float], second: list[float]) -> None:
    a, b = LatencySketch.of(first), LatencySketch.of(second)
    merged = a + b
    assert merged == LatencySketch.of(first + second)
    assert merged.total == len(first) + len(second)
    assert (a, b) == (LatencySketch.of(first), LatencySketch.of(second))


@given(sketches, sketches, sketches)
def test_merge_is_commutative_and_associative(a: LatencySketch, b: LatencySketch, c: LatencySketch) -> None:
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert a + LatencySketch() == a
    assert sum([a, b, c], LatencySketch()) == a + b + c


@given(sketches)
def test_json_round_trip(sketch: LatencySketch) -> None:
    stored = json.loads(json.dumps(sketch.to_json()))
    assert LatencySketch.from_json(stored) == sketch
    assert all(count > 0 for count in stored.values())


def test_json_keys_are_bucket_numbers() -> None:
    sketch = LatencySketch.of([0.0, 12.8, 12.8, 1e9])
    assert sketch.to_json() == {"0": 1, "57": 2, "209": 1}


def test_add_with_a_count_is_adding_that_many_times() -> None:
    once = LatencySketch()
    once.add(30.0, count=3)
    assert once == LatencySketch.of([30.0, 30.0, 30.0])
    with pytest.raises(ValueError, match="positive"):
        once.add(30.0, count=0)


@pytest.mark.parametrize("stored", [{"210": 1}, {"-1": 1}, {"5": 0}, {"5": -2}])
def test_stored_sketches_outside_the_scheme_are_refused(stored: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="bucket"):
        LatencySketch.from_json(stored)
