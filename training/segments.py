"""Segment discovery: cluster users on what they buy, say and spend; name each segment in words.

Features per user, in blocks (each block z-scored and weighted so that no block
dominates by its number of columns):

- ``buy``: share of the user's purchase lines per category (and subcategory),
- ``engage``: share of the user's decayed event weight (views ... orders) per category,
- ``interest``: interest tags from search / comment / chat text (``interest:*``),
- ``rfm``: log frequency, log AOV, log recency, log orders per 30 days,
- ``embedding``: optional user vectors of a fitted recommender (e.g. ALS), row-normalised,
- with the event log: the motive blocks of :mod:`training.segment_motives` (price
  sensitivity, time of day, channel, engagement, value tier, text), so that people with
  alike baskets but different motives (price-driven shoppers, seniors buying staples) part.

The blocks are reduced with PCA, then KMeans (or a Gaussian mixture) is fitted
for every k in a range and the k with the best silhouette (or the lowest BIC) is
kept. Users with no item events and no interest tags are not clustered: they get
segment :data:`NEW_SEGMENT` ("new / little activity").

A segment's name comes from the tags most over-represented in it (share in the
segment / share overall), mapped to words by :attr:`SegmentConfig.labels`, e.g.
``interest:fitness`` -> "fitness / light meals". Its profile (:func:`profiles`)
holds size, value-tier mix, AOV, purchase frequency, top categories, top items,
top groups and the defining tags. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from features.matrix import IdMap, Interactions
from features.schema import Col
from training.segment_motives import (
    PLACEHOLDER_VALUES,
    motive_blocks,
    motive_labels,
    search_word_counts,
)

NEW_SEGMENT = -1
NEW_SEGMENT_NAME = "new / little activity"
# tags true of the ordinary user: they never tell a segment apart in words
UNINFORMATIVE_TAGS = frozenset({"tier:regular"})
INTEREST_PREFIX = "interest:"
DETAIL = "detail"

DEFAULT_LABELS: dict[str, str] = {
    "interest:fitness": "fitness / light meals",
    "interest:baby": "young parents",
    "interest:baking": "home bakers",
    "interest:premium": "premium imported",
    "interest:bargain": "bargain hunters",
    "interest:elderly": "seniors / pantry staples",
    "tier:diamond": "top spenders",
    "tier:gold": "loyal regulars",
    "freq:high": "frequent buyers",
    "freq:low": "occasional buyers",
    "aov:high": "big baskets",
    "aov:low": "small baskets",
}


class SegmentConfig(BaseModel):
    """How users are clustered into segments and how segments are named."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["kmeans", "gmm"] = Field("kmeans", description="Clustering algorithm.")
    criterion: Literal["silhouette", "bic"] = Field(
        "silhouette", description="How k is chosen (bic needs method=gmm)."
    )
    k_min: int = Field(3, ge=2, description="Fewest segments tried.")
    k_max: int = Field(12, ge=2, description="Most segments tried.")
    components: int = Field(16, ge=2, description="PCA dimensions the clustering runs in.")
    block_weights: dict[str, float] = Field(
        # chosen on the five synth presets together (true k, seed 1), checked on seed 42: the
        # basket (items + search words) leads; motives part baskets that look alike; volume
        # blocks (rfm, engagement, value) stay light as unlinked identities split people by them
        default={
            "items": 1.0,
            "buy": 0.5,
            "engage": 0.3,
            "interest": 0.3,
            "price": 0.4,
            "time": 0.3,
            "channel": 0.2,
            "engagement": 0.1,
            "value": 0.1,
            "rfm": 0.1,
            "embedding": 0.0,
        },
        description="Weight of each feature block (0 leaves it out).",
    )
    whole_blocks: tuple[str, ...] = Field(
        ("items", "embedding"),
        description="Blocks scaled as a whole (embeddings), not column by column.",
    )
    subcategories: bool = Field(True, description="Add subcategory shares to the buy block.")
    silhouette_sample: int = Field(4000, ge=100, description="Users sampled for the silhouette.")
    n_init: int = Field(4, ge=1, description="KMeans restarts per k.")
    min_active_events: float = Field(
        0.0,
        ge=0,
        description="Users with at most this much event weight and no interest are 'new'.",
    )
    name_tags_exclude: tuple[str, ...] = Field(
        ("group:", "compound:", "channel:", "allergy:", "avoid:"),
        description="Tag prefixes never used to name a segment.",
    )
    name_min_share: float = Field(0.25, description="A naming tag covers at least this share.")
    name_min_lift: float = Field(1.5, description="A naming tag is this over-represented.")
    name_min_lift_interest: float = Field(
        1.3, description="The same for interest tags (what people say is the first clue)."
    )
    name_parts: int = Field(2, ge=1, description="Most labels joined into one name.")
    labels: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_LABELS), description="Tag -> words in a name."
    )
    top_n: int = Field(5, ge=1, description="Top categories / items / groups in a profile.")
    seed: int = 42


# ---- features ---------------------------------------------------------------------------


def _one_hot(index: IdMap, ids: pd.Series, values: pd.Series) -> tuple[sp.csr_matrix, list[str]]:
    """Rows of `index` x distinct `values` indicator."""
    rows = index.index(ids)
    ok = (rows >= 0) & values.notna().to_numpy()
    vocab = IdMap.from_values(values[ok])
    cols = vocab.index(values[ok])
    m = sp.csr_matrix(
        (np.ones(int(ok.sum()), np.float32), (rows[ok], cols)), shape=(len(index), len(vocab))
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, [str(v) for v in vocab.ids]


def _row_share(m: sp.csr_matrix) -> np.ndarray:
    """Dense rows divided by their sums (empty rows stay 0)."""
    d = np.asarray(m.todense(), dtype=np.float64)
    s = d.sum(axis=1, keepdims=True)
    return np.divide(d, s, out=np.zeros_like(d), where=s > 0)


ITEM_DIMENSIONS = 32


def item_block(weights: sp.csr_matrix, seed: int) -> tuple[np.ndarray, list[str]]:
    """The basket at item level (and search words): tf-idf, TruncatedSVD, unit rows."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.preprocessing import normalize

    dims = min(ITEM_DIMENSIONS, weights.shape[1] - 1, weights.shape[0] - 1)
    if dims < 1 or weights.nnz == 0:
        return np.zeros((weights.shape[0], 0)), []
    x = TfidfTransformer(sublinear_tf=True).fit_transform(weights.tocsr())
    z = normalize(TruncatedSVD(n_components=dims, random_state=seed).fit_transform(x))
    return z, [f"i{j}" for j in range(dims)]


@dataclass
class UserFeatures:
    """The feature blocks of every user (rows follow `users`)."""

    users: IdMap
    blocks: dict[str, np.ndarray]
    names: dict[str, list[str]]
    active: np.ndarray  # bool per user: has item events or interests

    def matrix(
        self, weights: dict[str, float], whole: tuple[str, ...] = ()
    ) -> tuple[np.ndarray, list[str]]:
        """Standardised blocks, each scaled by weight / sqrt(columns), side by side (active rows).

        Blocks named in `whole` (embeddings: their columns' variances carry meaning) are
        centred and divided by one scale; the others are z-scored column by column.
        """
        parts, names = [], []
        for name, block in self.blocks.items():
            w = weights.get(name, 0.0)
            if w <= 0 or block.shape[1] == 0:
                continue
            x = block[self.active]
            sd = x.std(axis=0)
            keep = sd > 1e-9
            if name in whole:
                sd = np.full_like(sd, np.sqrt(np.mean(sd[keep] ** 2)) if keep.any() else 1.0)
            z = (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]
            parts.append(z * (w / np.sqrt(max(int(keep.sum()), 1))))
            names += [f"{name}:{n}" for n, k in zip(self.names[name], keep, strict=True) if k]
        if not parts:
            return np.zeros((int(self.active.sum()), 0)), []
        return np.hstack(parts), names


def user_features(
    inter: Interactions,
    items: pd.DataFrame,
    users: pd.DataFrame,
    tags: pd.DataFrame,
    cfg: SegmentConfig,
    embedding: np.ndarray | None = None,
    events: pd.DataFrame | None = None,
) -> UserFeatures:
    """Feature blocks from the interaction matrices, catalogue, user profiles, tags (and events)."""
    cat = items.drop_duplicates(Col.ITEM_ID)
    cat_ids = cat[Col.ITEM_ID]
    ic, cnames = _one_hot(inter.items, cat_ids, cat[Col.CATEGORY].astype("string"))
    buy_m = inter.purchases @ ic
    names_buy = [f"cat={c}" for c in cnames]
    if cfg.subcategories and Col.SUBCATEGORY in cat.columns and cat[Col.SUBCATEGORY].notna().any():
        isub, snames = _one_hot(inter.items, cat_ids, cat[Col.SUBCATEGORY].astype("string"))
        buy_sub = _row_share(inter.purchases @ isub)
        buy = np.hstack([_row_share(buy_m), buy_sub])
        names_buy += [f"sub={s}" for s in snames]
    else:
        buy = _row_share(buy_m)
    engage = _row_share(inter.weights @ ic)
    it = tags[tags[Col.TAG].astype("string").str.startswith(INTEREST_PREFIX)]
    im, inames = _one_hot(inter.users, it[Col.USER_ID], it[Col.TAG].astype("string"))
    interest = np.asarray(im.todense(), dtype=np.float64)
    prof = users.set_index(Col.USER_ID).reindex(pd.Index(inter.users.ids))
    rfm_cols = ["frequency", "aov", "recency_days", "orders_per_30d"]
    rfm = np.column_stack(
        [
            np.log1p(pd.to_numeric(prof[c], errors="coerce").fillna(0).clip(lower=0))
            if c in prof.columns
            else np.zeros(len(prof))
            for c in rfm_cols
        ]
    )
    blocks = {"buy": buy, "engage": engage, "interest": interest, "rfm": rfm}
    names = {"buy": names_buy, "engage": cnames, "interest": inames, "rfm": rfm_cols}
    if embedding is not None:
        norm = np.linalg.norm(embedding, axis=1, keepdims=True)
        blocks["embedding"] = np.divide(
            embedding, norm, out=np.zeros_like(embedding, dtype=np.float64), where=norm > 0
        )
        names["embedding"] = [f"f{j}" for j in range(embedding.shape[1])]
    basket = inter.weights.tocsr()
    if events is not None:
        ids = pd.Index(np.asarray(inter.users.ids, dtype=str))
        basket = sp.hstack([basket, search_word_counts(ids, events)]).tocsr()
        more, more_names = motive_blocks(ids, events, items, users)
        blocks.update(more)
        names.update(more_names)
    blocks["items"], names["items"] = item_block(basket, cfg.seed)
    weight = np.asarray(inter.weights.sum(axis=1)).ravel()
    active = (weight > cfg.min_active_events) | (interest.sum(axis=1) > 0)
    return UserFeatures(inter.users, blocks, names, active)


# ---- clustering -------------------------------------------------------------------------


@dataclass
class Clustering:
    """Labels of the active users and how k was chosen."""

    labels: np.ndarray  # per active user, 0..k-1
    k: int
    scores: dict[int, float]  # k -> silhouette (higher better) or BIC (lower better)
    criterion: str
    components: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))


def _silhouette(x: np.ndarray, labels: np.ndarray, sample: int, seed: int) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2:
        return -1.0
    n = min(sample, len(x))
    return float(silhouette_score(x, labels, sample_size=n, random_state=seed))


def cluster(x: np.ndarray, cfg: SegmentConfig) -> Clustering:
    """PCA, then the clustering for each k in [k_min, k_max]; keep the k the criterion prefers."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    n = len(x)
    if n == 0:
        return Clustering(np.zeros(0, np.int64), 0, {}, cfg.criterion)
    if x.shape[1] == 0 or n < 3:  # nothing to tell users apart by: one segment
        return Clustering(np.zeros(n, np.int64), 1, {1: -1.0}, cfg.criterion)
    dims = max(1, min(cfg.components, x.shape[1], n - 1))
    z = PCA(n_components=dims, random_state=cfg.seed).fit_transform(x) if dims > 0 else x
    k_hi = max(1, min(cfg.k_max, n - 1))
    k_lo = min(cfg.k_min, k_hi)
    scores: dict[int, float] = {}
    fits: dict[int, np.ndarray] = {}
    for k in range(k_lo, k_hi + 1):  # a handful of model fits, not a loop over users
        if cfg.method == "kmeans":
            model = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=cfg.seed)
            labels = model.fit_predict(z)
        else:
            gm = GaussianMixture(
                n_components=k, covariance_type="diag", n_init=2, random_state=cfg.seed
            )
            labels = gm.fit(z).predict(z)
        fits[k] = labels
        if cfg.criterion == "bic":
            if cfg.method != "gmm":
                raise ValueError("criterion 'bic' needs method 'gmm'")
            scores[k] = float(gm.bic(z))
        else:
            scores[k] = _silhouette(z, labels, cfg.silhouette_sample, cfg.seed)
    best = (min if cfg.criterion == "bic" else max)(scores, key=lambda k: scores[k])
    return Clustering(relabel_by_size(fits[best]), best, scores, cfg.criterion, z)


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Cluster labels renumbered 0, 1, ... from the largest cluster down (stable ids)."""
    uniq, counts = np.unique(labels, return_counts=True)
    order = uniq[np.lexsort((uniq, -counts))]
    remap = np.empty(int(uniq.max()) + 1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    return remap[labels]


# ---- naming and profiles ----------------------------------------------------------------


def tag_lift(assign: pd.DataFrame, tags: pd.DataFrame, exclude: tuple[str, ...]) -> pd.DataFrame:
    """Per (segment, tag): share of the segment's users with it, share overall, and lift."""
    t = tags[~tags[Col.TAG].astype("string").str.startswith(exclude)]
    t = t[[Col.USER_ID, Col.TAG]].drop_duplicates()
    t = t.merge(assign[[Col.USER_ID, Col.SEGMENT_ID]], on=Col.USER_ID, how="inner")
    size = assign.groupby(Col.SEGMENT_ID).size().rename("size")
    n = len(assign)
    per = t.groupby([Col.SEGMENT_ID, Col.TAG]).size().rename("n").reset_index()
    per = per.merge(size, left_on=Col.SEGMENT_ID, right_index=True)
    overall = t.groupby(Col.TAG).size().rename("n_all")
    per = per.merge(overall, left_on=Col.TAG, right_index=True)
    per["share"] = per["n"] / per["size"]
    per["share_all"] = per["n_all"] / max(n, 1)
    per["lift"] = per["share"] / per["share_all"]
    return per.sort_values([Col.SEGMENT_ID, "lift"], ascending=[True, False]).reset_index(drop=True)


def _label(tag: str, labels: dict[str, str]) -> str:
    if tag in labels:
        return labels[tag]
    if tag.startswith("prefers:"):
        return f"{tag.split(':', 1)[1]} lovers"
    return tag.split(":", 1)[-1]


def name_segments(
    lifts: pd.DataFrame,
    segment_ids: list[int],
    cfg: SegmentConfig,
    motives: dict[int, list[str]] | None = None,
) -> dict[int, str]:
    """A readable, unique name per segment from its most over-represented tags.

    `motives` (segment -> words, see :func:`training.segment_motives.motive_labels`) name the
    segments no tag describes and tell apart segments that would share a name.
    """
    motives = motives or {}
    tag = lifts[Col.TAG].astype("string")
    is_interest = tag.str.startswith(INTEREST_PREFIX)
    min_lift = np.where(is_interest, cfg.name_min_lift_interest, cfg.name_min_lift)
    value = tag.str.split(":", n=1).str[-1].str.strip().str.lower()
    meaningful = ~value.isin(PLACEHOLDER_VALUES) & ~tag.isin(UNINFORMATIVE_TAGS)
    ok = lifts[(lifts["share"] >= cfg.name_min_share) & (lifts["lift"] >= min_lift) & meaningful]
    ok = ok.assign(
        label=ok[Col.TAG].map(lambda t: _label(str(t), cfg.labels)),
        known=ok[Col.TAG].isin(list(cfg.labels)) | ok[Col.TAG].str.startswith("prefers:"),
        rank_key=ok["lift"] * np.sqrt(ok["share"]),
    )
    # interest tags (what people say) first, then mapped behaviour tags, then others
    ok["prio"] = np.where(
        ok[Col.TAG].str.startswith(INTEREST_PREFIX), 0, np.where(ok["known"], 1, 2)
    )
    ok = ok.sort_values([Col.SEGMENT_ID, "prio", "rank_key"], ascending=[True, True, False])
    names: dict[int, str] = {}
    spare: dict[int, list[str]] = {}  # further labels, to tell apart segments of one name
    for seg in segment_ids:  # one entry per segment
        if seg == NEW_SEGMENT:
            names[seg] = NEW_SEGMENT_NAME
            continue
        mine = ok[ok[Col.SEGMENT_ID] == seg]
        if mine.empty:
            words = motives.get(seg, [])
            names[seg] = " · ".join(words[: cfg.name_parts]) or "general shoppers"
            spare[seg] = words[cfg.name_parts :]
            continue
        # the lead label: the best interest (what people say), else the best mapped tag;
        # supporting labels: the most over-represented of the rest, with the full lift bar
        lead = str(mine["label"].iloc[0])
        rest = mine[(mine["lift"] >= cfg.name_min_lift) & (mine["label"] != lead)]
        rest = rest.sort_values(["known", "rank_key"], ascending=[False, False])
        labels = [lead, *dict.fromkeys(rest["label"].astype(str))]
        names[seg] = " · ".join(labels[: cfg.name_parts])
        weaker = mine.sort_values("rank_key", ascending=False)["label"].astype(str).tolist()
        used = labels[: cfg.name_parts]
        more = labels + weaker + motives.get(seg, [])
        spare[seg] = [x for x in dict.fromkeys(more) if x not in used]
    return _unique(names, spare, segment_ids)


def _unique(names: dict[int, str], spare: dict[int, list[str]], order: list[int]) -> dict[int, str]:
    """Names made unique: a shared name gains the segment's next label, else a number."""
    counts = pd.Series(names).value_counts()
    out = dict(names)
    for seg in order:
        if counts.get(names[seg], 0) > 1 and spare.get(seg):
            out[seg] = f"{names[seg]} · {spare[seg][0]}"
    seen: dict[str, int] = {}
    for seg in order:
        base = out[seg]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            out[seg] = f"{base} ({seen[base]})"
    return out


def placeholder_names(names: list[str]) -> list[str]:
    """The names holding a placeholder value ("unknown", "nan", ...) as one of their words."""
    bad = []
    for name in names:
        words = {w.strip(" ()·/").lower() for w in name.replace("·", " ").split()}
        if words & (PLACEHOLDER_VALUES - {""}):
            bad.append(name)
    return bad


def assign_segments(feats: UserFeatures, cfg: SegmentConfig) -> tuple[pd.DataFrame, Clustering]:
    """Every user -> segment_id (inactive users get :data:`NEW_SEGMENT`)."""
    x, _ = feats.matrix(cfg.block_weights, cfg.whole_blocks)
    cl = cluster(x, cfg)
    seg = np.full(len(feats.users), NEW_SEGMENT, dtype=np.int64)
    seg[feats.active] = cl.labels
    out = pd.DataFrame(
        {
            Col.USER_ID: pd.Series(feats.users.ids, dtype="string"),
            Col.SEGMENT_ID: seg,
        }
    )
    return out, cl


def discover(
    inter: Interactions,
    items: pd.DataFrame,
    users: pd.DataFrame,
    tags: pd.DataFrame,
    cfg: SegmentConfig | None = None,
    embedding: np.ndarray | None = None,
    events: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Clustering, pd.DataFrame]:
    """Users -> (segments: user_id, segment_id, segment_name; the clustering; tag lifts).

    With `events` (the feature store's event log: user_id, ts, event_type, item_id, amount,
    text, channel) the motive blocks join the basket ones.
    """
    seg, cl, lifts, _ = discover_with_features(inter, items, users, tags, cfg, embedding, events)
    return seg, cl, lifts


def discover_with_features(
    inter: Interactions,
    items: pd.DataFrame,
    users: pd.DataFrame,
    tags: pd.DataFrame,
    cfg: SegmentConfig | None = None,
    embedding: np.ndarray | None = None,
    events: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, Clustering, pd.DataFrame, UserFeatures]:
    """:func:`discover`, also returning the feature blocks the users were clustered on."""
    cfg = cfg or SegmentConfig()
    feats = user_features(inter, items, users, tags, cfg, embedding, events)
    seg, cl = assign_segments(feats, cfg)
    lifts = tag_lift(seg, tags, cfg.name_tags_exclude)
    motives = motive_labels(feats.blocks, feats.names, seg[Col.SEGMENT_ID].to_numpy())
    names = name_segments(lifts, sorted(seg[Col.SEGMENT_ID].unique().tolist()), cfg, motives)
    seg[Col.SEGMENT_NAME] = seg[Col.SEGMENT_ID].map(names).astype("string")
    return seg, cl, lifts, feats


def _top(frame: pd.DataFrame, key: str, value: str, n: int) -> pd.DataFrame:
    """The n largest `value` rows per segment of a (segment_id, key, value) frame."""
    f = frame.sort_values([Col.SEGMENT_ID, value, key], ascending=[True, False, True])
    return f.groupby(Col.SEGMENT_ID, sort=True).head(n)


def profiles(
    segments: pd.DataFrame,
    users: pd.DataFrame,
    baskets: pd.DataFrame,
    items: pd.DataFrame,
    lifts: pd.DataFrame,
    members: pd.DataFrame | None = None,
    top_n: int = 5,
) -> list[dict[str, Any]]:
    """One JSON-ready profile per segment: size, tiers, AOV, frequency, top categories/items/groups."""
    n_all = max(len(segments), 1)
    prof = segments.merge(users, on=Col.USER_ID, how="left")
    base = prof.groupby(Col.SEGMENT_ID).agg(
        name=(Col.SEGMENT_NAME, "first"),
        size=(Col.USER_ID, "size"),
        buyers=("frequency", lambda s: int((s.fillna(0) > 0).sum())),
        aov=("aov", "mean"),
        aov_median=("aov", "median"),
        orders_per_30d=("orders_per_30d", "mean"),
        monetary=("monetary", "mean"),
    )
    tier = (
        prof.groupby([Col.SEGMENT_ID, "value_tier"]).size().rename("n").reset_index()
        if "value_tier" in prof.columns
        else pd.DataFrame(columns=[Col.SEGMENT_ID, "value_tier", "n"])
    )
    tier["share"] = tier["n"] / tier[Col.SEGMENT_ID].map(base["size"])
    lines = baskets[[Col.USER_ID, Col.ITEM_ID]].merge(segments, on=Col.USER_ID, how="inner")
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    lines["category"] = cat[Col.CATEGORY].reindex(lines[Col.ITEM_ID]).to_numpy()
    lines["item_name"] = (
        cat[Col.NAME].reindex(lines[Col.ITEM_ID]).to_numpy()
        if Col.NAME in cat.columns
        else lines[Col.ITEM_ID]
    )
    seg_lines = lines.groupby(Col.SEGMENT_ID).size()
    cats = lines.groupby([Col.SEGMENT_ID, "category"]).size().rename("n").reset_index()
    cats["share"] = cats["n"] / cats[Col.SEGMENT_ID].map(seg_lines)
    cats = _top(cats, "category", "share", top_n)
    # items: over-represented among the segment's buyers (lift), among items bought by >= 5%
    ib = lines.drop_duplicates([Col.USER_ID, Col.ITEM_ID])
    ib = ib.groupby([Col.SEGMENT_ID, Col.ITEM_ID, "item_name"]).size().rename("n").reset_index()
    ib["share"] = ib["n"] / ib[Col.SEGMENT_ID].map(base["size"])
    all_share = lines.drop_duplicates([Col.USER_ID, Col.ITEM_ID]).groupby(Col.ITEM_ID).size()
    ib["lift"] = ib["share"] / (all_share.reindex(ib[Col.ITEM_ID]).to_numpy() / n_all)
    ib = _top(ib[ib["share"] >= 0.05], "item_name", "lift", top_n)
    groups = pd.DataFrame(columns=[Col.SEGMENT_ID, Col.GROUP_ID, "n", "share"])
    if members is not None and len(members):
        gm = members[[Col.USER_ID, Col.GROUP_ID]].drop_duplicates()
        gm = gm.merge(segments[[Col.USER_ID, Col.SEGMENT_ID]], on=Col.USER_ID)
        groups = gm.groupby([Col.SEGMENT_ID, Col.GROUP_ID]).size().rename("n").reset_index()
        groups["share"] = groups["n"] / groups[Col.SEGMENT_ID].map(base["size"])
        groups = _top(groups, Col.GROUP_ID, "share", top_n)
    defining = _top(lifts[lifts["share"] >= 0.1], Col.TAG, "lift", top_n)

    def rows(frame: pd.DataFrame, seg: int, cols: list[str]) -> list[dict[str, Any]]:
        f = frame[frame[Col.SEGMENT_ID] == seg]
        return [
            {c: (round(float(v), 4) if isinstance(v, float | np.floating) else v) for c, v in r}
            for r in (zip(cols, vals, strict=True) for vals in f[cols].itertuples(index=False))
        ]

    out = []
    for seg, b in base.iterrows():  # one profile per segment
        s = int(seg)  # type: ignore[call-overload]
        out.append(
            {
                Col.SEGMENT_ID: s,
                Col.SEGMENT_NAME: str(b["name"]),
                "size": int(b["size"]),
                "share": round(float(b["size"]) / n_all, 4),
                "buyers": int(b["buyers"]),
                "aov": _num(b["aov"]),
                "aov_median": _num(b["aov_median"]),
                "orders_per_30d": _num(b["orders_per_30d"]),
                "monetary": _num(b["monetary"]),
                "value_tiers": {
                    str(r["value_tier"]): round(float(r["share"]), 4)
                    for _, r in tier[tier[Col.SEGMENT_ID] == seg].iterrows()
                },
                "top_categories": rows(cats, s, ["category", "share"]),
                "top_items": rows(ib, s, [Col.ITEM_ID, "item_name", "share", "lift"]),
                "top_groups": rows(groups, s, [Col.GROUP_ID, "share"]),
                "defining_tags": rows(defining, s, [Col.TAG, "share", "share_all", "lift"]),
            }
        )
    return out


def _num(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else round(float(v), 4)
