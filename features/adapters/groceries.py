"""Groceries baskets (groceries.csv: one basket per line, comma-separated categories) -> SCHEMA.

No users, times or prices. Basket k (0-based line number) is one ``order`` by an anonymous
shopper: id_type ``basket``, id_value = order_id = ``"k"``, event_id ``"{k}:{item}"``,
ts = :data:`~features.adapters.common.ANCHOR` + k minutes (only to keep file order; the
real dates are unknown). item_id = name = category = the item string, with surrounding
spaces stripped (the published labels ``"cream cheese "`` and ``"roll products "`` carry a
trailing space). The file has no quoting, so a line is split on every comma.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.adapters.common import ANCHOR, Converted, offsets, order_columns
from features.schema import Col, EventType

FILE = "groceries.csv"
ID_TYPE = "basket"
SEP = ","
_K = "_k"


def read_lines(src: Path) -> pd.DataFrame:
    """One row per item: basket index ``_k`` (0-based line number) and the raw item string."""
    text = (Path(src) / FILE).read_text(encoding="utf-8")
    baskets = pd.Series(text.splitlines(), dtype=str)
    lines = baskets.str.split(SEP).explode().rename(Col.ITEM_ID)
    return lines.rename_axis(_K).reset_index()


def convert(src: Path) -> Converted:
    """Tables and data-quality notes for the Groceries file under ``src``."""
    raw = read_lines(src)
    n_baskets = int(raw[_K].max()) + 1 if len(raw) else 0
    item = raw[Col.ITEM_ID].str.strip()
    stripped = int((item != raw[Col.ITEM_ID]).sum())
    lines = raw.assign(**{Col.ITEM_ID: item})
    lines = lines[lines[Col.ITEM_ID].notna() & (lines[Col.ITEM_ID] != "")]
    empty = n_baskets - lines[_K].nunique()

    counted = lines.groupby([_K, Col.ITEM_ID], sort=False).size().rename(Col.QUANTITY)
    events = counted.reset_index()
    k = events[_K].astype(str)
    events[Col.ORDER_ID] = k
    events[Col.ID_VALUE] = k
    events[Col.EVENT_ID] = k + ":" + events[Col.ITEM_ID]
    events[Col.TS] = ANCHOR + offsets(minutes=events[_K])
    events[Col.EVENT_TYPE] = EventType.ORDER.value
    events[Col.ID_TYPE] = ID_TYPE
    events = order_columns(events.drop(columns=[_K]), "events")

    names = pd.Series(pd.unique(events[Col.ITEM_ID]), dtype=str).sort_values()
    items = pd.DataFrame({Col.ITEM_ID: names, Col.NAME: names, Col.CATEGORY: names})
    items = order_columns(items, "items")

    notes = [
        f"{n_baskets:,} baskets, {len(events):,} lines, {len(items):,} distinct items; "
        f"ts = {ANCHOR.isoformat()} + basket index minutes (no real dates)",
    ]
    if stripped:
        notes.append(f"{stripped:,} item strings had surrounding spaces (stripped)")
    if empty:
        notes.append(f"{empty:,} empty baskets (no events)")
    repeats = len(lines) - len(events)
    if repeats:
        notes.append(f"{repeats:,} repeated items within a basket folded into quantity")
    return Converted({"events": events, "items": items}, notes)


def to_schema(src: Path) -> dict[str, pd.DataFrame]:
    """SCHEMA tables (events, items) from the Groceries file under ``src``."""
    return convert(src).tables
