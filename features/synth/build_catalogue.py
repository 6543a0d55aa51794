"""Builder steps: the calendar (days, periods, hours), the catalogue and item distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from features.schema import CONTAINS_PREFIX, LIST_SEP, Col
from features.synth.cast import (
    _overlapped,
)
from features.synth.constants import (
    DAY,
    HOUR_WEIGHTS,
    MONTH_DAYS,
    MORNING_BOOST,
)
from features.synth.helpers import (
    _Categorical,
    _parse_season,
)
from features.synth.holiday import (
    holiday_dates,
)
from features.synth.specs import (
    CATALOGUE_ROWS,
    CONSTRAINTS,
    N_THEMES,
    PERSONA_FLOOR,
    STAPLES_AFFINITY,
    STAPLES_FLOOR,
    THEMES,
    VARIANT_LABELS,
    VARIANT_ORIGINS,
    VARIANT_PACKS,
)
from features.synth.state import (
    BuilderState,
)


class CatalogueSteps(BuilderState):
    """The calendar (days, periods, hours), the catalogue and the item distributions."""

    def calendar(self) -> None:
        cfg, rng = self.cfg, self.rng["calendar"]
        end = pd.Timestamp(cfg.end)
        start = end - pd.DateOffset(months=cfg.months) + pd.Timedelta(days=1)
        days = pd.date_range(start, end, freq="D")
        n_days = len(days)
        self.start, self.end_day = start, end
        self.n_days = n_days
        self.t0 = int((start - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1))
        self.t_end = self.t0 + n_days * DAY - 1
        self.months_f = n_days / MONTH_DAYS
        ym = (days.year * 12 + days.month - 1).to_numpy()
        period = (ym - ym.min()).astype(np.int64)
        n_month_periods = int(period.max()) + 1
        period_month = [(int(v) % 12) + 1 for v in range(ym.min(), ym.max() + 1)]
        period_kind: list[str | None] = [None] * n_month_periods
        weight = np.array([1.0, 1.0, 1.0, 1.0, 1.05, 1.15, 1.12])[days.day_of_week.to_numpy()]
        self.holidays: list[tuple[str, str]] = []
        for kind, d in holiday_dates(start.year - 1, end.year + 1):
            window = (days >= d - pd.Timedelta(days=14)) & (days <= d)
            if window.any():
                period[window] = len(period_month)
                period_month.append(d.month)
                period_kind.append(kind)
                self.holidays.append((kind, d.date().isoformat()))
            weight[(days >= d - pd.Timedelta(days=10)) & (days < d)] *= 1.35
            if kind == "spring_festival":
                weight[(days >= d) & (days <= d + pd.Timedelta(days=6))] *= 0.5
        weight *= rng.lognormal(0.0, 0.08, n_days)
        # the neutral period: no seasonal and no holiday goods (used for standing favourites)
        self.neutral_period = len(period_month)
        period_month.append(0)
        period_kind.append(None)
        self.day_period = period
        self.day_weight = weight
        self.day_cdf = np.cumsum(weight) / weight.sum()
        self.day_cdf[-1] = 1.0
        self.period_month = np.array(period_month)
        self.period_kind = period_kind
        self.n_periods = len(period_month)
        self.holiday_period_mask = np.array([k is not None for k in period_kind])
        hours = np.stack(
            [HOUR_WEIGHTS * (MORNING_BOOST if p.morning else 1.0) for p in self.cast.personas]
            + [HOUR_WEIGHTS]
        )
        self.hours = _Categorical(hours)

    def _clock(
        self, rng: np.random.Generator, day: np.ndarray, row: np.ndarray | int
    ) -> np.ndarray:
        """Epoch seconds for events on `day`, hour drawn from hour-profile `row`."""
        n = day.size
        hour = self.hours.sample(rng, row, size=n if np.ndim(row) == 0 else 0)
        return self.t0 + day * DAY + hour * 3600 + rng.integers(0, 3600, n)

    # ---- catalogue ---------------------------------------------------------------------------

    def catalogue(self) -> None:
        cfg, rng = self.cfg, self.rng["catalogue"]
        base, pop = _base_items(rng, cfg.items)
        counts = _variant_counts(pop, cfg.items - len(base))
        recs = [
            rec for b in range(len(base)) for rec in _variants(rng, base.iloc[b], b, int(counts[b]))
        ]
        self._set_items(_items_table(recs, base), pop)

    def _set_items(self, items: pd.DataFrame, pop: np.ndarray) -> None:
        """Ids, prices, constraint bits, seasons and variant order of the drawn items."""
        b_idx = items["base"].to_numpy()
        n = len(items)
        width = max(6, len(str(n)))
        items[Col.ITEM_ID] = [f"SKU{i:0{width}d}" for i in range(1, n + 1)]
        self.items = items
        self.n_items = n
        self.item_price = items[Col.PRICE].to_numpy(dtype=np.float64)
        self.item_base = b_idx
        self.item_ids = pa.array(items[Col.ITEM_ID].to_numpy(dtype=object), type=pa.string())
        attrs_wrapped = LIST_SEP + items["attrs"] + LIST_SEP
        self._attr_cache: dict[str, np.ndarray] = {}
        self._mask_cache: dict[str, np.ndarray] = {}

        def has_attr(a: str) -> np.ndarray:
            if a not in self._attr_cache:
                self._attr_cache[a] = attrs_wrapped.str.contains(
                    LIST_SEP + a + LIST_SEP, regex=False
                ).to_numpy(dtype=bool)
            return self._attr_cache[a]

        self._has_attr = has_attr
        bits = np.zeros(n, dtype=np.int64)
        for k, x in enumerate(CONSTRAINTS):
            bits |= has_attr(CONTAINS_PREFIX + x).astype(np.int64) << k
        self.item_bits = bits
        seasons = {s: _parse_season(s) for s in items[Col.SEASON].unique()}
        self.item_season = np.stack([seasons[s] for s in items[Col.SEASON]])  # (n, 13)
        self.item_seasonal = items[Col.SEASON].to_numpy() != ""
        self.item_hol = items["hol"].to_numpy()
        # variants of one base sorted by price (for the person-level price-level re-pick)
        order = np.lexsort((self.item_price, b_idx))
        self.var_sorted = order
        n_bases = int(b_idx.max()) + 1
        self.var_count = np.bincount(b_idx, minlength=n_bases)
        self.var_start = np.concatenate([[0], np.cumsum(self.var_count)[:-1]])
        self.item_pop = items["vpop"].to_numpy() * pop[b_idx]
        self.price_ratio = self.item_price / items["base_price"].to_numpy()

    def _affinity(self, spec: dict[str, float], floor: float) -> np.ndarray:
        """Item weights from a cat:/sub:/attr:/name: spec."""
        w = np.full(self.n_items, floor)
        for key, weight in spec.items():
            w = w + weight * self._mask(key)
        return w

    def _mask(self, key: str) -> np.ndarray:
        """Items matching one cat:/sub:/attr:/name: key (cached)."""
        if key in self._mask_cache:
            return self._mask_cache[key]
        it = self.items
        kind, _, val = key.partition(":")
        if kind == "cat":
            m = (it[Col.CATEGORY] == val).to_numpy(dtype=bool)
        elif kind == "sub":
            m = (it[Col.SUBCATEGORY] == val).to_numpy(dtype=bool)
        elif kind == "attr":
            m = self._has_attr(val)
        elif kind == "name":
            m = it[Col.NAME].str.contains(val, regex=False).to_numpy(dtype=bool)
        else:
            raise ValueError(f"bad affinity key {key!r}")
        self._mask_cache[key] = m
        return m

    def distributions(self) -> None:
        """Item distributions per (source, period); sources = personas, staples, themes."""
        personas = self.cast.personas
        aff_persona = np.stack([self._affinity(p.affinity, PERSONA_FLOOR) for p in personas])
        self.aff_persona = _overlapped(aff_persona, self.cfg.taste_overlap)
        aff = [*self.aff_persona, self._affinity(STAPLES_AFFINITY, STAPLES_FLOOR)]
        aff += [self._affinity(t.affinity, PERSONA_FLOOR) for t in THEMES]
        elasticity = [p.price_elasticity for p in personas] + [-0.3] + [0.0] * N_THEMES
        self.src_staples = len(personas)
        self.src_theme0 = len(personas) + 1
        gift = self._has_attr("gift")
        seafood = (self.items[Col.CATEGORY] == "seafood").to_numpy()
        meat = (self.items[Col.CATEGORY] == "meat").to_numpy()
        fruit = (self.items[Col.CATEGORY] == "fruit").to_numpy()
        sub = self.items[Col.SUBCATEGORY].to_numpy()
        per_period = []
        for month, kind in zip(self.period_month, self.period_kind, strict=True):
            if month == 0:
                f = np.where(self.item_seasonal, 0.0, 1.0)
            else:
                f = np.where(self.item_season[:, month], 1.0, 0.01)
            has_hol = self.item_hol != ""
            f = np.where(has_hol, np.where(self.item_hol == (kind or "-"), 8.0, 0.01), f)
            if month == 0:
                f = np.where(has_hol, 0.0, f)
            if kind is not None:
                f = f * np.where(gift, 2.5, 1.0)
                if kind == "spring_festival":
                    f = f * np.where(seafood, 1.6, 1.0) * np.where(meat, 1.5, 1.0)
                    f = f * np.where(sub == "nuts", 2.0, 1.0)
                elif kind == "mid_autumn":
                    f = f * np.where(sub == "crab", 2.5, 1.0) * np.where(fruit, 1.3, 1.0)
            per_period.append(f)
        season = np.stack(per_period)  # (P, n)
        w = np.stack(
            [
                a[None, :] * season * self.item_pop[None, :] * self.price_ratio[None, :] ** e
                for a, e in zip(aff, elasticity, strict=True)
            ]
        )  # (S, P, n)
        self.dist = _Categorical(w.reshape(-1, self.n_items))

    def _rows(self, source: np.ndarray | int, period: np.ndarray) -> np.ndarray:
        return np.asarray(source, dtype=np.int64) * self.n_periods + period

    def _sample_items(
        self, rng: np.random.Generator, source: np.ndarray | int, period: np.ndarray
    ) -> np.ndarray:
        return self.dist.sample(rng, self._rows(source, period)).astype(np.int32)

    def _repick_variant(
        self, rng: np.random.Generator, item: np.ndarray, level: np.ndarray, share: float
    ) -> np.ndarray:
        """Move `share` of lines to the variant of the same base at the person's price level."""
        b = self.item_base[item]
        cnt = self.var_count[b]
        m = (rng.random(item.size) < share) & (cnt > 1)
        q = np.clip(level[m] + rng.normal(0.0, 0.2, m.sum()), 0.0, 0.999)
        out = item.copy()
        out[m] = self.var_sorted[self.var_start[b[m]] + (q * cnt[m]).astype(np.int64)]
        return out


_Record = tuple[int, str, float, str, float, bool]  # base, name, price, attrs, popularity, is base


def _base_items(rng: np.random.Generator, n_items: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The base catalogue (core items first when it must shrink to `n_items`), popularities."""
    rows = [ln.split("|") for ln in CATALOGUE_ROWS]
    base = pd.DataFrame(
        rows,
        columns=[Col.NAME, Col.CATEGORY, Col.SUBCATEGORY, Col.PRICE, "attrs", Col.SEASON, "hol"],
    )
    base["core"] = base[Col.NAME].str.startswith("*")
    base[Col.NAME] = base[Col.NAME].str.lstrip("*")
    base[Col.PRICE] = base[Col.PRICE].astype(float)
    n_base = len(base)
    pop = np.where(base["core"], 2.0, 1.0) * rng.lognormal(0.0, 0.5, n_base)
    if n_items < n_base:
        order = np.lexsort((rng.random(n_base), ~base["core"].to_numpy()))
        keep = np.sort(order[:n_items])
        base = base.iloc[keep].reset_index(drop=True)
        pop = pop[keep]
    return base, pop


def _variant_counts(pop: np.ndarray, n_extra: int) -> np.ndarray:
    """Variants per base: the remaining items spread over the bases by popularity."""
    counts = np.zeros(pop.size, dtype=np.int64)
    if n_extra > 0:
        alloc = pop / pop.sum() * n_extra
        counts = np.floor(alloc).astype(np.int64)
        rest = n_extra - counts.sum()
        counts[np.argsort(-(alloc - counts), kind="stable")[:rest]] += 1
    return counts


def _variants(rng: np.random.Generator, row: pd.Series, b: int, count: int) -> list[_Record]:
    """The base item `b` and its `count` variants (label x origin x pack qualifiers)."""
    name = str(row[Col.NAME])
    core, _, spec = name.partition(" ")
    attrs = str(row["attrs"])
    origins: tuple[str, ...] = ("",)
    if "imported" not in attrs.split(LIST_SEP):
        origins = ("", *VARIANT_ORIGINS.get(str(row[Col.CATEGORY]), ()))
    recs: list[_Record] = [(b, name, float(row[Col.PRICE]), attrs, 1.0, True)]
    if count == 0:
        return recs
    n_combo = len(VARIANT_LABELS) * len(origins) * len(VARIANT_PACKS)
    combos = 1 + rng.permutation(n_combo - 1)  # combo 0 is the base item itself
    # variants share a fixed popularity mass, so catalogue size keeps basket economics
    vpop = rng.lognormal(0.0, 0.8, count)
    vpop *= min(1.5, 0.5 * count) / vpop.sum()
    for j in range(count):
        c = int(combos[j % (n_combo - 1)])
        lab, rest_c = divmod(c, len(origins) * len(VARIANT_PACKS))
        org, pk = divmod(rest_c, len(VARIANT_PACKS))
        label, lf, la = VARIANT_LABELS[lab]
        if label and label in core:
            label, lf, la = "", 1.0, ""
        pack, pf, pa_ = VARIANT_PACKS[pk]
        vname = f"{label}{origins[org]}{core}"
        vname += f" {spec}" if spec else ""
        vname += f"·{pack}" if pack else ""
        if j >= n_combo - 1:
            vname += f" {j // (n_combo - 1) + 1}号款"
        extra = [a for a in (la, pa_) if a and a not in attrs.split(LIST_SEP)]
        vattrs = LIST_SEP.join([a for a in attrs.split(LIST_SEP) if a] + extra)
        price = float(row[Col.PRICE]) * lf * pf * rng.uniform(0.9, 1.1)
        recs.append((b, vname, price, vattrs, float(vpop[j]), False))
    return recs


def _items_table(recs: list[_Record], base: pd.DataFrame) -> pd.DataFrame:
    """Item rows with nice prices, unique names and their base's category, season, holiday."""
    items = pd.DataFrame(recs, columns=["base", Col.NAME, Col.PRICE, "attrs", "vpop", "is_base"])
    p = items[Col.PRICE].to_numpy()
    nice = np.where(p >= 10, np.floor(p) + 0.9, np.round(p, 1))
    items[Col.PRICE] = np.where(items["is_base"], p, nice)
    # repeated names (label already in the core name etc.) get a model number
    dup = items.groupby(Col.NAME, sort=False).cumcount().to_numpy()
    names = items[Col.NAME].to_numpy(dtype=object)
    for i in np.flatnonzero(dup):
        names[i] = f"{names[i]} {dup[i] + 1}号款"
    items[Col.NAME] = names
    b_idx = items["base"].to_numpy()
    items[Col.CATEGORY] = base[Col.CATEGORY].to_numpy()[b_idx]
    items[Col.SUBCATEGORY] = base[Col.SUBCATEGORY].to_numpy()[b_idx]
    items[Col.SEASON] = base[Col.SEASON].to_numpy()[b_idx]
    items["hol"] = base["hol"].to_numpy()[b_idx]
    items["base_price"] = base[Col.PRICE].to_numpy()[b_idx]
    return items
