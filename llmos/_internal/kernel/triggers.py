"""When a scheduled goal runs: a cron expression, a fixed interval, or one moment.

What the user typed is parsed and checked here and stored as plain text (`Schedule`).
Cron fire times come from APScheduler 3.x's `CronTrigger` (month lengths, time zones,
daylight saving), with its two differences from crontab(5) handled:

- weekdays: crontab counts 0 (or 7) as Sunday and 1 as Monday; APScheduler 3.x counts 0 as
  Monday. Numbers in the day-of-week field are rewritten as names (`1-5` becomes
  `mon,tue,wed,thu,fri`), so `0 9 * * 1-5` means weekdays at 9:00, as in crontab;
- crontab runs a job when *either* a restricted day-of-month or a restricted day-of-week
  matches, APScheduler only when both do. Such an expression is refused, not reinterpreted.

Intervals are plain arithmetic on a grid anchored one interval after the job was added.
All fire times are whole seconds (epoch); a cron schedule keeps the time zone it was added in.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from llmos._internal.errors import UsageError
from llmos._internal.frozen import frozen

ScheduleKind = Literal["cron", "every", "at"]
MIN_INTERVAL_SECS = 60  # every run is a model run that costs money

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering 0-6
_APS_ORDER = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY = re.compile(r"^(?:\d+[smhd])+$")
_CRON_HINT = 'Five fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5".'


@frozen
class Schedule:
    """When a scheduled goal runs, checked and stored: a cron expression, an interval, a moment."""

    kind: ScheduleKind
    expr: str  # as given: "0 9 * * 1-5", "30m", or the ISO time
    tz: str = "UTC"  # the zone cron fields and naive times are read in
    start: float = 0.0  # every: the first fire time; at: the fire time (epoch seconds)
    interval_secs: int = 0  # every

    def describe(self) -> str:
        if self.kind == "cron":
            return f"cron {self.expr} ({self.tz})"
        if self.kind == "every":
            return f"every {self.expr}"
        when = dt.datetime.fromtimestamp(self.start, ZoneInfo(self.tz))
        return f"at {when:%Y-%m-%d %H:%M:%S} ({self.tz})"

    def first_fire_at_or_after(self, t: float) -> float | None:
        """The first fire time >= t, or None if the schedule has no more."""
        if self.kind == "at":
            return self.start if self.start >= t else None
        if self.kind == "every":
            if t <= self.start:
                return self.start
            steps = math.ceil((t - self.start) / self.interval_secs)
            return self.start + steps * self.interval_secs
        moment = dt.datetime.fromtimestamp(t, ZoneInfo(self.tz))
        fire = self._cron_trigger.get_next_fire_time(None, moment)
        return fire.timestamp() if fire is not None else None

    def fire_after(self, t: float) -> float | None:
        """The first fire time strictly after t (fire times are whole seconds)."""
        return self.first_fire_at_or_after(math.floor(t) + 1)

    def count_fires(self, first: float, last: float, *, cap: int = 1000) -> int:
        """How many fire times lie in [first, last] (counting stops at `cap`)."""
        fire = self.first_fire_at_or_after(first)
        if fire is None or fire > last:
            return 0
        if self.kind == "every":
            return min(cap, int((last - fire) // self.interval_secs) + 1)
        count = 0
        while fire is not None and fire <= last and count < cap:
            count += 1
            fire = self.fire_after(fire)
        return count

    @cached_property
    def _cron_trigger(self) -> Any:
        return cron_trigger(self.expr, self.tz)


def cron_trigger(expr: str, tz: str) -> Any:
    """APScheduler's CronTrigger for a crontab expression (imported only when needed)."""
    from apscheduler.triggers.cron import CronTrigger

    fields = _MACROS.get(expr.strip().lower(), expr).split()
    if len(fields) != 5:
        raise UsageError(f"cron expression {expr!r} has {len(fields)} field(s)", hint=_CRON_HINT)
    minute, hour, day, month, weekday = fields
    if not day.startswith("*") and not weekday.startswith("*"):
        raise UsageError(
            f"cron expression {expr!r} restricts both the day of the month and the weekday",
            hint="crontab would run on either one, which surprises most people; "
            "schedule two jobs instead.",
        )
    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=ZoneInfo(tz),
        )
    except ValueError as exc:
        raise UsageError(f"bad cron expression {expr!r}: {exc}", hint=_CRON_HINT) from exc


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler weekday names."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        base, _, step_text = item.partition("/")
        step = _number(step_text, "step", 1, 7) if step_text else 1
        if base == "*":
            first, last = 0, 6
        else:
            low, _, high = base.partition("-")
            first = _weekday(low)
            last = _weekday(high) if high else (6 if step_text else first)
            if high and last == 0 and first > 0:
                last = 7  # "5-7", "fri-sun": a range that ends on Sunday
            if last < first:
                raise UsageError(f"weekday range {base!r} runs backwards", hint=_CRON_HINT)
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(name for name in _APS_ORDER if _CRON_DAYS.index(name) in days)


def _weekday(text: str) -> int:
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    return _number(text, "weekday", 0, 7)  # 7 is Sunday too; the caller folds it with % 7


def _number(text: str, what: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise UsageError(f"bad {what} {text!r} in the day-of-week field", hint=_CRON_HINT)
    return int(text)


# Parsing what the user typed ----------------------------------------------------------------
def local_zone() -> str:
    try:
        import tzlocal

        name = tzlocal.get_localzone_name()
    except Exception:  # no zone configured: fall back rather than fail
        name = None
    return name or "UTC"


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"unknown time zone {tz!r}") from exc


def parse_cron(expr: str, *, tz: str) -> Schedule:
    _zone(tz)
    expr = " ".join(expr.split())
    cron_trigger(expr, tz)  # validates
    return Schedule("cron", expr, tz)


def parse_every(text: str, *, now: float) -> Schedule:
    compact = text.strip().lower().replace(" ", "")
    if not _EVERY.match(compact):
        raise UsageError(
            f"bad interval {text!r}", hint="Use a number and a unit: 90s, 30m, 2h, 1d, 1h30m."
        )
    seconds = sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", compact))
    if seconds < MIN_INTERVAL_SECS:
        raise UsageError(
            f"interval {text!r} is shorter than a minute",
            hint="Each run is a model run that costs money; use --every 1m or more.",
        )
    return Schedule("every", compact, start=math.ceil(now) + seconds, interval_secs=seconds)


def parse_at(text: str, *, now: float, tz: str) -> Schedule:
    """An ISO time (naive times are in `tz`), or "now": due at once."""
    zone = _zone(tz)
    if text.strip().lower() == "now":
        return Schedule("at", "now", tz, start=float(math.floor(now)))
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"bad time {text!r}", hint='Use an ISO time such as "2030-01-31T09:00", or "now".'
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    fire = float(math.floor(moment.timestamp()))
    if fire < math.floor(now):
        raise UsageError(f"{text!r} is in the past", hint='Give a future time, or "now".')
    return Schedule("at", moment.isoformat(), tz, start=fire)
