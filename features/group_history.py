"""A group's own purchase history: what was bought in the group (orders and 接龙 carrying its group_id).

Members' personal purchases say what each person rebuys; the group history says what the
group as a whole keeps ordering together (its staples), whoever joined the chain. Both are
counts of purchase lines per (group, item) plus the age of the last one, in the same form
as :attr:`features.matrix.Interactions.purchases` / ``last_purchase_age`` (days + 1; 0 = never).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.matrix import IdMap
from features.schema import PURCHASE_EVENTS, Col

_PURCHASES = sorted(str(e.value) for e in PURCHASE_EVENTS)


def group_item_history(
    events: pd.DataFrame | None,
    groups: IdMap,
    items: IdMap,
    snapshot: pd.Timestamp,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """(groups x items purchase-line counts, groups x items days since the last one + 1).

    Only purchase events (order, 接龙) with a known group_id and item before or at the
    snapshot count; other rows are ignored (they are not group orders).
    """
    shape = (len(groups), len(items))
    empty = sp.csr_matrix(shape, dtype=np.float32)
    need = {Col.EVENT_TYPE, Col.GROUP_ID, Col.ITEM_ID, Col.TS}
    if events is None or not len(events) or not need <= set(events.columns):
        return empty, empty.copy()
    ev = events[list(need)]
    ev = ev[ev[Col.EVENT_TYPE].astype("string").isin(_PURCHASES).fillna(False).to_numpy(bool)]
    ts = pd.to_datetime(ev[Col.TS], utc=True)
    snap = snapshot.tz_localize("UTC") if snapshot.tzinfo is None else snapshot.tz_convert("UTC")
    keep = (ts <= snap).to_numpy(bool)
    gi = groups.index(ev[Col.GROUP_ID].to_numpy()[keep])
    ii = items.index(ev[Col.ITEM_ID].to_numpy()[keep])
    ok = (gi >= 0) & (ii >= 0)
    if not ok.any():
        return empty, empty.copy()
    gi, ii = gi[ok], ii[ok]
    days = ((snap - ts[keep][ok]).dt.total_seconds().to_numpy() / 86400.0).astype(np.float64)
    counts = sp.csr_matrix((np.ones(len(gi), np.float32), (gi, ii)), shape=shape)
    counts.sum_duplicates()
    frame = pd.DataFrame({"g": gi, "i": ii, "d": days}).groupby(["g", "i"], sort=True)["d"].min()
    g_idx = frame.index.get_level_values(0).to_numpy(np.int64)
    i_idx = frame.index.get_level_values(1).to_numpy(np.int64)
    age = sp.csr_matrix(
        (np.maximum(frame.to_numpy(), 0.0).astype(np.float32) + 1.0, (g_idx, i_idx)),
        shape=shape,
    )
    age.sort_indices()
    counts.sort_indices()
    return counts, age
