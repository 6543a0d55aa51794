"""Taobao UserBehavior (user_behavior.csv, no header) -> SCHEMA.

Columns: user_id, item_id, category_id, behavior (``pv``, ``cart``, ``fav``, ``buy``), unix
seconds. Mapping: pv -> ``view``, cart -> ``cart``, buy -> ``order``, fav -> ``click``
(SCHEMA has no "favourite"; a favourite is an explicit interest signal stronger than a view,
so it is mapped to the next event up). The original behaviour is kept in the extra column
``source_behavior``; an unknown behaviour is passed through as event_type so that the
feature job rejects it with a reason.

Buys with the same user and the same second form one basket: order_id ``"{user}:{ts}"``.
ts = the unix seconds as China time (+08:00); a missing or unparseable timestamp stays
missing (the job rejects that row). event_id ``"{user}:{item}:{behavior}:{ts}:{n}"`` with n
the 0-based occurrence of that exact row: stable across runs and row order, unique even
when a row is repeated verbatim.

items: item_id, name ``"item {item_id}"``, category = category_id (for an item seen under
several categories, the one seen most often, ties to the latest).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.adapters.common import Converted, order_columns
from features.schema import CHINA_TZ, Col, EventType

FILE = "user_behavior.csv"
ID_TYPE = "taobao"
SOURCE_BEHAVIOR = "source_behavior"
CATEGORY_ID = "category_id"
UNIX_TS = "unix_ts"
COLUMNS = (Col.USER_ID, Col.ITEM_ID, CATEGORY_ID, SOURCE_BEHAVIOR, UNIX_TS)
BEHAVIORS: dict[str, str] = {
    "pv": EventType.VIEW.value,
    "cart": EventType.CART.value,
    "fav": EventType.CLICK.value,
    "buy": EventType.ORDER.value,
}
BUY = "buy"
# the published prefix covers these days (China time); rows outside are reported
MAIN_SPAN = (pd.Timestamp("2017-11-25", tz=CHINA_TZ), pd.Timestamp("2017-12-04", tz=CHINA_TZ))


def read_rows(src: Path) -> pd.DataFrame:
    """The raw file as text columns user_id, item_id, category_id, source_behavior, unix_ts."""
    return pd.read_csv(
        Path(src) / FILE,
        header=None,
        names=list(COLUMNS),
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )


def _items(rows: pd.DataFrame, seconds: pd.Series) -> pd.DataFrame:
    seen = rows[[Col.ITEM_ID, CATEGORY_ID]].assign(_s=seconds)
    counts = seen.groupby([Col.ITEM_ID, CATEGORY_ID], dropna=False).agg(
        _n=("_s", "size"), _last=("_s", "max")
    )
    counts = counts.reset_index().sort_values(["_n", "_last"], kind="stable")
    items = counts.drop_duplicates(Col.ITEM_ID, keep="last").sort_values(Col.ITEM_ID)
    items = items.rename(columns={CATEGORY_ID: Col.CATEGORY})
    items[Col.NAME] = "item " + items[Col.ITEM_ID]
    return order_columns(items.drop(columns=["_n", "_last"]), "items")


def convert(src: Path) -> Converted:
    """Tables and data-quality notes for the Taobao file under ``src``."""
    rows = read_rows(src)
    seconds = pd.to_numeric(rows[UNIX_TS], errors="coerce").astype("Int64")
    ts = pd.to_datetime(seconds, unit="s", utc=True).dt.tz_convert(CHINA_TZ)
    ts_text = seconds.astype("string").fillna("")

    events = rows[[Col.USER_ID, Col.ITEM_ID, SOURCE_BEHAVIOR]].copy()
    events[Col.TS] = ts
    events[Col.EVENT_TYPE] = rows[SOURCE_BEHAVIOR].map(BEHAVIORS).fillna(rows[SOURCE_BEHAVIOR])
    events[Col.ID_TYPE] = ID_TYPE
    parts = rows[[Col.USER_ID, Col.ITEM_ID, SOURCE_BEHAVIOR]].fillna("")
    content = (
        parts[Col.USER_ID]
        + ":"
        + parts[Col.ITEM_ID]
        + ":"
        + parts[SOURCE_BEHAVIOR]
        + ":"
        + ts_text.astype(str)
    )
    occurrence = content.groupby(content, sort=False).cumcount()
    events[Col.EVENT_ID] = content + ":" + occurrence.astype(str)
    is_buy = (rows[SOURCE_BEHAVIOR] == BUY) & seconds.notna()
    events[Col.ORDER_ID] = (rows[Col.USER_ID] + ":" + ts_text.astype(str)).where(is_buy)
    events = order_columns(events.rename(columns={Col.USER_ID: Col.ID_VALUE}), "events")
    items = _items(rows, seconds)

    counts = rows[SOURCE_BEHAVIOR].value_counts(dropna=False)
    notes = [
        f"{len(rows):,} rows, {rows[Col.USER_ID].nunique():,} users, "
        f"{rows[Col.ITEM_ID].nunique():,} items, {rows[CATEGORY_ID].nunique():,} categories; "
        + ", ".join(f"{k}={v:,}" for k, v in counts.items()),
        f"{int((occurrence > 0).sum()):,} rows repeat an earlier row exactly "
        "(kept as separate events, event_id suffix :1, :2, ...)",
        f"buy lines {int(is_buy.sum()):,} form {events[Col.ORDER_ID].nunique():,} baskets "
        "(same user, same second)",
        "fav mapped to click (source_behavior keeps fav)",
    ]
    missing_ts = int(seconds.isna().sum())
    if missing_ts:
        bad = rows.index[seconds.isna()].tolist()[:5]
        notes.append(
            f"{missing_ts:,} rows without a readable timestamp (rows {bad}, 0-based): "
            "ts left empty for the job to reject"
        )
    outside = ts.notna() & ((ts < MAIN_SPAN[0]) | (ts >= MAIN_SPAN[1]))
    if outside.any():
        notes.append(
            f"{int(outside.sum()):,} rows outside 2017-11-25..2017-12-03 "
            f"(earliest {ts.min().isoformat()})"
        )
    unknown = int((~rows[SOURCE_BEHAVIOR].isin(list(BEHAVIORS))).sum())
    if unknown:
        notes.append(f"{unknown:,} rows with an unknown behaviour (passed through)")
    multi = int((rows.groupby(Col.ITEM_ID)[CATEGORY_ID].nunique() > 1).sum())
    if multi:
        notes.append(f"{multi:,} items appear under more than one category (kept the most seen)")
    return Converted({"events": events, "items": items}, notes)


def to_schema(src: Path) -> dict[str, pd.DataFrame]:
    """SCHEMA tables (events, items) from the Taobao file under ``src``."""
    return convert(src).tables
