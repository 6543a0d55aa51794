"""Instacart (orders.csv, order_products.csv, products.csv, aisles.csv, departments.csv) -> SCHEMA.

One ``order`` event per order line: event_id ``"{order_id}:{product_id}"``, id_type ``instacart``,
id_value = user_id, quantity 1, no amount (the data has no prices).

Time is relative only. Each user's first order is day 0 and every later order sits
``days_since_prior_order`` days after the previous one (cumulative per user), at
``order_hour_of_day``; day 0 is :data:`~features.adapters.common.ANCHOR`
(2017-01-01T00:00:00+08:00) for *every* user. So users' calendars are aligned at their first
order, not at real dates, and the weekday of ``ts`` does not follow ``order_dow`` (kept as an
extra column). Two orders of one user on the same day and hour get +1, +2, ... minutes so that
``ts`` keeps ``order_number`` order. ``days_since_prior_order`` is capped at 30 in the source
(30 means "30 or more"), so spans after such a gap are lower bounds.

items is the full catalogue: item_id = product_id, name = product_name, category = department,
subcategory = aisle. All original columns of the order files ride along as extra columns.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.adapters.common import ANCHOR, Converted, offsets, order_columns
from features.schema import Col, EventType

ID_TYPE = "instacart"

# source columns
ORDER_ID = "order_id"
USER_ID = "user_id"
ORDER_NUMBER = "order_number"
ORDER_DOW = "order_dow"
HOUR = "order_hour_of_day"
GAP_DAYS = "days_since_prior_order"
PRODUCT_ID = "product_id"
PRODUCT_NAME = "product_name"
AISLE_ID = "aisle_id"
AISLE = "aisle"
DEPARTMENT_ID = "department_id"
DEPARTMENT = "department"
GAP_CAP = 30

_ID = str  # ids are read as text, never as numbers


def _orders(src: Path) -> pd.DataFrame:
    orders = pd.read_csv(src / "orders.csv", dtype={ORDER_ID: _ID, USER_ID: _ID})
    orders = orders.sort_values([USER_ID, ORDER_NUMBER], kind="stable")
    day = orders[GAP_DAYS].fillna(0).groupby(orders[USER_ID]).cumsum()
    hour = orders[HOUR]
    tie = orders.groupby([orders[USER_ID], day, hour]).cumcount()
    orders[Col.TS] = ANCHOR + offsets(day, hour, tie)
    orders["_day"] = day
    first_dow = orders.groupby(USER_ID)[ORDER_DOW].transform("first")
    orders["_dow_ok"] = (first_dow + day.astype("int64")) % 7 == orders[ORDER_DOW]
    orders["_tie"] = tie
    return orders


def _items(src: Path) -> pd.DataFrame:
    products = pd.read_csv(
        src / "products.csv", dtype={PRODUCT_ID: _ID, AISLE_ID: _ID, DEPARTMENT_ID: _ID}
    )
    aisles = pd.read_csv(src / "aisles.csv", dtype={AISLE_ID: _ID})
    departments = pd.read_csv(src / "departments.csv", dtype={DEPARTMENT_ID: _ID})
    items = products.merge(aisles, on=AISLE_ID, how="left", validate="many_to_one").merge(
        departments, on=DEPARTMENT_ID, how="left", validate="many_to_one"
    )
    items = items.rename(
        columns={
            PRODUCT_ID: Col.ITEM_ID,
            PRODUCT_NAME: Col.NAME,
            DEPARTMENT: Col.CATEGORY,
            AISLE: Col.SUBCATEGORY,
        }
    )
    return order_columns(items, "items")


def convert(src: Path) -> Converted:
    """Tables and data-quality notes for the Instacart files under ``src``."""
    src = Path(src)
    orders = _orders(src)
    lines = pd.read_csv(src / "order_products.csv", dtype={ORDER_ID: _ID, PRODUCT_ID: _ID})
    items = _items(src)

    events = lines.merge(
        orders.drop(columns=["_day", "_tie", "_dow_ok"]),
        on=ORDER_ID,
        how="left",
        validate="many_to_one",
    )
    events[Col.EVENT_ID] = events[ORDER_ID] + ":" + events[PRODUCT_ID]
    events[Col.EVENT_TYPE] = EventType.ORDER.value
    events[Col.ID_TYPE] = ID_TYPE
    events[Col.QUANTITY] = 1
    events = events.rename(columns={USER_ID: Col.ID_VALUE, PRODUCT_ID: Col.ITEM_ID})
    # order_id keeps its name: Col.ORDER_ID is the same column
    events = order_columns(events, "events")

    notes = [
        f"{len(orders):,} orders, {len(events):,} order lines, "
        f"{orders[USER_ID].nunique():,} users, {events[Col.ITEM_ID].nunique():,} distinct "
        f"products ordered of {len(items):,} in the catalogue",
        f"time anchored at {ANCHOR.isoformat()} = every user's first order; "
        f"longest user span {int(orders['_day'].max())} days; weekday of ts ignores order_dow",
        f"order_dow agrees with first order's dow + elapsed days for "
        f"{orders['_dow_ok'].mean():.1%} of orders (misses follow capped gaps)",
        f"{int((orders[GAP_DAYS] == GAP_CAP).sum()):,} gaps are capped at {GAP_CAP} days "
        "(means 30 or more): later timestamps of those users are lower bounds",
        f"{int((orders['_tie'] > 0).sum()):,} orders share day and hour with the user's "
        "previous order: shifted by whole minutes to keep order_number order",
    ]
    unknown_orders = int(events[Col.ID_VALUE].isna().sum())
    if unknown_orders:
        notes.append(f"{unknown_orders:,} order lines name an order missing from orders.csv")
    unknown_items = int((~events[Col.ITEM_ID].isin(items[Col.ITEM_ID])).sum())
    if unknown_items:
        notes.append(f"{unknown_items:,} order lines name a product missing from products.csv")
    empty = int((~orders[ORDER_ID].isin(lines[ORDER_ID])).sum())
    if empty:
        notes.append(f"{empty:,} orders have no lines (no events)")
    repeated = int(events[Col.EVENT_ID].duplicated().sum())
    if repeated:
        notes.append(f"{repeated:,} order lines repeat a product within one order")
    return Converted({"events": events, "items": items}, notes)


def to_schema(src: Path) -> dict[str, pd.DataFrame]:
    """SCHEMA tables (events, items) from the Instacart files under ``src``."""
    return convert(src).tables
