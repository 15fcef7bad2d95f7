"""Server-rendered charts: bucket sizes that fit the span, stacked counts per category."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.console.charts import BOTTOM, HEIGHT, MAX_BUCKETS, bucket_size_s, stacked_bars

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)


def test_the_bucket_grows_with_the_span_and_keeps_the_bars_few() -> None:
    assert bucket_size_s(T0, T0) == 60
    assert bucket_size_s(T0, T0 + timedelta(minutes=40)) == 60
    assert bucket_size_s(T0, T0 + timedelta(hours=3)) == 300
    assert bucket_size_s(T0, T0 + timedelta(days=3)) == 6 * 3600
    for hours in (1, 5, 30, 200, 2000):
        size = bucket_size_s(T0, T0 + timedelta(hours=hours))
        assert hours * 3600 / size < MAX_BUCKETS or size == 7 * 86400


def test_counts_stack_per_bucket_and_the_tallest_bar_fills_the_plot() -> None:
    points = [
        (T0, "human"),
        (T0 + timedelta(seconds=10), "human"),
        (T0 + timedelta(seconds=20), "busy"),
        (T0 + timedelta(minutes=5), "human"),
    ]
    chart = stacked_bars(points)
    assert chart.bucket_s == 60
    assert chart.max_count == 3
    assert chart.legend == [("human", "#2e7d32", 3), ("busy", "#d68910", 1)]
    first = [bar for bar in chart.bars if bar.title.startswith("2026-06-01 14:00")]
    assert [bar.title.split(": ")[1] for bar in first] == ["human 2", "busy 1"]
    plot_height = HEIGHT - BOTTOM
    assert sum(bar.height for bar in first) == pytest.approx(plot_height)  # the tallest: full
    assert first[1].y + first[1].height == first[0].y  # busy sits on top of human
    last = [bar for bar in chart.bars if bar.title.startswith("2026-06-01 14:05")]
    assert [round(bar.height, 1) for bar in last] == [round(plot_height / 3, 1)]
    assert len(chart.bars) == 3


def test_no_points_no_chart() -> None:
    assert stacked_bars([]).empty
