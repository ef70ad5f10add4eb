"""A small cron: parse five-field cron expressions and compute the next run, for `kgcrm schedule`.

Written here rather than taken from a library: the scheduler needs only standard five-field
expressions in UTC, and one less dependency is one less thing to keep patched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from kgcrm.graph.errors import InvalidInput

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday, as in cron
    days_restricted: bool
    weekdays_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        text = _ALIASES.get(expression.strip(), expression.strip())
        parts = text.split()
        if len(parts) != 5:
            raise InvalidInput(f"cron expression {expression!r}: expected 5 fields (minute hour day month weekday)")
        values = [_parse_field(part, name, low, high, expression) for part, (name, low, high) in zip(parts, _FIELDS)]
        weekdays = frozenset(d % 7 for d in values[4])  # 7 is Sunday too
        return cls(
            expression=expression, minutes=values[0], hours=values[1], days=values[2], months=values[3],
            weekdays=weekdays, days_restricted=parts[2] != "*", weekdays_restricted=parts[4] != "*",
        )

    def matches(self, moment: datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours or moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        # Cron's rule: when both day fields are restricted, either one matching is enough.
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def next_after(self, moment: datetime) -> datetime:
        """The first matching minute strictly after `moment`."""
        candidate = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60 * 5):
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise InvalidInput(f"cron expression {self.expression!r} never matches")


def _parse_field(text: str, name: str, low: int, high: int, expression: str) -> frozenset[int]:
    chosen: set[int] = set()
    high_allowed = 7 if name == "day of week" else high
    for item in text.split(","):
        range_part, _, step_text = item.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if range_part == "*":
                start, end = low, high
            elif "-" in range_part:
                start_text, end_text = range_part.split("-", 1)
                start, end = int(start_text), int(end_text)
            else:
                start = int(range_part)
                end = high if step_text else start
        except ValueError:
            raise InvalidInput(f"cron expression {expression!r}: {name} field {item!r} is not a number, range or step") from None
        if step < 1 or not (low <= start <= high_allowed and low <= end <= high_allowed and start <= end):
            raise InvalidInput(f"cron expression {expression!r}: {name} field {item!r} is outside {low}-{high}")
        chosen.update(range(start, end + 1, step))
    return frozenset(chosen)
