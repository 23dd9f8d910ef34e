"""Feed dates: repair what feedparser gets wrong, then settle published/updated in UTC."""

from __future__ import annotations

import calendar
import re
import time
import warnings
from datetime import UTC, datetime, timedelta

from dateutil import parser as dateutil_parser
from dateutil.tz import tzoffset

# Abbreviations feedparser does not know: it silently reads them as UTC.
# IST is read as India Standard Time, the common meaning in news feeds.
_ZONE_OFFSETS_HOURS = {
    "CET": 1,
    "CEST": 2,
    "MEZ": 1,
    "MESZ": 2,
    "BST": 1,
    "IST": 5.5,
    "WET": 0,
    "WEST": 1,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "JST": 9,
    "KST": 9,
    "HKT": 8,
    "SGT": 8,
    "PHT": 8,
    "AWST": 8,
    "ACST": 9.5,
    "ACDT": 10.5,
    "AEST": 10,
    "AEDT": 11,
    "NZST": 12,
    "NZDT": 13,
    "HST": -10,
    "AKST": -9,
    "AKDT": -8,
    "NST": -3.5,
    "NDT": -2.5,
    "BRT": -3,
    "ART": -3,
    "SAST": 2,
    "CAT": 2,
    "EAT": 3,
    "WAT": 1,
    "PKT": 5,
    "ICT": 7,
    "WIB": 7,
}
ZONE_ABBREVIATIONS = {
    name: tzoffset(name, int(hours * 3600)) for name, hours in _ZONE_OFFSETS_HOURS.items()
}
# dateutil knows these itself; listing them keeps it from warning about unknown zones.
for _name in ("UTC", "GMT", "UT", "Z"):
    ZONE_ABBREVIATIONS[_name] = tzoffset(_name, 0)
for _name, _hours in (("EST", -5), ("EDT", -4), ("CST", -6), ("CDT", -5)):
    ZONE_ABBREVIATIONS[_name] = tzoffset(_name, _hours * 3600)
for _name, _hours in (("MST", -7), ("MDT", -6), ("PST", -8), ("PDT", -7)):
    ZONE_ABBREVIATIONS[_name] = tzoffset(_name, _hours * 3600)

_TRAILING_ABBREVIATION = re.compile(r"\b([A-Za-z]{2,5})\)?\s*$")
_EXPLICIT_ZONE = re.compile(r"(?:[Zz]|[+-]\d{2}:?\d{2}|\b[A-Za-z]{1,5}\)?)\s*$")
_ISO_DATE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})")
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_RFC822_DATE = re.compile(r"\b(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?\s+(\d{4})\b")
# 1970-01-01 and earlier is what broken generators emit for "no date".
_EARLIEST = datetime(1970, 1, 2, tzinfo=UTC)


def _has_impossible_fields(raw: str) -> bool:
    """True for 2024-13-45 and 31 Feb: feedparser would roll them into another date."""
    match = _ISO_DATE.match(raw)
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = _RFC822_DATE.search(raw)
        if not match or match.group(2).title() not in _MONTHS:
            return False
        day, month, year = int(match.group(1)), _MONTHS[match.group(2).title()], int(match[3])
    try:
        datetime(year, month, day)
    except ValueError:
        return True
    return False


def _parse_with_dateutil(raw: str) -> datetime | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = dateutil_parser.parse(raw, tzinfos=ZONE_ABBREVIATIONS)
        except (ValueError, OverflowError, TypeError):
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # no zone given: UTC, flagged by normalize
    return value.astimezone(UTC)


def parse_feed_date(raw: str | None, parsed: time.struct_time | None) -> datetime | None:
    """Return an aware UTC datetime from feedparser's raw and parsed values, or None."""
    value: datetime | None
    if raw is not None and raw.strip():
        if _has_impossible_fields(raw):
            return None
        abbreviation = _TRAILING_ABBREVIATION.search(raw)
        zone = abbreviation.group(1).upper() if abbreviation else None
        if zone in _ZONE_OFFSETS_HOURS or parsed is None:
            value = _parse_with_dateutil(raw)
        else:
            value = _from_struct(parsed)
    elif parsed is not None:
        value = _from_struct(parsed)
    else:
        return None
    if value is None or value < _EARLIEST:
        return None
    return value


def _from_struct(parsed: time.struct_time) -> datetime | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def has_explicit_zone(raw: str | None) -> bool:
    """True when a raw date string names its zone or offset."""
    return bool(raw and _EXPLICIT_ZONE.search(raw.strip()))


def settle_dates(
    published_at: datetime | None,
    updated_at: datetime | None,
    *,
    published_raw: str | None,
    discovered_at: datetime,
    future_tolerance: timedelta,
) -> tuple[datetime, datetime | None, tuple[str, ...]]:
    """Return (published_at, updated_at, flags): UTC, inferred when missing, clamped if future."""
    flags: list[str] = []
    latest = discovered_at + future_tolerance
    if published_at is None:
        published = discovered_at
        flags.append("published_inferred")
    else:
        published = published_at.astimezone(UTC)
        if published_raw and not has_explicit_zone(published_raw):
            flags.append("published_zone_assumed")
        if published > latest:
            published = discovered_at
            flags.append("published_clamped")
    updated = updated_at.astimezone(UTC) if updated_at is not None else None
    if updated is not None and updated > latest:
        updated = discovered_at
        flags.append("updated_clamped")
    return published, updated, tuple(flags)
