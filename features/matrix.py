"""User-item matrices from the event log: id maps, weighted time-decayed interactions, purchases, side features.

This is what every model fits on. Rows are unified users, columns catalogue
items, both in the order of their :class:`IdMap`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.schema import LIST_SEP, PURCHASE_EVENTS, Col

_DAY_S = 86400.0


@dataclass(frozen=True)
class IdMap:
    """A bijection between external ids and dense indices 0..n-1."""

    ids: np.ndarray

    @classmethod
    def from_values(cls, values: pd.Series | np.ndarray | list[str]) -> IdMap:
        """Sorted distinct non-missing values."""
        s = pd.Series(values, dtype="string").dropna().unique()
        return cls(np.sort(np.asarray(s, dtype=object)))

    def __len__(self) -> int:
        return len(self.ids)

    def index(self, values: pd.Series | np.ndarray | list[str]) -> np.ndarray:
        """Dense index of each value, -1 where unknown."""
        vals = np.asarray(pd.Series(values, dtype="string").fillna("\x00"), dtype=object)
        pos = np.searchsorted(self.ids, vals)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        found = (
            (len(self.ids) > 0) & (self.ids[pos] == vals)
            if len(self.ids)
            else np.zeros(len(vals), bool)
        )
        return np.where(found, pos, -1).astype(np.int64)

    def to_frame(self, name: str) -> pd.DataFrame:
        return pd.DataFrame({name: pd.Series(self.ids, dtype="string")})


@dataclass
class Interactions:
    """Everything a recommender fits on, aligned on one user and one item index."""

    users: IdMap
    items: IdMap
    weights: sp.csr_matrix  # decayed, event-weighted strength of each user-item pair
    purchases: sp.csr_matrix  # purchase lines per user-item (order + 接龙), not decayed
    last_purchase_age: sp.csr_matrix  # days from the last purchase to the snapshot, +1 (0 = never)
    snapshot: pd.Timestamp
    user_features: sp.csr_matrix | None = None
    user_feature_names: list[str] | None = None
    item_features: sp.csr_matrix | None = None
    item_feature_names: list[str] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.users), len(self.items))

    def save(self, path: Path | str) -> None:
        """Write matrices (npz), id maps (parquet) and metadata (json) into a folder."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.users.to_frame(Col.USER_ID).to_parquet(path / "users.parquet", index=False)
        self.items.to_frame(Col.ITEM_ID).to_parquet(path / "items.parquet", index=False)
        for name in ("weights", "purchases", "last_purchase_age", "user_features", "item_features"):
            m = getattr(self, name)
            if m is not None:
                sp.save_npz(path / f"{name}.npz", m.tocsr())
        meta = {
            "snapshot": self.snapshot.isoformat(),
            "shape": list(self.shape),
            "nnz": int(self.weights.nnz),
            "user_feature_names": self.user_feature_names,
            "item_feature_names": self.item_feature_names,
        }
        (path / "meta.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path | str) -> Interactions:
        """Read a folder written by :meth:`save`."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))

        def opt(name: str) -> sp.csr_matrix | None:
            f = path / f"{name}.npz"
            return sp.load_npz(f).tocsr() if f.exists() else None

        return cls(
            users=IdMap(
                np.asarray(pd.read_parquet(path / "users.parquet")[Col.USER_ID], dtype=object)
            ),
            items=IdMap(
                np.asarray(pd.read_parquet(path / "items.parquet")[Col.ITEM_ID], dtype=object)
            ),
            weights=sp.load_npz(path / "weights.npz").tocsr(),
            purchases=sp.load_npz(path / "purchases.npz").tocsr(),
            last_purchase_age=sp.load_npz(path / "last_purchase_age.npz").tocsr(),
            snapshot=pd.Timestamp(meta["snapshot"]),
            user_features=opt("user_features"),
            user_feature_names=meta.get("user_feature_names"),
            item_features=opt("item_features"),
            item_feature_names=meta.get("item_feature_names"),
        )


def event_strength(event_type: pd.Series, weights: dict[str, float]) -> np.ndarray:
    """Weight of each event by its type (types without a weight count 0)."""
    return event_type.astype("string").map(weights).fillna(0.0).to_numpy(dtype=np.float64)


def time_decay(ts: pd.Series, snapshot: pd.Timestamp, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life): an interaction one half-life old counts half."""
    age = (snapshot - ts).dt.total_seconds().to_numpy(dtype=np.float64) / _DAY_S
    return np.power(0.5, np.maximum(age, 0.0) / half_life_days)


def _csr(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int], agg: str = "sum"
) -> sp.csr_matrix:
    if agg == "sum":
        m = sp.coo_matrix((vals.astype(np.float32), (rows, cols)), shape=shape).tocsr()
        m.sum_duplicates()
        return m
    # "min": keep the smallest value per cell
    df = (
        pd.DataFrame({"r": rows, "c": cols, "v": vals})
        .groupby(["r", "c"], sort=False)["v"]
        .min()
        .reset_index()
    )
    return sp.csr_matrix(
        (df["v"].to_numpy(np.float32), (df["r"].to_numpy(), df["c"].to_numpy())), shape=shape
    )


def build_interactions(
    events: pd.DataFrame,
    users: IdMap,
    items: IdMap,
    event_weights: dict[str, float],
    half_life_days: float,
    snapshot: pd.Timestamp | None = None,
) -> Interactions:
    """Weighted, decayed user-item matrix plus purchase counts and recency from clean unified events."""
    snapshot = snapshot if snapshot is not None else events[Col.TS].max()
    ev = events[events[Col.ITEM_ID].notna() & events[Col.USER_ID].notna()]
    u = users.index(ev[Col.USER_ID])
    i = items.index(ev[Col.ITEM_ID])
    known = (u >= 0) & (i >= 0)
    ev, u, i = ev[known], u[known], i[known]
    strength = event_strength(ev[Col.EVENT_TYPE], event_weights) * time_decay(
        ev[Col.TS], snapshot, half_life_days
    )
    pos = strength > 0
    shape = (len(users), len(items))
    weights = _csr(u[pos], i[pos], strength[pos], shape)

    is_buy = ev[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS]).to_numpy()
    bu, bi = u[is_buy], i[is_buy]
    purchases = _csr(bu, bi, np.ones(len(bu)), shape)
    age = (snapshot - ev.loc[is_buy, Col.TS]).dt.total_seconds().to_numpy() / _DAY_S
    last_age = _csr(bu, bi, np.maximum(age, 0.0) + 1.0, shape, agg="min")
    return Interactions(users, items, weights, purchases, last_age, snapshot)


def one_hot(
    entity_ids: np.ndarray, index: IdMap, values: pd.Series, prefix: str
) -> tuple[sp.csr_matrix, list[str]]:
    """Entities x distinct values indicator matrix (rows follow `index`)."""
    rows = index.index(entity_ids)
    ok = (rows >= 0) & values.notna().to_numpy()
    vocab = IdMap.from_values(values[ok])
    cols = vocab.index(values[ok])
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (rows[ok], cols)), shape=(len(index), len(vocab))
    )
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, [f"{prefix}{v}" for v in vocab.ids]


def item_feature_matrix(items: IdMap, catalogue: pd.DataFrame) -> tuple[sp.csr_matrix, list[str]]:
    """Item side features: category, subcategory, attributes, price band."""
    cat = catalogue[catalogue[Col.ITEM_ID].notna()]
    ids = cat[Col.ITEM_ID].to_numpy()
    parts, names = [], []
    for col in (Col.CATEGORY, Col.SUBCATEGORY):
        if col in cat.columns:
            m, n = one_hot(ids, items, cat[col], f"{col}=")
            parts.append(m)
            names += n
    if Col.ATTRIBUTES in cat.columns:
        attrs = (
            cat[[Col.ITEM_ID, Col.ATTRIBUTES]]
            .assign(a=cat[Col.ATTRIBUTES].astype("string").str.split(LIST_SEP))
            .explode("a")
        )
        attrs["a"] = attrs["a"].str.strip()
        attrs = attrs[attrs["a"].fillna("") != ""]
        m, n = one_hot(attrs[Col.ITEM_ID].to_numpy(), items, attrs["a"], "attr=")
        parts.append(m)
        names += n
    if Col.PRICE in cat.columns and cat[Col.PRICE].notna().any():
        band = pd.qcut(cat[Col.PRICE].rank(method="first"), q=5, labels=False).astype("string")
        m, n = one_hot(ids, items, band, "price_band=")
        parts.append(m)
        names += n
    if not parts:
        return sp.csr_matrix((len(items), 0), dtype=np.float32), []
    return sp.hstack(parts, format="csr", dtype=np.float32), names


def user_feature_matrix(
    users: IdMap, tags: pd.DataFrame, exclude_prefixes: tuple[str, ...] = ("group:",)
) -> tuple[sp.csr_matrix, list[str]]:
    """User side features: one column per tag (rule and manual), minus high-cardinality prefixes."""
    t = tags[~tags[Col.TAG].astype("string").str.startswith(exclude_prefixes)]
    return one_hot(t[Col.USER_ID].to_numpy(), users, t[Col.TAG], "tag=")


def baskets(events: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines grouped by order: one row per (order, item), with its user, time and context."""
    buys = events[events[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    cols = [
        c
        for c in (
            Col.ORDER_ID,
            Col.USER_ID,
            Col.TS,
            Col.ITEM_ID,
            Col.QUANTITY,
            Col.AMOUNT,
            Col.GROUP_ID,
            Col.LIVE_ID,
            Col.EVENT_TYPE,
        )
        if c in buys.columns
    ]
    out = buys[cols].copy()
    if Col.QUANTITY in out.columns:
        out[Col.QUANTITY] = out[Col.QUANTITY].fillna(1.0)
    return out.sort_values([Col.TS, Col.ORDER_ID], kind="stable").reset_index(drop=True)
