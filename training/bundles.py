"""Bundles: association analysis over baskets -> 2-4 complementary items sold together.

Frequent itemsets come from FP-growth (mlxtend; Spark MLlib has the same algorithm)
over a sparse baskets x items matrix. Every itemset S gets

- ``count`` / ``support``: baskets holding all of S (and their share of all baskets),
- ``n_users``: distinct shoppers behind those baskets (one heavy user's habit is no bundle),
- ``confidence``: min over members i of P(i | S - i), "a basket with the rest also holds i",
- ``lift``: min over members i of P(S) / (P(S - i) P(i)); for a pair the usual lift.
  Taking the minimum means every member adds to the rest (no passenger items),

is kept only when no two members share a subcategory (or a near-identical name),
(baskets placed from a live or a 接龙 chain are left out by default: they hold what the
operator featured together, not what shoppers combine),
and is scored by ``lift * (1 - z / sqrt(count)) * sqrt(confidence)``: the lift's
rough lower confidence bound (few baskets, little trust) times how reliably the
rest comes along. A greedy pass keeps diverse bundles
(a bundle sharing most of its items with a better one is dropped).

Output columns (:class:`BundleCol`) are what ``bundles.parquet`` holds and what the
serving reads. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from features.schema import LIST_SEP, Col, EventType


class BundleCol:
    """Columns of the bundles table (``bundles.parquet``)."""

    BUNDLE_ID = "bundle_id"  # stable within one table: "<scope>:<rank>"
    SCOPE = "scope"  # "all", "segment:<segment_id>" or "theme:<name>"
    ITEM_IDS = "item_ids"  # ';'-joined item ids, best-supported first
    NAMES = "names"  # ';'-joined item names, same order
    SIZE = "size"
    COUNT = "count"  # baskets holding every item
    SUPPORT = "support"
    N_USERS = "n_users"
    CONFIDENCE = "confidence"
    LIFT = "lift"
    SCORE = "score"
    AFFINITY = "affinity"  # scope support / overall support (1 for scope "all")
    PRICE = "price"  # combined list (or median paid) price of one of each item, yuan
    RANK = "rank"


BUNDLE_COLUMNS = [
    BundleCol.BUNDLE_ID,
    BundleCol.SCOPE,
    BundleCol.RANK,
    BundleCol.ITEM_IDS,
    BundleCol.NAMES,
    BundleCol.SIZE,
    BundleCol.COUNT,
    BundleCol.SUPPORT,
    BundleCol.N_USERS,
    BundleCol.CONFIDENCE,
    BundleCol.LIFT,
    BundleCol.SCORE,
    BundleCol.AFFINITY,
    BundleCol.PRICE,
]

_SET = "itemset"  # tuple of sorted item column indices


class BundleConfig(BaseModel):
    """How baskets become bundles."""

    model_config = ConfigDict(extra="forbid")

    min_size: int = Field(2, ge=2, description="Fewest items in a bundle.")
    max_size: int = Field(4, ge=2, le=6, description="Most items in a bundle.")
    min_count: int = Field(10, ge=2, description="Baskets that must hold the whole bundle.")
    min_users: int = Field(
        3, ge=1, description="Distinct shoppers whose baskets hold the whole bundle."
    )
    min_lift: float = Field(1.5, description="Every member must lift the rest at least this much.")
    min_confidence: float = Field(0.0, ge=0, le=1, description="Floor of the member confidence.")
    max_name_similarity: float = Field(
        0.5, description="Members whose name-token Jaccard reaches this are near-duplicates."
    )
    max_overlap: float = Field(
        0.5,
        description="Drop a bundle sharing more than this share of its items with a better one.",
    )
    lift_z: float = Field(
        1.96, ge=0, description="Score shrinks lift by (1 - z / sqrt(count)): its lower bound."
    )
    organic_only: bool = Field(
        True, description="Mine only baskets not placed from a live or a 接龙 chain."
    )
    max_items: int = Field(3000, description="Mine over at most this many most-bought items.")
    top: int = Field(100, ge=1, description="Bundles kept per scope.")
    min_affinity: float = Field(
        1.2, ge=0, description="A segment / theme bundle: its scope over-buys it this much."
    )
    min_scope_count: int = Field(3, ge=1, description="Scope baskets holding the bundle.")


@dataclass(frozen=True)
class BasketMatrix:
    """Baskets x items indicator matrix, with the ids behind rows and columns."""

    matrix: sp.csr_matrix  # bool, baskets x items
    item_ids: np.ndarray  # column -> item_id
    basket_users: np.ndarray  # row -> user code (index into `user_ids`)
    user_ids: np.ndarray

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])

    def item_counts(self) -> np.ndarray:
        """Baskets holding each item."""
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)

    def columns(self, item_ids: pd.Series | list[str] | np.ndarray) -> np.ndarray:
        """Column index of each item id, -1 when the item is in no basket."""
        pos = pd.Index(self.item_ids).get_indexer(pd.Index(np.asarray(item_ids, dtype=object)))
        return np.asarray(pos, dtype=np.int64)


def organic(baskets: pd.DataFrame) -> pd.DataFrame:
    """Purchase lines a shopper composed: not placed from a live nor by joining a 接龙 chain.

    Lines from a live or a chain hold what the operator featured together, which says
    nothing about which goods complement each other.
    """
    keep = pd.Series(True, index=baskets.index)
    if Col.LIVE_ID in baskets.columns:
        keep &= baskets[Col.LIVE_ID].isna()
    if Col.EVENT_TYPE in baskets.columns:
        keep &= (baskets[Col.EVENT_TYPE] != EventType.JIELONG.value).fillna(True)
    return baskets[keep.to_numpy(dtype=bool)]


def basket_matrix(baskets: pd.DataFrame) -> BasketMatrix:
    """Purchase lines (order_id, user_id, item_id) -> :class:`BasketMatrix` (one row per order)."""
    lines = baskets[baskets[Col.ORDER_ID].notna() & baskets[Col.ITEM_ID].notna()]
    rows, _ = pd.factorize(lines[Col.ORDER_ID], sort=True)
    cols, item_ids = pd.factorize(lines[Col.ITEM_ID], sort=True)
    m = sp.csr_matrix(
        (np.ones(len(lines), dtype=np.float32), (rows, cols)),
        shape=(int(rows.max(initial=-1)) + 1, len(item_ids)),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    if Col.USER_ID in lines.columns:
        users = lines[Col.USER_ID].fillna(lines[Col.ORDER_ID])
    else:
        users = lines[Col.ORDER_ID]
    per_basket = pd.Series(np.asarray(users, dtype=object)).groupby(rows).first()
    ucodes, uids = pd.factorize(per_basket.to_numpy(), sort=True)
    return BasketMatrix(
        m.astype(bool).tocsr(),
        np.asarray(item_ids, dtype=object),
        np.asarray(ucodes, dtype=np.int64),
        np.asarray(uids, dtype=object),
    )


def frequent_itemsets(bm: BasketMatrix, cfg: BundleConfig) -> pd.DataFrame:
    """Itemsets of 1..max_size items in at least ``min_count`` baskets: itemset, count."""
    from mlxtend.frequent_patterns import fpgrowth

    counts = bm.item_counts()
    order = np.argsort(-counts, kind="stable")[: cfg.max_items]
    keep = np.sort(order[counts[order] >= cfg.min_count])
    empty = pd.DataFrame({_SET: pd.Series([], dtype=object), BundleCol.COUNT: []})
    if len(keep) == 0 or bm.n_baskets == 0:
        return empty
    sub = bm.matrix[:, keep]
    frame = pd.DataFrame.sparse.from_spmatrix(sub, columns=np.arange(len(keep)))  # type: ignore[attr-defined]
    found = fpgrowth(frame, min_support=cfg.min_count / bm.n_baskets, max_len=cfg.max_size)
    if found.empty:
        return empty
    sets = found["itemsets"].map(lambda s: tuple(sorted(int(keep[j]) for j in s)))
    out = pd.DataFrame(
        {
            _SET: sets.to_numpy(),
            BundleCol.COUNT: np.rint(found["support"].to_numpy() * bm.n_baskets).astype(np.int64),
        }
    )
    return out.reset_index(drop=True)


def _members(sets: pd.Series) -> pd.DataFrame:
    """(set row, position, item column) for every member of every itemset."""
    ex = sets.explode()
    pos = ex.groupby(level=0).cumcount().to_numpy()
    return pd.DataFrame(
        {"row": ex.index.to_numpy(), "pos": pos, "item": ex.to_numpy().astype(np.int64)}
    )


def _containment(bm: BasketMatrix, sets: pd.Series) -> sp.csr_matrix:
    """Baskets x itemsets indicator: the basket holds every member of the itemset."""
    mem = _members(sets)
    a = sp.csr_matrix(
        (np.ones(len(mem), np.float32), (mem["item"].to_numpy(), mem["row"].to_numpy())),
        shape=(bm.matrix.shape[1], len(sets)),
    )
    hits = (bm.matrix.astype(np.float32) @ a).tocsr()
    size = sets.map(len).to_numpy()
    hits.data = (hits.data >= size[hits.indices]).astype(np.float32)
    hits.eliminate_zeros()
    return hits


def distinct_users(bm: BasketMatrix, sets: pd.Series) -> np.ndarray:
    """Distinct shoppers whose baskets hold each itemset."""
    if len(sets) == 0:
        return np.zeros(0, dtype=np.int64)
    c = _containment(bm, sets)
    u = sp.csr_matrix(
        (np.ones(bm.n_baskets, np.float32), (bm.basket_users, np.arange(bm.n_baskets))),
        shape=(len(bm.user_ids), bm.n_baskets),
    )
    per_user = (u @ c).tocsc()
    return np.diff(per_user.indptr).astype(np.int64)


def itemset_metrics(itemsets: pd.DataFrame, bm: BasketMatrix) -> pd.DataFrame:
    """Support, min-member confidence and lift of each multi-item set (needs its subsets too)."""
    n = max(bm.n_baskets, 1)
    counts = dict(zip(itemsets[_SET], itemsets[BundleCol.COUNT], strict=True))
    multi = itemsets[itemsets[_SET].map(len) >= 2].reset_index(drop=True)
    if multi.empty:
        return multi.assign(**{BundleCol.SUPPORT: [], BundleCol.CONFIDENCE: [], BundleCol.LIFT: []})
    item_count = bm.item_counts()
    mem = _members(multi[_SET])
    # S - i for every member i: the rest's count comes from the (downward-closed) itemset table
    rest = mem.merge(mem, on="row", suffixes=("", "_o"))
    rest = rest[rest["pos"] != rest["pos_o"]].sort_values(["row", "pos", "item_o"])
    rest_sets = rest.groupby(["row", "pos"])["item_o"].agg(tuple)
    rest_count = rest_sets.map(counts).astype(float).to_numpy()
    mem = mem.set_index(["row", "pos"]).loc[rest_sets.index].reset_index()
    s_count = multi[BundleCol.COUNT].to_numpy()[mem["row"].to_numpy()].astype(float)
    conf = s_count / rest_count
    lift = conf / (item_count[mem["item"].to_numpy()] / n)
    per = pd.DataFrame({"row": mem["row"], "conf": conf, "lift": lift}).groupby("row").min()
    out = multi.copy()
    out[BundleCol.SUPPORT] = out[BundleCol.COUNT] / n
    out[BundleCol.CONFIDENCE] = per["conf"].to_numpy()
    out[BundleCol.LIFT] = per["lift"].to_numpy()
    return out


def kind_keys(items: pd.DataFrame, item_ids: np.ndarray) -> np.ndarray:
    """Per basket column: the key two bundle members must not share (subcategory, else the item)."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    ids = pd.Index(item_ids)
    key = pd.Series(np.asarray(item_ids, dtype=object), index=ids, dtype=object)
    if Col.SUBCATEGORY in cat.columns:
        sub = cat[Col.SUBCATEGORY].reindex(ids)
        key = ("sub:" + sub.astype("string")).astype(object).where(sub.notna(), key)
    return key.to_numpy(dtype=object)


def _name_tokens(items: pd.DataFrame, item_ids: np.ndarray) -> sp.csr_matrix:
    """Item columns x lower-case name tokens indicator."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    names = cat[Col.NAME].reindex(pd.Index(item_ids)) if Col.NAME in cat.columns else None
    names = pd.Series(item_ids, dtype="string") if names is None else names.astype("string")
    names = names.fillna(pd.Series(item_ids, index=names.index, dtype="string"))
    tok = names.str.lower().str.findall(r"[a-z0-9]+|[^\sa-z0-9\W]").reset_index(drop=True)
    ex = tok.explode().dropna()
    if ex.empty:
        return sp.csr_matrix((len(item_ids), 0), dtype=np.float32)
    codes, _ = pd.factorize(ex)
    m = sp.csr_matrix(
        (np.ones(len(ex), np.float32), (ex.index.to_numpy(), codes)),
        shape=(len(item_ids), int(codes.max()) + 1),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def valid_sets(
    cands: pd.DataFrame, items: pd.DataFrame, item_ids: np.ndarray, cfg: BundleConfig
) -> np.ndarray:
    """Mask of itemsets with no two members of one subcategory and no near-duplicate names."""
    if cands.empty:
        return np.zeros(0, dtype=bool)
    mem = _members(cands[_SET].reset_index(drop=True))
    keys = kind_keys(items, item_ids)
    mem["key"] = keys[mem["item"].to_numpy()]
    distinct = mem.groupby("row")["key"].nunique().to_numpy()
    ok = distinct == cands[_SET].map(len).to_numpy()
    tokens = _name_tokens(items, item_ids)
    if tokens.shape[1]:
        pairs = mem.merge(mem, on="row", suffixes=("", "_o"))
        pairs = pairs[pairs["pos"] < pairs["pos_o"]]
        a, b = pairs["item"].to_numpy(), pairs["item_o"].to_numpy()
        inter = np.asarray(tokens[a].multiply(tokens[b]).sum(axis=1)).ravel()
        size = np.asarray(tokens.sum(axis=1)).ravel()
        union = size[a] + size[b] - inter
        jac = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        dup = pd.Series(jac >= cfg.max_name_similarity).groupby(pairs["row"].to_numpy()).any()
        ok &= ~dup.reindex(np.arange(len(cands)), fill_value=False).to_numpy()
    return ok


def unit_prices(items: pd.DataFrame, baskets: pd.DataFrame | None = None) -> pd.Series:
    """Price of one unit per item_id: list price, else median paid amount / quantity."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    price = (
        pd.to_numeric(cat[Col.PRICE], errors="coerce")
        if Col.PRICE in cat.columns
        else pd.Series(np.nan, index=cat.index)
    )
    if baskets is not None and Col.AMOUNT in baskets.columns:
        qty = baskets[Col.QUANTITY] if Col.QUANTITY in baskets.columns else 1.0
        paid = (pd.to_numeric(baskets[Col.AMOUNT], errors="coerce") / qty).replace(
            [np.inf, -np.inf], np.nan
        )
        med = paid.groupby(baskets[Col.ITEM_ID]).median()
        price = price.fillna(med.reindex(price.index))
    return price.astype(float)


def candidates(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    cfg: BundleConfig,
    must_hold: pd.Series | pd.Index | list[str] | None = None,
) -> tuple[pd.DataFrame, BasketMatrix]:
    """Every valid itemset with its metrics and score, best first, and the basket matrix."""
    bm = basket_matrix(organic(baskets) if cfg.organic_only else baskets)
    sets = frequent_itemsets(bm, cfg)
    if sets.empty:
        return sets, bm
    scored = itemset_metrics(sets, bm)
    scored = scored[scored[_SET].map(len).between(cfg.min_size, cfg.max_size)]
    scored = scored[
        (scored[BundleCol.LIFT] >= cfg.min_lift)
        & (scored[BundleCol.CONFIDENCE] >= cfg.min_confidence)
    ].reset_index(drop=True)
    if must_hold is not None:
        wanted = set(bm.columns(pd.Series(list(must_hold), dtype=object)).tolist()) - {-1}
        scored = scored[scored[_SET].map(lambda s: bool(wanted.intersection(s)))]
        scored = scored.reset_index(drop=True)
    scored = scored[valid_sets(scored, items, bm.item_ids, cfg)].reset_index(drop=True)
    if scored.empty:
        return scored, bm
    scored[BundleCol.N_USERS] = distinct_users(bm, scored[_SET])
    scored = scored[scored[BundleCol.N_USERS] >= cfg.min_users].reset_index(drop=True)
    shrink = np.clip(1.0 - cfg.lift_z / np.sqrt(scored[BundleCol.COUNT].astype(float)), 0.0, 1.0)
    scored[BundleCol.SCORE] = (
        scored[BundleCol.LIFT] * shrink * np.sqrt(scored[BundleCol.CONFIDENCE])
    )
    scored[BundleCol.AFFINITY] = 1.0
    scored = scored.sort_values(
        [BundleCol.SCORE, BundleCol.COUNT], ascending=False, kind="stable"
    ).reset_index(drop=True)
    return scored, bm


def _pick(
    scored: pd.DataFrame, bm: BasketMatrix, items: pd.DataFrame, cfg: BundleConfig
) -> pd.DataFrame:
    """The diverse top of scored itemsets (already sorted best first)."""
    keys = kind_keys(items, bm.item_ids)
    kinds = scored[_SET].map(lambda st: tuple(keys[list(st)]))
    return scored.loc[select_diverse(kinds, cfg.max_overlap, cfg.top)].reset_index(drop=True)


def mine_bundles(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    cfg: BundleConfig | None = None,
    scope: str = "all",
    must_hold: pd.Series | pd.Index | list[str] | None = None,
) -> pd.DataFrame:
    """Baskets -> the top bundles of one scope (columns :data:`BUNDLE_COLUMNS`).

    ``must_hold``: keep only bundles holding at least one of these item ids (a theme).
    """
    cfg = cfg or BundleConfig()
    scored, bm = candidates(baskets, items, cfg, must_hold)
    if scored.empty:
        return empty_bundles()
    return describe(_pick(scored, bm, items, cfg), bm, items, baskets, scope)


def scoped_bundles(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    scopes: pd.DataFrame,
    cfg: BundleConfig | None = None,
    must_hold: pd.Series | pd.Index | list[str] | None = None,
) -> pd.DataFrame:
    """Bundles for groups of users (segments, a theme's audience): what each group over-buys.

    ``scopes``: (user_id, scope) rows, e.g. ``segment:3``. The candidates are mined on all
    baskets; in each scope a bundle's ``affinity`` is its support among the scope's
    baskets over its support among all baskets, ``count`` / ``support`` are the scope's,
    and ``score`` = overall score x affinity. Bundles the scope does not over-buy
    (affinity < ``min_affinity``) or holds in fewer than ``min_scope_count`` baskets are
    left out.
    """
    cfg = cfg or BundleConfig()
    scored, bm = candidates(baskets, items, cfg, must_hold)
    if scored.empty:
        return empty_bundles()
    contain = _containment(bm, scored[_SET]).tocsr()
    support_all = np.asarray(contain.sum(axis=0)).ravel() / max(bm.n_baskets, 1)
    owner = pd.Series(bm.user_ids[bm.basket_users].astype(str))
    parts = []
    for scope, users in scopes.groupby("scope", sort=True):  # a few segments / themes
        rows = np.flatnonzero(owner.isin(set(users[Col.USER_ID].astype(str))).to_numpy())
        if len(rows) == 0:
            continue
        count = np.asarray(contain[rows].sum(axis=0)).ravel()
        affinity = (count / len(rows)) / np.maximum(support_all, 1e-12)
        s = scored.copy()
        s[BundleCol.COUNT] = count.astype(np.int64)
        s[BundleCol.SUPPORT] = count / len(rows)
        s[BundleCol.AFFINITY] = affinity
        s[BundleCol.SCORE] = scored[BundleCol.SCORE] * affinity
        s = s[(count >= cfg.min_scope_count) & (affinity >= cfg.min_affinity)]
        s = s.sort_values([BundleCol.SCORE, BundleCol.COUNT], ascending=False, kind="stable")
        if len(s):
            s = s.reset_index(drop=True)
            parts.append(describe(_pick(s, bm, items, cfg), bm, items, baskets, str(scope)))
    return pd.concat(parts, ignore_index=True) if parts else empty_bundles()


def select_diverse(sets: pd.Series, max_overlap: float, top: int) -> list[int]:
    """Greedy pick, best first, of sets sharing at most ``max_overlap`` of members with a pick.

    The members compared are kind keys (subcategories), so two packs of the same goods in
    other variants (another brand of egg-tart shells) count as the same bundle.
    """
    picked: list[int] = []
    seen: list[frozenset[Any]] = []
    labels = sets.index.to_numpy()
    for pos, s in enumerate(sets.to_numpy()):  # over candidate bundles (not events); stops at `top`
        fs = frozenset(s)
        if all(len(fs & p) <= max_overlap * min(len(fs), len(p)) for p in seen):
            picked.append(int(labels[pos]))
            seen.append(fs)
            if len(picked) >= top:
                break
    return picked


def describe(
    scored: pd.DataFrame,
    bm: BasketMatrix,
    items: pd.DataFrame,
    baskets: pd.DataFrame | None,
    scope: str,
) -> pd.DataFrame:
    """Itemsets with metrics -> the bundles table: ids, names, price, rank."""
    if scored.empty:
        return empty_bundles()
    counts = bm.item_counts()
    ordered = scored[_SET].map(lambda s: sorted(s, key=lambda j: (-counts[j], j)))
    mem = _members(ordered)
    ids = pd.Series(bm.item_ids[mem["item"].to_numpy()], dtype=object)
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    names = (
        cat[Col.NAME].reindex(ids).astype(object).fillna(ids).to_numpy()
        if Col.NAME in cat.columns
        else ids.to_numpy()
    )
    price = unit_prices(items, baskets).reindex(ids).to_numpy()
    per = pd.DataFrame({"row": mem["row"], "id": ids.to_numpy(), "name": names, "price": price})
    g = per.groupby("row", sort=True)
    out = pd.DataFrame(
        {
            BundleCol.SCOPE: scope,
            BundleCol.RANK: np.arange(1, len(scored) + 1),
            BundleCol.ITEM_IDS: g["id"].agg(LIST_SEP.join).to_numpy(),
            BundleCol.NAMES: g["name"].agg(lambda s: LIST_SEP.join(map(str, s))).to_numpy(),
            BundleCol.SIZE: scored[_SET].map(len).to_numpy(),
            BundleCol.COUNT: scored[BundleCol.COUNT].to_numpy(),
            BundleCol.SUPPORT: scored[BundleCol.SUPPORT].to_numpy(),
            BundleCol.N_USERS: scored[BundleCol.N_USERS].to_numpy(),
            BundleCol.CONFIDENCE: scored[BundleCol.CONFIDENCE].to_numpy(),
            BundleCol.LIFT: scored[BundleCol.LIFT].to_numpy(),
            BundleCol.SCORE: scored[BundleCol.SCORE].to_numpy(),
            BundleCol.AFFINITY: scored[BundleCol.AFFINITY].to_numpy(),
            BundleCol.PRICE: g["price"]
            .sum()
            .where(~per["price"].isna().groupby(per["row"]).any())
            .to_numpy(),
        }
    )
    out[BundleCol.BUNDLE_ID] = scope + ":" + out[BundleCol.RANK].astype(str)
    return out[BUNDLE_COLUMNS]


def empty_bundles() -> pd.DataFrame:
    """A bundles table with no rows."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in BUNDLE_COLUMNS})


def segment_bundles(
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    segments: pd.DataFrame,
    cfg: BundleConfig | None = None,
) -> pd.DataFrame:
    """:func:`scoped_bundles` for every segment (scope ``segment:<id>``)."""
    scopes = pd.DataFrame(
        {
            Col.USER_ID: segments[Col.USER_ID].astype(str),
            "scope": "segment:" + segments[Col.SEGMENT_ID].astype(str),
        }
    )
    return scoped_bundles(baskets, items, scopes, cfg)


# ---- held-out check -------------------------------------------------------------------------


def completion_rate(bm: BasketMatrix, sets: pd.Series) -> np.ndarray:
    """Per itemset: mean over members i of P(basket holds all of S | it holds i)."""
    if len(sets) == 0:
        return np.zeros(0)
    full = np.asarray(_containment(bm, sets).sum(axis=0)).ravel()
    counts = bm.item_counts()
    mem = _members(sets.reset_index(drop=True))
    have = counts[mem["item"].to_numpy()].astype(float)
    rate = np.where(have > 0, full[mem["row"].to_numpy()] / np.maximum(have, 1), np.nan)
    return pd.Series(rate).groupby(mem["row"].to_numpy()).mean().to_numpy()


def popularity_matched_sets(
    sets: pd.Series,
    counts: np.ndarray,
    keys: np.ndarray,
    n_random: int,
    seed: int,
    n_bins: int = 20,
) -> pd.DataFrame:
    """For each itemset, ``n_random`` random sets whose members come from the same popularity bins.

    Members of a random set are drawn from the items in the same popularity quantile bin
    as the bundle member they stand in for, with distinct kind keys. Columns: source, itemset.
    """
    rng = np.random.default_rng(seed)
    bought = np.flatnonzero(counts > 0)
    ranks = pd.Series(counts[bought]).rank(method="first", pct=True).to_numpy()
    bins = np.full(len(counts), -1, dtype=np.int64)
    bins[bought] = np.minimum((ranks * n_bins).astype(np.int64), n_bins - 1)
    pools = {b: bought[bins[bought] == b] for b in range(n_bins)}
    mem = _members(sets.reset_index(drop=True))
    rep = mem.loc[mem.index.repeat(n_random)].copy()
    rep["draw"] = np.tile(np.arange(n_random), len(mem))
    member_bins = bins[rep["item"].to_numpy()]
    pick = np.empty(len(rep), dtype=np.int64)
    for b, pool in pools.items():  # one vectorised draw per popularity bin
        hit = member_bins == b
        if hit.any():
            pick[hit] = pool[rng.integers(0, len(pool), int(hit.sum()))]
    rep["item"] = pick
    grouped = rep.groupby(["row", "draw"], sort=True)
    out = grouped["item"].agg(lambda s: tuple(sorted(s))).reset_index()  # type: ignore[type-var]
    distinct = grouped["item"].agg(lambda s: len(set(keys[s.to_numpy()]))).to_numpy()
    out = out[distinct == out["item"].map(len).to_numpy()]
    return pd.DataFrame({"source": out["row"].to_numpy(), _SET: out["item"].to_numpy()})


def holdout_check(
    train: pd.DataFrame,
    test: pd.DataFrame,
    items: pd.DataFrame,
    cfg: BundleConfig | None = None,
    top: int = 20,
    n_random: int = 50,
    seed: int = 42,
    n_bins: int = 10,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Mine on ``train`` baskets; on ``test`` baskets compare completion of top bundles and random sets.

    Completion of S: among test baskets holding one member, the share holding all the
    rest (averaged over members). The random sets match each member's popularity bin
    (train basket counts, ``n_bins`` quantile bins) and never repeat a subcategory.
    """
    cfg = cfg or BundleConfig()
    if cfg.organic_only:
        train, test = organic(train), organic(test)
    bundles = mine_bundles(train, items, cfg).head(top)
    bm_train = basket_matrix(train)
    bm_test = basket_matrix(test)
    if bundles.empty:
        return bundles, {"bundles": 0.0}
    ids = bundles[BundleCol.ITEM_IDS].str.split(LIST_SEP)
    # columns in the test matrix, aligned on the train item index
    all_ids = np.union1d(bm_train.item_ids.astype(str), bm_test.item_ids.astype(str))
    test_al = _realign(bm_test, all_ids)
    train_counts = _realign(bm_train, all_ids).item_counts()
    idx = pd.Index(all_ids)
    sets = ids.map(lambda xs: tuple(sorted(idx.get_indexer(xs).tolist())))
    bundles = bundles.assign(test_completion=completion_rate(test_al, sets))
    keys = kind_keys(items, all_ids)
    rand = popularity_matched_sets(sets, train_counts, keys, n_random, seed, n_bins)
    rand["completion"] = completion_rate(test_al, rand[_SET])
    base = rand.groupby("source")["completion"].mean()
    bundles["random_completion"] = base.reindex(np.arange(len(bundles))).to_numpy()
    b, r = bundles["test_completion"].mean(), bundles["random_completion"].mean()
    summary = {
        "bundles": float(len(bundles)),
        "test_baskets": float(bm_test.n_baskets),
        "bundle_completion": float(b),
        "random_completion": float(r),
        "ratio": float(b / r) if r > 0 else float("inf"),
        "bundles_beating_random": float(
            (bundles["test_completion"] > bundles["random_completion"]).mean()
        ),
    }
    return bundles, summary


def _realign(bm: BasketMatrix, item_ids: np.ndarray) -> BasketMatrix:
    """The same baskets over another item index (``item_ids`` must hold every column's id)."""
    pos = pd.Index(item_ids).get_indexer(bm.item_ids.astype(str))
    coo = bm.matrix.tocoo()
    m = sp.csr_matrix(
        (coo.data, (coo.row, pos[coo.col])), shape=(bm.n_baskets, len(item_ids)), dtype=bool
    )
    return BasketMatrix(m, np.asarray(item_ids, dtype=object), bm.basket_users, bm.user_ids)
