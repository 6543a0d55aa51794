"""User-item matrices from the event log: id maps, weighted time-decayed interactions, purchases, side features.

This is what every model fits on. Rows are unified users, columns catalogue
items, both in the order of their :class:`IdMap`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features.encoding import factorize, to_arrow
from features.schema import LIST_SEP, Col

_DAY_S = 86400.0


class BasketCol:
    """Columns of :attr:`Interactions.baskets`: one row per (user, basket, item), dense indices."""

    USER = "user"  # user index
    BASKET = "basket"  # 0-based chronological basket number within the user
    ITEM = "item"  # item index
    AGE = "age"  # days from the basket to the snapshot (its earliest line)
    WEIGHT = "weight"  # decayed event strength of the lines (what they add to `weights`)
    COUNT = "count"  # purchase lines (what they add to `purchases`)


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

    @cached_property
    def _lookup(self) -> pd.Index:
        return pd.Index(self.ids)

    def index(self, values: pd.Series | np.ndarray | list[str]) -> np.ndarray:
        """Dense index of each value, -1 where unknown."""
        codes, distinct = factorize(to_arrow(values))
        found = np.append(self._lookup.get_indexer(pd.Index(distinct)), -1).astype(np.int64)
        return found[codes]

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
    # purchases as ordered baskets (columns :class:`BasketCol`), e.g. for TIFU-KNN
    baskets: pd.DataFrame | None = None
    # users x groups membership indicator, columns in the order of `group_ids`
    user_groups: sp.csr_matrix | None = None
    group_ids: IdMap | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.users), len(self.items))

    def save(self, path: Path | str) -> None:
        """Write matrices (npz), id maps (parquet) and metadata (json) into a folder."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.users.to_frame(Col.USER_ID).to_parquet(path / "users.parquet", index=False)
        self.items.to_frame(Col.ITEM_ID).to_parquet(path / "items.parquet", index=False)
        for name in _MATRICES:
            m = getattr(self, name)
            if m is not None:
                sp.save_npz(path / f"{name}.npz", m.tocsr(), compressed=False)  # fast to write
        if self.baskets is not None:
            self.baskets.to_parquet(path / "baskets.parquet", index=False)
        if self.group_ids is not None:
            self.group_ids.to_frame(Col.GROUP_ID).to_parquet(path / "groups.parquet", index=False)
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
            baskets=pd.read_parquet(path / "baskets.parquet")
            if (path / "baskets.parquet").exists()
            else None,
            user_groups=opt("user_groups"),
            group_ids=IdMap(
                np.asarray(pd.read_parquet(path / "groups.parquet")[Col.GROUP_ID], dtype=object)
            )
            if (path / "groups.parquet").exists()
            else None,
        )


_MATRICES = (
    "weights",
    "purchases",
    "last_purchase_age",
    "user_features",
    "item_features",
    "user_groups",
)


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


def attach_groups(inter: Interactions, members: pd.DataFrame) -> Interactions:
    """Set `user_groups` / `group_ids` from a group_members frame (user_id, group_id[, left_at]).

    Memberships that ended (left_at at or before the snapshot) are dropped. Returns `inter`.
    """
    m = members[members[Col.USER_ID].notna() & members[Col.GROUP_ID].notna()]
    if Col.LEFT_AT in m.columns:
        left = pd.to_datetime(m[Col.LEFT_AT], utc=True)
        snap = pd.Timestamp(inter.snapshot)
        snap = snap.tz_localize("UTC") if snap.tzinfo is None else snap.tz_convert("UTC")
        m = m[left.isna() | (left > snap)]
    groups = IdMap.from_values(m[Col.GROUP_ID])
    u = inter.users.index(m[Col.USER_ID])
    g = groups.index(m[Col.GROUP_ID])
    ok = (u >= 0) & (g >= 0)
    ug = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (u[ok], g[ok])), shape=(len(inter.users), len(groups))
    )
    ug.sum_duplicates()
    ug.data[:] = 1.0
    inter.user_groups, inter.group_ids = ug, groups
    return inter


def hold_out_last_baskets(
    inter: Interactions, min_baskets: int = 2
) -> tuple[Interactions, sp.csr_matrix]:
    """(interactions without each user's last basket, users x items truth of those baskets).

    Only users with at least `min_baskets` baskets lose one. `weights` and `purchases` lose
    exactly what the held-out lines added; `last_purchase_age` is recomputed from the rest.
    """
    if inter.baskets is None:
        raise ValueError("hold_out_last_baskets needs Interactions.baskets")
    b = inter.baskets
    n_b = b.groupby(BasketCol.USER)[BasketCol.BASKET].transform("max").to_numpy() + 1
    last = (b[BasketCol.BASKET].to_numpy() == n_b - 1) & (n_b >= min_baskets)
    held, keep = b[last], b[~last].reset_index(drop=True)
    shape = inter.shape
    hu, hi = held[BasketCol.USER].to_numpy(), held[BasketCol.ITEM].to_numpy()
    truth = sp.csr_matrix((np.ones(len(held), np.float32), (hu, hi)), shape=shape)
    truth.sum_duplicates()
    truth.data[:] = 1.0

    def minus(m: sp.csr_matrix, vals: np.ndarray) -> sp.csr_matrix:
        sub = sp.csr_matrix((vals.astype(np.float64), (hu, hi)), shape=shape)
        out = (m.astype(np.float64) - sub).tocsr()
        out.eliminate_zeros()
        if out.nnz:  # float residue of a cell whose every line was held out counts as empty
            rows, cols = out.nonzero()
            base = np.asarray(m[rows, cols], dtype=np.float64).ravel()
            out.data[out.data <= 1e-6 * np.abs(base)] = 0.0
            out.eliminate_zeros()
        return out.astype(np.float32)

    weights = minus(inter.weights, held[BasketCol.WEIGHT].to_numpy())
    purchases = minus(inter.purchases, held[BasketCol.COUNT].to_numpy())
    last_age = _csr(
        keep[BasketCol.USER].to_numpy(),
        keep[BasketCol.ITEM].to_numpy(),
        keep[BasketCol.AGE].to_numpy() + 1.0,
        shape,
        agg="min",
    )
    train = replace(
        inter, weights=weights, purchases=purchases, last_purchase_age=last_age, baskets=keep
    )
    return train, truth


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
        rank = cat[Col.PRICE].rank(method="first")
        n_priced = int(rank.notna().sum())
        band = (  # quintiles of price; fewer bands when few items have a price
            pd.qcut(rank, q=min(5, n_priced), labels=False, duplicates="drop").astype("string")
            if n_priced >= 2
            else rank.where(rank.isna(), 0).astype("string")
        )
        m, n = one_hot(ids, items, band, "price_band=")
        parts.append(m)
        names += n
    if not parts:
        return sp.csr_matrix((len(items), 0), dtype=np.float32), []
    return sp.hstack(parts, format="csr", dtype=np.float32), names


USER_FEATURE_EXCLUDED = ("group:",)  # tag prefixes too many-valued to be user features


def user_feature_matrix(
    users: IdMap, tags: pd.DataFrame, exclude_prefixes: tuple[str, ...] = USER_FEATURE_EXCLUDED
) -> tuple[sp.csr_matrix, list[str]]:
    """User side features: one column per tag (rule and manual), minus high-cardinality prefixes."""
    t = tags[~tags[Col.TAG].astype("string").str.startswith(exclude_prefixes)]
    return one_hot(t[Col.USER_ID].to_numpy(), users, t[Col.TAG], "tag=")
