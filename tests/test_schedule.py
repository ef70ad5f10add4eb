"""The cron used by `kgcrm schedule`."""

from datetime import datetime

import pytest

from kgcrm.graph.errors import InvalidInput
from kgcrm.schedule import CronSchedule


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 3 * * 0", datetime(2026, 11, 23, 12, 0), datetime(2026, 11, 29, 3, 0)),  # next Sunday 03:00
        ("*/15 * * * *", datetime(2026, 11, 23, 12, 7), datetime(2026, 11, 23, 12, 15)),
        ("30 2 1 * *", datetime(2026, 11, 23, 0, 0), datetime(2026, 12, 1, 2, 30)),
        ("0 9 * * 1-5", datetime(2026, 11, 27, 10, 0), datetime(2026, 11, 30, 9, 0)),  # Friday → Monday
        ("@daily", datetime(2026, 11, 23, 0, 0), datetime(2026, 11, 24, 0, 0)),
        ("0 0 * * 7", datetime(2026, 11, 23, 0, 0), datetime(2026, 11, 29, 0, 0)),  # 7 is Sunday too
    ],
)
def test_next_run(expression: str, after: datetime, expected: datetime) -> None:
    assert CronSchedule.parse(expression).next_after(after) == expected


@pytest.mark.parametrize("expression", ["* * * *", "61 * * * *", "a * * * *", "*/0 * * * *", "5-1 * * * *"])
def test_bad_expressions_say_which_field(expression: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        CronSchedule.parse(expression)
    assert expression in str(caught.value)
