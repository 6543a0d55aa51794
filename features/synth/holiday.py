"""Chinese holidays of the event window (the `holidays` package, else a fixed table)."""

from __future__ import annotations

import pandas as pd

# fallback when the `holidays` package is missing: (kind, date)
_HOLIDAY_FALLBACK: tuple[tuple[str, str], ...] = (
    ("spring_festival", "2024-02-10"),
    ("spring_festival", "2025-01-29"),
    ("spring_festival", "2026-02-17"),
    ("spring_festival", "2027-02-06"),
    ("spring_festival", "2028-01-26"),
    ("dragon_boat", "2024-06-10"),
    ("dragon_boat", "2025-05-31"),
    ("dragon_boat", "2026-06-19"),
    ("dragon_boat", "2027-06-09"),
    ("dragon_boat", "2028-05-28"),
    ("mid_autumn", "2024-09-17"),
    ("mid_autumn", "2025-10-06"),
    ("mid_autumn", "2026-09-25"),
    ("mid_autumn", "2027-09-15"),
    ("mid_autumn", "2028-10-03"),
)
_HOLIDAY_NAMES = {
    "Chinese New Year (Spring Festival)": "spring_festival",
    "Dragon Boat Festival": "dragon_boat",
    "Mid-Autumn Festival": "mid_autumn",
}


def holiday_dates(first_year: int, last_year: int) -> list[tuple[str, pd.Timestamp]]:
    """First day of Spring Festival, Dragon Boat and Mid-Autumn in the years (China calendar)."""
    found: dict[tuple[str, int], pd.Timestamp] = {}
    try:
        import holidays

        cn = holidays.country_holidays(
            "CN", years=range(first_year, last_year + 1), language="en_US"
        )
        for d, name in sorted(cn.items()):
            kind = _HOLIDAY_NAMES.get(str(name))
            if kind and (kind, d.year) not in found:
                found[(kind, d.year)] = pd.Timestamp(d)
    except Exception:  # noqa: BLE001 - optional dependency; fall back to a fixed table
        found = {}
    if not found:
        for kind, day in _HOLIDAY_FALLBACK:
            ts = pd.Timestamp(day)
            if first_year <= ts.year <= last_year:
                found[(kind, ts.year)] = ts
    return sorted(((k, v) for (k, _), v in found.items()), key=lambda kv: kv[1])
