"""Builder step: the event log assembled from the parts every step emitted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.schema import Col, EventType
from features.synth.build_orders import (
    OrderSteps,
)
from features.synth.constants import (
    CHANNELS,
    ET,
    EVENT_TYPES,
    ID_TYPES,
)
from features.synth.helpers import (
    _cat_col,
    _chunked,
    _fmt_ts,
    _prefixed,
    _str_col,
    _take,
)
from features.synth.state import (
    _EV_FIELDS,
)


class EventSteps(OrderSteps):
    """The event log: every step's parts clipped, sorted, identified and formatted."""

    def events(self) -> pd.DataFrame:
        """Concatenate, clip to the window, sort by time, give ids, format; column by column."""
        rng = self.rng["assemble"]
        cols: dict[str, np.ndarray] = {}
        for k in _EV_FIELDS:  # concatenate one column at a time, freeing the parts as we go
            cols[k] = np.concatenate([p.pop(k) for p in self.parts])
        self.parts = []
        ts = cols["ts"]
        keep = np.flatnonzero((ts >= self.t0) & (ts <= self.t_end))
        o = keep[np.argsort(ts[keep], kind="stable")]
        del keep, ts
        for k in _EV_FIELDS:
            cols[k] = cols[k][o]
        n_ev = o.size
        del o
        self._event_stats(cols)
        person = cols.pop("person")
        t, fmt = self._choose_ids(rng, person, cols.pop("pref"), self.cfg.id_noise)
        id_idx = self._id_index(person, t, fmt)
        del person, fmt
        # order ids in time order of the baskets
        order_ts = np.concatenate(self.order_ts) if self.order_ts else np.zeros(0, np.int64)
        rank = np.empty(order_ts.size, dtype=np.int64)
        rank[np.argsort(order_ts, kind="stable")] = np.arange(order_ts.size)
        oc = cols.pop("order")
        has_order = oc >= 0
        order_rank = np.where(has_order, rank[np.maximum(oc, 0)], -1)
        del oc, rank
        ref = cols.pop("ref")
        ref_t = self.main_type[np.maximum(ref, 0)]
        ref_idx = np.where(
            ref >= 0, np.choose(ref_t, [0, self.n, 2 * self.n, 7 * self.n]) + ref, -1
        )
        self._mark_used(ref_idx[ref >= 0])
        del ref, ref_t
        # naive timestamps come from some writers: one basket is written by one system
        naive = rng.random(n_ev) < self.cfg.naive_ts_share
        naive_order = rng.random(order_ts.size) < self.cfg.naive_ts_share
        naive[has_order] = naive_order[order_rank[has_order]]
        out: dict[str, Any] = {}  # column -> pandas array, built one at a time
        width = max(9, len(str(n_ev)))
        out[Col.EVENT_ID] = _str_col(
            _chunked(n_ev, lambda a: _prefixed("E", a, width), np.arange(1, n_ev + 1))
        )
        out[Col.TS] = _str_col(_chunked(n_ev, _fmt_ts, cols.pop("ts"), naive))
        del naive
        out[Col.EVENT_TYPE] = _cat_col(cols.pop("et"), EVENT_TYPES)
        out[Col.ID_TYPE] = _cat_col(t, ID_TYPES)
        out[Col.ID_VALUE] = _str_col(_chunked(n_ev, lambda a: _take(self.id_strings, a), id_idx))
        del t, id_idx
        out[Col.ITEM_ID] = _str_col(
            _chunked(n_ev, lambda a: _take(self.item_ids, a), cols.pop("item"))
        )
        qty = cols.pop("qty")
        out[Col.QUANTITY] = pd.arrays.IntegerArray(qty.astype(np.int64), qty == 0)
        del qty
        out[Col.AMOUNT] = cols.pop("amount")
        ow = max(8, len(str(order_ts.size)))
        out[Col.ORDER_ID] = _str_col(
            _chunked(n_ev, lambda a, m: _prefixed("O", a + 1, ow, m), order_rank, has_order)
        )
        del order_rank, has_order
        for col, key, values in (
            (Col.GROUP_ID, "group", self.group_ids),
            (Col.LIVE_ID, "live", self.live_ids),
            (Col.TEXT, "text", self.text_strings),
        ):
            out[col] = _str_col(_chunked(n_ev, lambda a, v=values: _take(v, a), cols.pop(key)))
        out[Col.CHANNEL] = _cat_col(cols.pop("channel"), CHANNELS)
        out[Col.REFERRER] = _str_col(_chunked(n_ev, lambda a: _take(self.ref_strings, a), ref_idx))
        del ref_idx
        return pd.DataFrame(out, copy=False)

    def _event_stats(self, cols: dict[str, np.ndarray]) -> None:
        """Per-person counts and per-persona basket values, for the truth and the summary."""
        person, et = cols["person"], cols["et"]
        self.n_events_person = np.bincount(person, minlength=self.n)
        purchase = (et == ET[EventType.ORDER]) | (et == ET[EventType.JIELONG])
        self.n_purchase_person = np.bincount(person[purchase], minlength=self.n)
        self.type_counts = np.bincount(et, minlength=len(EVENT_TYPES))
        oc, amount = cols["order"], cols["amount"]
        basket_amount = np.bincount(oc[purchase], weights=amount[purchase], minlength=self.n_orders)
        basket_seen = np.bincount(oc[purchase], minlength=self.n_orders) > 0
        order_lines = et == ET[EventType.ORDER]
        is_order = np.zeros(self.n_orders, dtype=bool)
        is_order[oc[order_lines]] = True
        basket_persona = np.zeros(self.n_orders, dtype=np.int64)
        basket_persona[oc[purchase]] = self.persona[person[purchase]]
        self.basket_stats = {
            "baskets": int(basket_seen.sum()),
            "mean_basket_amount": round(float(basket_amount[basket_seen].mean()), 2)
            if basket_seen.any()
            else 0.0,
            "aov_orders_by_persona": {
                key: round(float(basket_amount[is_order & (basket_persona == i)].mean()), 2)
                for i, key in enumerate(self.cast.keys)
                if (is_order & (basket_persona == i)).any()
            },
            "aov_jielong_by_persona": {
                key: round(float(basket_amount[sel].mean()), 2)
                for i, key in enumerate(self.cast.keys)
                if (sel := basket_seen & ~is_order & (basket_persona == i)).any()
            },
        }
