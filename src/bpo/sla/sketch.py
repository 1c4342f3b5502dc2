"""A mergeable latency sketch: a fixed log-scale histogram of durations in seconds.

Buckets, numbered so that SQL and Python agree on every value:

- 0: the zero bucket, [0, 0.1 s).
- 1..208: [BOUNDS[i-1], BOUNDS[i]), where BOUNDS[j] = 0.1 s * 2^(j/8) rounded to the microsecond, so
  each bucket is about 9.05% wider than the one before and eight buckets make a doubling; BOUNDS[208] =
  6,710,886.4 s (about 77.7 days).
- 209: the overflow bucket, [6,710,886.4 s, infinity).

``bucket_of(x)`` is the number of bounds at or below x. Bounds are compared, never computed from
logarithms: ``floor(ln(x) / ln(base))`` lands exact boundaries such as 12.8 s in either neighbour
depending on how the expression and the C library round.

``quantile(q)`` is ``percentile_disc(q)``: the value of rank max(1, ceil(q * n)) in ascending order. It
answers with its bucket's representative, the harmonic mean of the bucket's bounds, which is within
``MAX_RELATIVE_ERROR`` (4.33%) of every value in the bucket. So for a true quantile x from 0.1 s to
6,710,886.4 s the answer is within 4.33% of x; below 0.1 s it is 0 (off by less than 0.1 s); past the
top bound it is 6,710,886.4 s, a lower bound.

The sketch is stored as ``{"bucket": count}`` (``to_json``), only non-zero buckets, so an hourly rollup
row keeps it in a JSONB column and a period merges by adding counts per key::

    SELECT jsonb_object_agg(bucket, n) FROM (
        SELECT key AS bucket, sum(value::bigint) AS n
        FROM rollups, jsonb_each_text(rollups.latency) GROUP BY key
    ) AS merged
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

MIN_SECONDS = 0.1
BUCKETS_PER_DOUBLING = 8
DOUBLINGS = 26
BOUNDS: tuple[float, ...] = tuple(
    round(MIN_SECONDS * 2 ** (j / BUCKETS_PER_DOUBLING), 6)
    for j in range(BUCKETS_PER_DOUBLING * DOUBLINGS + 1)
)
ZERO_BUCKET = 0
OVERFLOW_BUCKET = len(BOUNDS)
BUCKET_COUNT = OVERFLOW_BUCKET + 1
MAX_SECONDS = BOUNDS[-1]
MAX_RELATIVE_ERROR = max((upper - lower) / (upper + lower) for lower, upper in pairwise(BOUNDS))


def bucket_of(seconds: float) -> int:
    if not 0 <= seconds < math.inf:
        raise ValueError(f"a latency is a finite number of seconds >= 0, got {seconds!r}")
    return bisect_right(BOUNDS, seconds)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    _check_bucket(bucket)
    if bucket == ZERO_BUCKET:
        return 0.0, MIN_SECONDS
    if bucket == OVERFLOW_BUCKET:
        return MAX_SECONDS, math.inf
    return BOUNDS[bucket - 1], BOUNDS[bucket]


def bucket_value(bucket: int) -> float:
    lower, upper = bucket_bounds(bucket)
    if bucket == ZERO_BUCKET:
        return 0.0
    if bucket == OVERFLOW_BUCKET:
        return lower
    return 2 * lower * upper / (lower + upper)


def _check_bucket(bucket: int) -> None:
    if not 0 <= bucket < BUCKET_COUNT:
        raise ValueError(f"bucket {bucket} outside 0..{BUCKET_COUNT - 1}")


@dataclass
class LatencySketch:
    counts: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for bucket, count in self.counts.items():
            _check_bucket(bucket)
            if count <= 0:
                raise ValueError(f"bucket {bucket} has count {count}; only positive counts are kept")

    @classmethod
    def of(cls, seconds: Iterable[float]) -> LatencySketch:
        sketch = cls()
        for value in seconds:
            sketch.add(value)
        return sketch

    def add(self, seconds: float, count: int = 1) -> None:
        if count <= 0:
            raise ValueError(f"count must be positive, got {count}")
        bucket = bucket_of(seconds)
        self.counts[bucket] = self.counts.get(bucket, 0) + count

    def __add__(self, other: LatencySketch) -> LatencySketch:
        counts = dict(self.counts)
        for bucket, count in other.counts.items():
            counts[bucket] = counts.get(bucket, 0) + count
        return LatencySketch(counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def quantile(self, q: float) -> float | None:
        if not 0 <= q <= 1:
            raise ValueError(f"quantile must be within 0..1, got {q}")
        total = self.total
        if not total:
            return None
        # The same float expression as PostgreSQL's percentile_disc, so ranks agree exactly.
        rank = max(1, math.ceil(q * total))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return bucket_value(bucket)
        raise AssertionError("unreachable: rank is at most the total count")

    def to_json(self) -> dict[str, int]:
        return {str(bucket): count for bucket, count in sorted(self.counts.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, int]) -> LatencySketch:
        return cls({int(bucket): int(count) for bucket, count in data.items()})
