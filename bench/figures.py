"""How the bench reports write their figures in markdown tables, so that every section reads alike."""

from __future__ import annotations


def fmt(value: float | None, digits: int = 1) -> str:
    """A figure with thousands separators; "-" when not measured, "> 60,000" for a histogram's
    open-ended last bucket (an infinite upper bound)."""
    if value is None:
        return "-"
    return "> 60,000" if value == float("inf") else f"{value:,.{digits}f}"


def ratio(part: float, whole: float | None, digits: int = 2) -> str:
    """part / whole; "-" when there is nothing to divide by."""
    return f"{part / whole:.{digits}f}" if whole else "-"
