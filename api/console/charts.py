"""Server-rendered charts: counts over time as stacked bars (drawn as SVG by a template).

Pure functions, no database and no web framework: a list of ``(time, category)`` points
becomes time buckets of a readable size and one rectangle per category in each bucket.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

#: Bucket sizes tried in order (seconds): the first that gives at most ``MAX_BUCKETS`` wins.
BUCKET_SIZES_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_BUCKETS = 48
#: Bars are never wider than a 12th of the plot (one bucket is not a wall of colour).
MIN_SLOTS = 12
WIDTH, HEIGHT = 640, 180
#: Room for the axis labels (left and bottom), in SVG units.
LEFT, BOTTOM = 36, 22
#: Colours by category (others get the palette in order).
COLOURS = {
    "human": "#2e7d32",
    "qualified": "#2e7d32",
    "machine": "#8e6c8a",
    "busy": "#d68910",
    "no_answer": "#b7950b",
    "unavailable": "#7f8c8d",
    "invalid_number": "#c0392b",
    "rejected": "#a04000",
    "network_error": "#922b21",
    "failed": "#641e16",
    "cancelled": "#95a5a6",
    "not_interested": "#c0392b",
    "callback": "#1f5fbf",
    "incomplete": "#95a5a6",
    "wrong_person": "#a04000",
    "do_not_call": "#641e16",
    "no_consent": "#d68910",
    "transferred": "#117a65",
}
PALETTE = ("#1f5fbf", "#117a65", "#b03a2e", "#7d3c98", "#b9770e", "#2e4053")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    #: Tooltip text: bucket start, category and count.
    title: str


@dataclass
class Chart:
    """A stacked bar chart ready to draw: bars, legend, axis labels, sizes."""

    bars: list[Bar] = field(default_factory=list)
    legend: list[tuple[str, str, int]] = field(default_factory=list)
    #: Labels under the x axis: (x, text).
    ticks: list[tuple[float, str]] = field(default_factory=list)
    max_count: int = 0
    bucket_s: int = 0
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: int = BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars


def bucket_size_s(first: datetime, last: datetime) -> int:
    """The smallest bucket size that spreads ``first..last`` over at most MAX_BUCKETS bars."""
    span = (last - first).total_seconds()
    for size in BUCKET_SIZES_S:
        if span / size < MAX_BUCKETS:
            return size
    return BUCKET_SIZES_S[-1]


def _floor(moment: datetime, size_s: int) -> datetime:
    stamp = moment.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(stamp - stamp % size_s, UTC)


def _label(moment: datetime, size_s: int) -> str:
    return moment.strftime("%m-%d" if size_s >= 86400 else "%H:%M")


def stacked_bars(points: Iterable[tuple[datetime, str]]) -> Chart:
    """Count ``(time, category)`` points per bucket and category, stacked in one bar a bucket."""
    points = [(when, category) for when, category in points if when is not None]
    chart = Chart()
    if not points:
        return chart
    first = min(when for when, _ in points)
    last = max(when for when, _ in points)
    size = bucket_size_s(first, last)
    start = _floor(first, size)
    counts: Counter[tuple[int, str]] = Counter()
    for when, category in points:
        index = int((when.astimezone(UTC) - start).total_seconds() // size)
        counts[(index, category)] += 1
    buckets = max(index for index, _ in counts) + 1
    totals = Counter(category for _, category in points)
    categories = sorted(totals, key=lambda c: (-totals[c], c))
    colours = {c: COLOURS.get(c, PALETTE[i % len(PALETTE)]) for i, c in enumerate(categories)}
    per_bucket: Counter[int] = Counter()
    for (index, _), count in counts.items():
        per_bucket[index] += count
    chart.max_count = max(per_bucket.values())
    chart.bucket_s = size
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM
    slot = plot_w / max(buckets, MIN_SLOTS)
    bar_w = max(slot * 0.8, 1.0)
    for index in range(buckets):
        moment = start + timedelta(seconds=index * size)
        x = LEFT + index * slot + (slot - bar_w) / 2
        y = float(plot_h)
        for category in categories:
            count = counts.get((index, category), 0)
            if not count:
                continue
            height = plot_h * count / chart.max_count
            y -= height
            title = f"{moment:%Y-%m-%d %H:%M} UTC: {category} {count}"
            chart.bars.append(
                Bar(
                    round(x, 1),
                    round(y, 1),
                    round(bar_w, 1),
                    round(height, 1),
                    colours[category],
                    title,
                )
            )
    step = max(1, buckets // 6)
    for index in range(0, buckets, step):
        moment = start + timedelta(seconds=index * size)
        chart.ticks.append((round(LEFT + index * slot + slot / 2, 1), _label(moment, size)))
    chart.legend = [(c, colours[c], totals[c]) for c in categories]
    return chart
