"""Small charts drawn server-side as inline SVG: no JavaScript, no external asset.

Every piece of text that reaches the SVG goes through escape(); numbers are formatted by us. Each
chart carries a <title> and <desc> (role="img") so screen readers get the summary too.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_ids = itertools.count(1)


@dataclass
class Bar:
    label: str  # x-axis label (e.g. "14:00"); shown for a few bars only
    value: float  # the bar's height
    highlight: float = 0.0  # a part of the value drawn in the warning colour (errors)
    tooltip: str = ""


def _nice_max(value: float) -> float:
    """A round axis maximum at or above value: 1, 2, 5, 10, 20, 50, ..."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _fmt(number: float) -> str:
    return f"{number:.0f}" if float(number).is_integer() else f"{number:.1f}"


def bar_chart(
    bars: list[Bar],
    *,
    title: str,
    description: str = "",
    value_label: str = "value",
    width: int = 640,
    height: int = 180,
    label_every: int = 6,
) -> SafeString:
    """The bars with a y axis (0, half, top) and a time label every `label_every` bars. The chart
    scales with its box, so on a phone its text shrinks to half: the stylesheet doubles the axis
    font there and hides the rotated axis title, and the margins leave room for that size. The
    legend is the page's (HTML wraps; SVG text does not)."""
    chart_id = f"chart-{next(_ids)}"
    left, right, top, bottom = 56, 8, 12, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((b.value for b in bars), default=0))
    slot = plot_w / max(len(bars), 1)
    bar_w = max(slot * 0.7, 1)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description or title)}</desc>',
    ]
    # Y axis: gridlines at 0, half and the top, with their values.
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"></line>'
            f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(top_value * fraction))}</text>"
        )
    parts.append(
        f'<text class="chart-axis chart-axis-title" x="10" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 10 {top + plot_h / 2:.1f})">{escape(value_label)}</text>'
    )
    last = len(bars) - 1
    for index, bar in enumerate(bars):
        x = left + index * slot + (slot - bar_w) / 2
        h = plot_h * (bar.value / top_value) if top_value else 0
        y = top + plot_h - h
        tip = escape(bar.tooltip or f"{bar.label}: {_fmt(bar.value)} {value_label}")
        parts.append(
            f'<g><title>{tip}</title><rect class="chart-bar" x="{x:.1f}" y="{y:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}" rx="2"></rect>'
        )
        if bar.highlight:
            hh = plot_h * (min(bar.highlight, bar.value) / top_value)
            parts.append(
                f'<rect class="chart-bar-highlight" x="{x:.1f}" y="{top + plot_h - hh:.1f}" '
                f'width="{bar_w:.1f}" height="{hh:.1f}" rx="2"></rect>'
            )
        parts.append("</g>")
        if label_every and (index % label_every == 0 or index == last):
            # The last label ends at the plot's edge instead of being cut off by it.
            label_x, anchor = (width - right, "end") if index == last and index else (x + bar_w / 2, "middle")
            parts.append(
                f'<text class="chart-axis" x="{label_x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped


def _day(day) -> str:
    return f"{day.day} {day:%b}"


def daily_summary(series) -> str:
    """The chart in one sentence (its <desc> and caption): the average and the extremes, so the
    numbers do not depend on reading bar heights."""
    span = f"{_day(series.first)} to {_day(series.last)} {series.last.year}"
    if not series.days:
        return f"{series.title}: no data from {span}."
    count = f"{len(series.days)} day{'s' if len(series.days) != 1 else ''} with data"
    if isinstance(series.days[0][1], tuple):
        low_day, low = min(series.days, key=lambda d: d[1][0])
        high_day, high = max(series.days, key=lambda d: d[1][2])
        average = sum(v[1] for _, v in series.days) / len(series.days)
        return (
            f"{series.title}, {span}: daily average {_fmt(round(average, 1))} {series.unit}, lowest "
            f"{_fmt(low[0])} on {_day(low_day)}, highest {_fmt(high[2])} on {_day(high_day)} ({count})."
        )
    high_day, high = max(series.days, key=lambda d: d[1])
    average = sum(v for _, v in series.days) / len(series.days)
    return (
        f"{series.title}, {span}: average {_fmt(round(average, 1))} {series.unit} a day, most "
        f"{_fmt(high)} on {_day(high_day)} ({count})."
    )


def daily_chart(series, *, width: int = 640, height: int = 180) -> SafeString:
    """A connector's DailySeries: one slot per day from first to last (a day without data stays
    empty and says so). Numbers are bars; (lowest, average, highest) triples are a bar from the
    lowest to the highest with a tick at the average. Each day's <title> carries its numbers."""
    chart_id = f"chart-{next(_ids)}"
    left, right, top, bottom = 56, 8, 12, 32
    plot_w, plot_h = width - left - right, height - top - bottom
    by_day = dict(series.days)
    ranges = any(isinstance(v, tuple) for v in by_day.values())
    top_value = _nice_max(max(((v[2] if ranges else v) for v in by_day.values()), default=0))
    total = (series.last - series.first).days + 1
    slot = plot_w / max(total, 1)
    bar_w = max(slot * 0.7, 1)
    label_every = max(total // 5, 1)

    def y_of(value):
        return top + plot_h - plot_h * (value / top_value)

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(series.title)} per day ({escape(series.unit)})</title>',
        f'<desc id="{chart_id}-desc">{escape(daily_summary(series))}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = top + plot_h - fraction * plot_h
        parts.append(
            f'<line class="chart-grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"></line>'
            f'<text class="chart-axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_fmt(top_value * fraction))}</text>"
        )
    parts.append(
        f'<text class="chart-axis chart-axis-title" x="10" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 10 {top + plot_h / 2:.1f})">{escape(series.unit)}</text>'
    )
    for index in range(total):
        day = series.first + datetime.timedelta(days=index)
        x = left + index * slot + (slot - bar_w) / 2
        value = by_day.get(day)
        if value is None:
            parts.append(
                f'<g><title>{escape(_day(day))}: no data</title><rect class="chart-empty" x="{x:.1f}" '
                f'y="{top}" width="{bar_w:.1f}" height="{plot_h}"></rect></g>'
            )
        elif ranges:
            low, average, high = value
            tip = (
                f"{_day(day)}: lowest {_fmt(low)}, average {_fmt(round(average, 1))}, "
                f"highest {_fmt(high)} {series.unit}"
            )
            parts.append(
                f'<g><title>{escape(tip)}</title><rect class="chart-bar chart-range" x="{x:.1f}" '
                f'y="{y_of(high):.1f}" width="{bar_w:.1f}" height="{max(y_of(low) - y_of(high), 1):.1f}" rx="2">'
                f'</rect><line class="chart-average" x1="{x:.1f}" x2="{x + bar_w:.1f}" y1="{y_of(average):.1f}" '
                f'y2="{y_of(average):.1f}"></line></g>'
            )
        else:
            tip = f"{_day(day)}: {_fmt(value)} {series.unit}"
            parts.append(
                f'<g><title>{escape(tip)}</title><rect class="chart-bar" x="{x:.1f}" y="{y_of(value):.1f}" '
                f'width="{bar_w:.1f}" height="{plot_h - (y_of(value) - top):.1f}" rx="2"></rect></g>'
            )
        last = index == total - 1
        if index % label_every == 0 or last:
            label_x, anchor = (width - right, "end") if last and index else (x + bar_w / 2, "middle")
            parts.append(
                f'<text class="chart-axis" x="{label_x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                f"{escape(_day(day))}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped
