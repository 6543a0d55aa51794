"""Row-level validation against SCHEMA.md: split a raw table into clean rows and rejects with reasons.

Vectorised over whole columns (no per-row Python) so the same logic ports to a
distributed dataframe engine. A row is rejected for the first rule it breaks,
in the order: missing required field, bad enum, bad timestamp, bad number,
negative number, conditionally required field, repeated key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from features.errors import LinliInputError
from features.schema import CHINA_TZ, Col, TableSpec

_OFFSET_RE = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"
_EPOCH_S_RE = r"^\d{9,11}(?:\.\d+)?$"  # Unix seconds (2001..5138), optional fraction
_EPOCH_MS_RE = r"^\d{12,14}$"  # Unix milliseconds
TS_EXPECTED = "expected ISO-8601 date and time, optional offset, or Unix epoch seconds / ms"


class SchemaError(LinliInputError):
    """A file or required column is missing or unreadable: the job cannot go on."""


@dataclass(frozen=True)
class Validated:
    """The outcome of validating one table."""

    clean: pd.DataFrame
    rejects: pd.DataFrame  # the original row (as read) plus a `reason` column

    @property
    def counts(self) -> dict[str, int]:
        """Rows read, kept and rejected, and rejects per reason kind."""
        kinds = (
            self.rejects[Col.REASON].str.split(":", n=1).str[0].value_counts().to_dict()
            if len(self.rejects)
            else {}
        )
        return {
            "read": len(self.clean) + len(self.rejects),
            "kept": len(self.clean),
            "rejected": len(self.rejects),
            **{f"rejected[{k}]": int(v) for k, v in sorted(kinds.items())},
        }


def blank_to_na(s: pd.Series) -> pd.Series:
    """Strip strings and turn empty ones into missing values."""
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        s = s.astype("string").str.strip()
        return s.mask(s == "")
    return s


def parse_timestamps(s: pd.Series) -> pd.Series:
    """Parse ISO-8601 timestamps to tz-aware China time; a value without offset is China time."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert(CHINA_TZ)
    if pd.api.types.is_datetime64_dtype(s):
        return s.dt.tz_localize(CHINA_TZ)
    text = s.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=s.index, dtype=f"datetime64[ns, {CHINA_TZ}]")
    epochs: tuple[tuple[str, Literal["s", "ms"]], ...] = ((_EPOCH_S_RE, "s"), (_EPOCH_MS_RE, "ms"))
    for pattern, unit in epochs:
        epoch = text.str.fullmatch(pattern, na=False)
        if epoch.any():  # a Unix epoch is an instant: UTC, shown in China time
            num = pd.Series(pd.to_numeric(text[epoch], errors="coerce"), index=text[epoch].index)
            out[epoch] = _in_range(pd.to_datetime(num, unit=unit, utc=True, errors="coerce"))
            text = text.mask(epoch)
    has_offset = text.str.contains(_OFFSET_RE, regex=True, na=False)
    if has_offset.any():
        aware = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
        out[has_offset] = _in_range(aware).dt.tz_convert(CHINA_TZ)
    naive_mask = ~has_offset & text.notna()
    if naive_mask.any():
        naive = pd.to_datetime(text[naive_mask], format="ISO8601", errors="coerce")
        out[naive_mask] = _in_range(naive).dt.tz_localize(
            CHINA_TZ, ambiguous="NaT", nonexistent="NaT"
        )
    return out


def _in_range(ts: pd.Series) -> pd.Series:
    """Timestamps nanoseconds cannot hold (before 1677 or after 2262, a day's margin) -> NaT."""
    lo, hi = pd.Timestamp.min + pd.Timedelta(days=1), pd.Timestamp.max - pd.Timedelta(days=1)
    if ts.dt.tz is not None:
        lo, hi = lo.tz_localize(ts.dt.tz), hi.tz_localize(ts.dt.tz)
    return ts.where((ts >= lo) & (ts <= hi)).dt.as_unit("ns")


def parse_numbers(s: pd.Series) -> pd.Series:
    """Parse numbers to float64; anything unparseable or non-finite becomes NaN."""
    num = pd.to_numeric(s, errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def validate(raw: pd.DataFrame, spec: TableSpec, source: str = "") -> Validated:
    """Split `raw` into typed clean rows and rejected rows with a reason each."""
    missing = [c for c in spec.required_columns if c not in raw.columns]
    if missing:
        raise SchemaError(
            f"table {spec.name!r}: required column(s) missing: {', '.join(missing)}",
            file=source or None,
            column=missing[0],
            hint="add the column (see SCHEMA.md)",
        )
    raw = raw.reset_index(drop=True)
    df = pd.DataFrame({c: blank_to_na(raw[c]) for c in raw.columns}, index=raw.index)
    reason = pd.Series(pd.NA, index=df.index, dtype="string")

    def flag(
        mask: pd.Series | np.ndarray, prefix: str, shown: pd.Series | None = None, suffix: str = ""
    ) -> None:
        """Give rows in `mask` (without a reason yet) the reason `prefix` (+ their shown value)."""
        hit = pd.Series(mask, index=df.index).fillna(False).astype(bool) & reason.isna()
        if hit.any():
            reason[hit] = prefix if shown is None else prefix + _shown(shown[hit]) + suffix

    for name in spec.required_columns:
        flag(df[name].isna(), f"missing required field: {name}")

    for cs in spec.columns:
        if cs.name not in df.columns:
            continue
        values = df[cs.name]
        present = values.notna()
        if cs.kind == "enum" and cs.enum is not None:
            bad = present & ~values.isin(cs.enum)
            flag(bad, f"unknown {cs.name}: ", values)
        elif cs.kind == "timestamp":
            parsed = parse_timestamps(values)
            flag(
                present & parsed.isna(),
                f"unparseable timestamp in {cs.name}: ",
                values,
                f" ({TS_EXPECTED})",
            )
            df[cs.name] = parsed
        elif cs.kind == "number":
            parsed = parse_numbers(values)
            flag(present & parsed.isna(), f"unparseable number in {cs.name}: ", values)
            if cs.nonnegative:
                flag(parsed < 0, f"negative {cs.name}: ", values)
            df[cs.name] = parsed
        else:
            df[cs.name] = values.astype("string")

    for col, types in spec.required_when.items():
        if Col.EVENT_TYPE not in df.columns:
            continue
        needs = df[Col.EVENT_TYPE].isin(list(types))
        has = df[col].notna() if col in df.columns else pd.Series(False, index=df.index)
        flag(needs & ~has, f"missing required field: {col} for ", df[Col.EVENT_TYPE])

    ok = reason.isna()
    if spec.key:
        # only duplicates among otherwise valid rows; the first valid copy is kept
        dup = (
            df[ok]
            .duplicated(subset=list(spec.key), keep="first")
            .reindex(df.index, fill_value=False)
        )
        flag(dup, f"repeated {'/'.join(spec.key)}: same record as an earlier row, kept once")
        ok = reason.isna()

    rejects = raw[~ok].copy()
    rejects[Col.REASON] = reason[~ok].astype(str)
    clean = _with_all_columns(df[ok].reset_index(drop=True), spec)
    return Validated(clean=clean, rejects=rejects.reset_index(drop=True))


def _with_all_columns(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    """Every column of the spec, typed; an optional column the file lacks is all missing."""
    absent = [cs for cs in spec.columns if cs.name not in df.columns]
    if not absent:
        return df
    return df.assign(**{cs.name: _missing_column(cs.kind, df.index) for cs in absent})


def _missing_column(kind: str, index: pd.Index) -> pd.Series:
    if kind == "timestamp":
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]").dt.tz_localize(CHINA_TZ)
    if kind == "number":
        return pd.Series(np.nan, index=index, dtype="float64")
    return pd.Series(pd.NA, index=index, dtype="string")


def _shown(values: pd.Series) -> pd.Series:
    """The offending value, shortened, for a reason text."""
    return values.astype("string").fillna("").str.slice(0, 60)
