"""Ta-Feng baskets (tafeng_history.json, tafeng_future.json, tafeng_merged.json) -> SCHEMA.

The files hold baskets only: ``{user: [[-1], basket, ..., [-1]]}`` with ``[-1]`` padding,
items re-indexed as ints, no dates, prices or categories. A user's baskets are the history
baskets followed by the one future basket (``basket_index`` 0, 1, ...).

There are **no real dates**: basket k of a user is placed at :data:`ANCHOR` + k days
(2000-11-01T00:00:00+08:00, the start of the original Nov 2000 - Feb 2001 data), so every
user's first basket is on the same synthetic day and consecutive baskets are one day apart.
One ``order`` event per basket line: event_id ``"{user}:{k}:{item}"``, order_id
``"{user}:{k}"``, id_type ``tafeng``, quantity = times the item appears in the basket (1 in
the published files). Extra columns ``basket_index`` and ``is_future`` keep the split.

No items table is written: the data has no names or categories to put in one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from features.adapters.common import Converted, offsets, order_columns
from features.schema import CHINA_TZ, Col, EventType

ID_TYPE = "tafeng"
ANCHOR = pd.Timestamp("2000-11-01T00:00:00", tz=CHINA_TZ)
HISTORY = "tafeng_history.json"
FUTURE = "tafeng_future.json"
MERGED = "tafeng_merged.json"
PAD = -1

# read_baskets columns
BASKET_INDEX = "basket_index"
IS_FUTURE = "is_future"
_POS = "_pos"  # position of a line's basket in its user's JSON list (padding included)
_ITEM_POS = "_item_pos"


def _lines(path: Path) -> pd.DataFrame:
    """One row per item of one JSON file: user_id, _pos (basket position), _item_pos, item_id."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    per_user = pd.Series(raw, dtype=object).explode()
    baskets = per_user.rename_axis(Col.USER_ID).rename(Col.ITEM_ID).reset_index()
    baskets[_POS] = baskets.groupby(Col.USER_ID, sort=False).cumcount()
    lines = baskets.explode(Col.ITEM_ID)
    lines[_ITEM_POS] = lines.groupby([Col.USER_ID, _POS], sort=False).cumcount()
    # padding ([-1]) and empty baskets leave no line
    lines = lines[lines[Col.ITEM_ID].notna()]
    item = pd.to_numeric(lines[Col.ITEM_ID])
    lines = lines[item != PAD]
    lines[Col.USER_ID] = lines[Col.USER_ID].astype(str)
    lines[Col.ITEM_ID] = item[item != PAD].astype("int64").astype(str)
    return lines.reset_index(drop=True)


def _indexed(lines: pd.DataFrame, user_order: pd.Index) -> pd.DataFrame:
    """Number each user's non-empty baskets 0, 1, ... by _pos and sort users as in the file."""
    lines = lines.copy()
    rank = lines.groupby(Col.USER_ID, sort=False)[_POS].rank(method="dense")
    lines[BASKET_INDEX] = rank.astype("int64") - 1
    lines["_user_rank"] = user_order.get_indexer(pd.Index(lines[Col.USER_ID]))
    lines = lines.sort_values(["_user_rank", BASKET_INDEX, _ITEM_POS], kind="stable")
    return lines.drop(columns=["_user_rank"]).reset_index(drop=True)


def read_baskets(src: Path) -> pd.DataFrame:
    """Every basket line: user_id (str), basket_index (0-based within user), item_id (str), is_future.

    History baskets come first, then the future basket (``is_future`` True, each user's last).
    Rows follow the files: users in file order, baskets in order, items in basket order.
    """
    src = Path(src)
    history = _lines(src / HISTORY)
    future = _lines(src / FUTURE)
    history[IS_FUTURE] = False
    future[IS_FUTURE] = True
    # future baskets after every history basket of the same user
    future[_POS] += int(history[_POS].max()) + 1 if len(history) else 0
    both = pd.concat([history, future], ignore_index=True)
    users = pd.Index(pd.unique(both[Col.USER_ID]))
    both = _indexed(both, users)
    return both[[Col.USER_ID, BASKET_INDEX, Col.ITEM_ID, IS_FUTURE]]


def merged_mismatches(src: Path, baskets: pd.DataFrame | None = None) -> list[str]:
    """Users whose tafeng_merged.json baskets differ from history + future (empty: all agree)."""
    src = Path(src)
    if baskets is None:
        baskets = read_baskets(src)
    merged = _lines(src / MERGED)
    merged = _indexed(merged, pd.Index(pd.unique(merged[Col.USER_ID])))
    mine = baskets.assign(**{_ITEM_POS: baskets.groupby([Col.USER_ID, BASKET_INDEX]).cumcount()})
    key = [Col.USER_ID, BASKET_INDEX, _ITEM_POS, Col.ITEM_ID]
    both = mine[key].merge(merged[key], on=key, how="outer", indicator=True)
    bad = both.loc[both["_merge"] != "both", Col.USER_ID]
    return sorted(pd.unique(bad).tolist(), key=lambda u: (len(u), u))


def events_from_baskets(baskets: pd.DataFrame) -> pd.DataFrame:
    """SCHEMA events for read_baskets() rows: one order line per (user, basket, item)."""
    keys = [Col.USER_ID, BASKET_INDEX, Col.ITEM_ID]
    lines = baskets.groupby(keys, sort=False).agg(
        **{Col.QUANTITY: (IS_FUTURE, "size"), IS_FUTURE: (IS_FUTURE, "first")}
    )
    lines = lines.reset_index()
    k = lines[BASKET_INDEX].astype(str)
    lines[Col.ORDER_ID] = lines[Col.USER_ID] + ":" + k
    lines[Col.EVENT_ID] = lines[Col.ORDER_ID] + ":" + lines[Col.ITEM_ID]
    lines[Col.TS] = ANCHOR + offsets(days=lines[BASKET_INDEX])
    lines[Col.EVENT_TYPE] = EventType.ORDER.value
    lines[Col.ID_TYPE] = ID_TYPE
    lines = lines.rename(columns={Col.USER_ID: Col.ID_VALUE})
    return order_columns(lines, "events")


def convert(src: Path) -> Converted:
    """Tables and data-quality notes (including the merged-file check) for Ta-Feng."""
    baskets = read_baskets(src)
    events = events_from_baskets(baskets)
    n_users = baskets[Col.USER_ID].nunique()
    per_user = baskets.groupby(Col.USER_ID)[BASKET_INDEX].max() + 1
    futures = baskets.loc[baskets[IS_FUTURE]].groupby(Col.USER_ID)[BASKET_INDEX].nunique()
    notes = [
        f"{n_users:,} users, {int(per_user.sum()):,} baskets "
        f"({int(per_user.min())}-{int(per_user.max())} per user), {len(baskets):,} lines, "
        f"{baskets[Col.ITEM_ID].nunique():,} items",
        f"no real dates: basket k of every user at {ANCHOR.isoformat()} + k days",
    ]
    no_future = n_users - len(futures)
    if no_future or (futures != 1).any():
        notes.append(
            f"{no_future:,} users without a future basket, "
            f"{int((futures > 1).sum()):,} with more than one"
        )
    repeats = len(baskets) - len(events)
    if repeats:
        notes.append(f"{repeats:,} repeated items within a basket folded into quantity")
    if (Path(src) / MERGED).exists():
        bad = merged_mismatches(src, baskets)
        notes.append(
            f"{MERGED} == history + future for every user"
            if not bad
            else f"{MERGED} differs from history + future for {len(bad):,} users, e.g. {bad[:5]}"
        )
    else:
        notes.append(f"{MERGED} missing: merged-file check skipped")
    return Converted({"events": events}, notes)


def to_schema(src: Path) -> dict[str, pd.DataFrame]:
    """SCHEMA tables (events only) from the Ta-Feng JSON files under ``src``."""
    events = events_from_baskets(read_baskets(src))
    return {"events": events}
