"""The builder's state: RNG streams, the event parts, and the attributes the steps share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.synth.cast import (
    _Cast,
)
from features.synth.config import (
    SynthConfig,
)
from features.synth.constants import (
    _STREAMS,
    PREF_WEB,
)
from features.synth.helpers import _Categorical

# --------------------------------------------------------------------------------------------
# The builder: one method per step, all randomness from per-step streams of one SeedSequence
# --------------------------------------------------------------------------------------------

_EV_FIELDS: dict[str, tuple[type, Any]] = {
    "ts": (np.int64, 0),
    "et": (np.int8, 0),
    "person": (np.int32, 0),
    "pref": (np.int8, PREF_WEB),
    "item": (np.int32, -1),
    "qty": (np.int16, 0),
    "amount": (np.float64, np.nan),
    "order": (np.int64, -1),
    "group": (np.int32, -1),
    "live": (np.int32, -1),
    "text": (np.int32, -1),
    "channel": (np.int8, -1),
    "ref": (np.int32, -1),
}


class BuilderState:
    """What the builder steps share: config, RNG streams, the event parts and drawn arrays."""

    # set by the steps (see `generate` for their order); declared here so that every step module
    # can read what an earlier step drew
    start: pd.Timestamp
    end_day: pd.Timestamp
    n_days: int
    t0: int
    t_end: int
    months_f: float
    holidays: list[tuple[str, str]]
    neutral_period: int
    day_period: np.ndarray
    day_weight: np.ndarray
    day_cdf: np.ndarray
    period_month: np.ndarray
    period_kind: list[str | None]
    n_periods: int
    holiday_period_mask: np.ndarray
    hours: _Categorical
    items: pd.DataFrame
    n_items: int
    item_price: np.ndarray
    item_base: np.ndarray
    item_ids: pa.Array
    _attr_cache: dict[str, np.ndarray]
    _mask_cache: dict[str, np.ndarray]
    _has_attr: Callable[[str], np.ndarray]
    item_bits: np.ndarray
    item_season: np.ndarray
    item_seasonal: np.ndarray
    item_hol: np.ndarray
    var_sorted: np.ndarray
    var_count: np.ndarray
    var_start: np.ndarray
    item_pop: np.ndarray
    price_ratio: np.ndarray
    aff_persona: np.ndarray
    src_staples: int
    src_theme0: int
    dist: _Categorical
    text_pools: _Categorical
    text_strings: pa.Array
    n: int
    persona: np.ndarray
    activity: np.ndarray
    loyalty: np.ndarray
    price_level: np.ndarray
    lvp: np.ndarray
    jlp: np.ndarray
    koc: np.ndarray
    compound: np.ndarray
    n_comp: int
    active_from: np.ndarray
    active_to: np.ndarray
    acquisition: np.ndarray
    persona2: np.ndarray
    mix2: np.ndarray
    person_bits: np.ndarray
    active_months: np.ndarray
    fav: np.ndarray
    has: np.ndarray
    phone_norm: np.ndarray
    id_strings: pa.Array
    id_values: dict[str, np.ndarray]
    ref_strings: pa.Array
    id_type_strings: pa.Array
    main_type: np.ndarray
    unlinked: np.ndarray
    comp_names: list[str]
    leaders: np.ndarray
    m_group: np.ndarray
    m_person: np.ndarray
    m_joined: np.ndarray
    m_left: np.ndarray
    g_size: np.ndarray
    g_start: np.ndarray
    g_comp: np.ndarray
    g_type: np.ndarray
    g_created: np.ndarray
    g_name: list[str]
    n_groups: int
    gen_group: np.ndarray
    group_ids: pa.Array
    host_names: list[str]
    host_tags: list[str]
    n_hosts: int
    s_feat: np.ndarray
    s_group: np.ndarray
    s_is_live: np.ndarray
    s_day: np.ndarray
    s_start: np.ndarray
    s_dur: np.ndarray
    s_theme: np.ndarray
    s_host: np.ndarray
    s_host_fit: np.ndarray
    s_discount: np.ndarray
    n_lives: int
    n_sessions: int
    live_titles: list[str]
    live_ids: pa.Array
    host_ids: pa.Array
    invite: dict[str, np.ndarray]
    order_stats: dict[str, Any]
    n_events_person: np.ndarray
    n_purchase_person: np.ndarray
    type_counts: np.ndarray
    basket_stats: dict[str, Any]
    person_ids: np.ndarray
    person_id_arr: pa.Array

    def __init__(self, cfg: SynthConfig) -> None:
        self.cfg = cfg
        seqs = np.random.SeedSequence(cfg.seed).spawn(len(_STREAMS))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(_STREAMS, seqs, strict=True)}
        self.cast = _Cast(cfg.cast_personas())
        self.parts: list[dict[str, np.ndarray]] = []
        self.n_orders = 0
        self.order_ts: list[np.ndarray] = []
        self.used_ids: np.ndarray | None = None  # bool mask over id_strings: written somewhere

    # ---- events bookkeeping ----------------------------------------------------------------

    def _emit(self, n: int, **cols: Any) -> None:
        if n == 0:
            return
        part: dict[str, np.ndarray] = {}
        for key, (dtype, fill) in _EV_FIELDS.items():
            v: np.ndarray = np.asarray(cols.pop(key, fill), dtype=dtype)
            part[key] = v if v.ndim else np.full(n, v, dtype=dtype)
            if part[key].shape != (n,):
                raise ValueError(f"event column {key}: shape {part[key].shape} != ({n},)")
        if cols:
            raise ValueError(f"unknown event columns {sorted(cols)}")
        self.parts.append(part)

    def _new_orders(self, ts: np.ndarray) -> np.ndarray:
        """Codes for new baskets placed at `ts` (order ids are later given in time order)."""
        n = ts.size
        out = np.arange(self.n_orders, self.n_orders + n, dtype=np.int64)
        self.n_orders += n
        self.order_ts.append(np.asarray(ts, dtype=np.int64))
        return out
