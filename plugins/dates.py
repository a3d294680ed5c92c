"""Calendar arithmetic, exact: models often get day counts and weekdays wrong in their heads.

Install: copy (or symlink) this file into your workspace's `plugins/` folder
(`~/.llmos/plugins/`). Learner runs then offer the model `mcp__llmos_dates__days_between`
and the other tools below; a learned goal that used them replays without the model.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from llmos.plugins import Plugin

plugin = Plugin("dates", description="Exact calendar arithmetic on ISO dates (YYYY-MM-DD).")

IsoDate = Annotated[str, "an ISO date, YYYY-MM-DD"]


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


@plugin.tool(version="1.0.0")
def days_between(start: IsoDate, end: IsoDate) -> int:
    """The number of days from START to END (negative when END is earlier)."""
    return (_date(end) - _date(start)).days


@plugin.tool(version="1.0.0")
def add_days(date: IsoDate, days: int) -> str:
    """The ISO date DAYS days after DATE (before it when DAYS is negative)."""
    return (_date(date) + dt.timedelta(days=days)).isoformat()


@plugin.tool(version="1.0.0")
def weekday(date: IsoDate) -> str:
    """The day of the week of DATE, in English (Monday ... Sunday)."""
    return _date(date).strftime("%A")


@plugin.tool(version="1.0.0")
def business_days_between(
    start: IsoDate,
    end: IsoDate,
    holidays: Annotated[list[str] | None, "ISO dates that are not working days"] = None,
    count: Literal["exclusive", "inclusive"] = "exclusive",
) -> int:
    """Working days (Monday to Friday, minus HOLIDAYS) from START to END: counted after
    START up to and including END ("exclusive", the default), or including START too."""
    first, last = _date(start), _date(end)
    if last < first:
        return -business_days_between(end, start, holidays, count)
    off = {_date(h) for h in holidays or ()}
    day = first if count == "inclusive" else first + dt.timedelta(days=1)
    total = 0
    while day <= last:
        if day.weekday() < 5 and day not in off:
            total += 1
        day += dt.timedelta(days=1)
    return total
