"""Theme audience: users ranked by their learned chance to buy a theme's goods soon, with reasons.

A theme is JSON ``{"name": ..., "items": [...], "categories": [...], "keywords": [...]}``.
Theme items match an item id, or a catalogue name / subcategory containing the entry;
theme categories match category or subcategory (:func:`resolve_theme`).

:func:`score_audience` runs four steps of human size:

1. resolve the theme against the catalogue and flag every purchase line, engagement event
   and keyword hit of the log once (:func:`training.audience_signals.theme_log`);
2. learn from past conversions: signals at earlier cuts (``snapshot - k * horizon_days``)
   against who bought the theme's goods in the following ``horizon_days``
   (:mod:`training.audience_model`, a seeded scikit-learn classifier);
3. score every user seen by the snapshot with that model (recency / frequency of theme
   purchases, basket share, category affinity, engagement, keywords searched or said,
   purchase-embedding similarity, activity and spend);
4. leave out users whose hard constraints (``constraints.parquet``: user_id, item_id, tag)
   forbid a core theme item, or at least ``category_conflict_share`` of the theme-category
   items, and put the reasons in words: "bought 鸡胸肉 3x in 30 days; searched 减脂餐"
   (:mod:`training.audience_reasons`), ordered by what each signal adds to the user's score.

Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from features.matrix import Interactions
from features.schema import Col
from training import audience_model as am
from training.audience_reasons import join_reasons, reason_texts
from training.audience_signals import ThemeLog, signals_at, theme_log, to_days, users_at

REASONS = "reasons"


class Theme(BaseModel):
    """A theme of a live or campaign: what it sells and what people say about it."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    items: list[str] = Field(default_factory=list, description="Item ids or name fragments.")
    categories: list[str] = Field(default_factory=list, description="Categories / subcategories.")
    keywords: list[str] = Field(default_factory=list, description="Words searched or said.")


class AudienceConfig(BaseModel):
    """How the audience model is trained and how its answer is shaped."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["hgb", "logreg"] = Field(
        "hgb", description="hgb: histogram gradient boosting; logreg: logistic regression."
    )
    seed: int = Field(0, description="Seed of the classifier and the purchase embedding.")
    horizon_days: float = Field(
        30.0, gt=0, description="Label window: a theme purchase in the next this many days."
    )
    windows: int = Field(4, ge=1, le=24, description="Past cuts the model learns from.")
    min_positives: int = Field(
        20, ge=1, description="Fewer past converters (or non-converters) than this: fallback score."
    )
    half_life_days: float = Field(30.0, gt=0, description="Decay of the decayed signals.")
    prior_baskets: float = Field(
        3.0, ge=0, description="Pseudo-baskets of the Beta prior on the theme basket rate."
    )
    embedding: bool = Field(True, description="Purchase-embedding similarity as a signal.")
    window_days: float = Field(30.0, gt=0, description="Window the reasons count purchases in.")
    category_conflict_share: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Leave a user out when their constraints forbid this share of theme-category items.",
    )
    max_reasons: int = Field(3, ge=1, description="Reasons given per user.")
    min_score: float = Field(0.0, ge=0, description="Users at or below this score are not ranked.")


@dataclass
class ThemeItems:
    """A theme resolved against the catalogue."""

    core: pd.Index  # item ids named by the theme
    category: pd.Index  # other item ids of the theme categories
    names: pd.Series  # item_id -> catalogue name
    labels: pd.Series  # item_id -> the theme entry it matched (or its name), for reasons

    @property
    def all(self) -> pd.Index:
        return self.core.union(self.category)


def resolve_theme(theme: Theme, items: pd.DataFrame) -> ThemeItems:
    """Theme entries -> the catalogue items they name (core) and the rest of their categories."""
    cat = items.drop_duplicates(Col.ITEM_ID)
    ids = cat[Col.ITEM_ID].astype("string")
    name = cat[Col.NAME].astype("string").str.lower() if Col.NAME in cat.columns else ids
    sub = (
        cat[Col.SUBCATEGORY].astype("string").str.lower()
        if Col.SUBCATEGORY in cat.columns
        else pd.Series(pd.NA, index=cat.index, dtype="string")
    )
    core = pd.Series(False, index=cat.index)
    label = pd.Series(pd.NA, index=cat.index, dtype="string")
    item_names = (cat[Col.NAME] if Col.NAME in cat.columns else ids).astype("string")
    for entry in theme.items:  # a handful of theme entries
        e = str(entry).lower().strip()
        if not e:
            continue
        by_id = (ids == entry).fillna(False).astype(bool)
        by_text = name.str.contains(e, regex=False, na=False).fillna(False).astype(bool) | (
            (sub == e).fillna(False).astype(bool)
        )
        if by_id.any():  # an entry that is an item id names that item only
            by_text[:] = False
        core |= by_id | by_text
        label = label.mask(label.isna() & by_id, item_names)
        label = label.mask(label.isna() & by_text, str(entry).strip())
    in_cat = pd.Series(False, index=cat.index)
    wanted = {str(c).lower().strip() for c in theme.categories} - {""}
    if wanted:
        in_cat |= cat[Col.CATEGORY].astype("string").str.lower().isin(wanted)
        in_cat |= sub.isin(wanted)
    core, in_cat = core.fillna(False).astype(bool), in_cat.fillna(False).astype(bool)
    index = pd.Index(ids.to_numpy(), name=Col.ITEM_ID)
    return ThemeItems(
        pd.Index(ids[core].to_numpy()),
        pd.Index(ids[in_cat & ~core].to_numpy()),
        pd.Series(item_names.to_numpy(), index=index),
        pd.Series(label.fillna(item_names).to_numpy(), index=index),
    )


def conflicted_users(
    constraints: pd.DataFrame, theme_items: ThemeItems, share: float
) -> pd.DataFrame:
    """Users whose constraints break the theme: user_id, tag (the constraint), item_id (an example)."""
    cols = [Col.USER_ID, Col.TAG, Col.ITEM_ID]
    if constraints is None or constraints.empty:
        return pd.DataFrame({c: pd.Series([], dtype="string") for c in cols})
    c = constraints[[Col.USER_ID, Col.ITEM_ID, Col.TAG]]
    core = c[c[Col.ITEM_ID].isin(theme_items.core)]
    parts = [core]
    if len(theme_items.category):
        catc = c[c[Col.ITEM_ID].isin(theme_items.category)]
        n_forbidden = catc.groupby(Col.USER_ID)[Col.ITEM_ID].nunique()
        heavy = n_forbidden[n_forbidden >= max(share * len(theme_items.category), 1e-9)].index
        parts.append(catc[catc[Col.USER_ID].isin(heavy)])
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates(Col.USER_ID).sort_values(Col.USER_ID)[cols].reset_index(drop=True)


@dataclass
class AudienceResult:
    """The ranked audience, who was left out, the per-user signals and a summary."""

    audience: pd.DataFrame  # rank, user_id, score, reasons, + one c_<component> contribution each
    excluded: pd.DataFrame  # user_id, tag, item_id
    components: pd.DataFrame  # every scored user: signals, contributions (c_*), score
    summary: dict[str, Any] = field(default_factory=dict)


def affine_items(ti: ThemeItems, items: pd.DataFrame) -> tuple[pd.Index, pd.Series]:
    """Other items of the categories the theme's items belong to, and their category names."""
    cat = items.drop_duplicates(Col.ITEM_ID)
    ids = cat[Col.ITEM_ID].astype("string")
    if Col.CATEGORY not in cat.columns or len(ti.all) == 0:
        return pd.Index([], dtype="string"), pd.Series(dtype="string")
    category = cat[Col.CATEGORY].astype("string")
    wanted = set(category[ids.isin(ti.all)].dropna())
    mask = (category.isin(wanted) & ~ids.isin(ti.all)).fillna(False).to_numpy(bool)
    return pd.Index(ids[mask].to_numpy()), pd.Series(
        category[mask].to_numpy(), index=ids[mask].to_numpy()
    )


def theme_log_for(
    theme: Theme, items: pd.DataFrame, purchases: pd.DataFrame, events: pd.DataFrame | None
) -> tuple[ThemeItems, ThemeLog]:
    """Step 1: the theme's items and its flagged log."""
    ti = resolve_theme(theme, items)
    affine, affine_labels = affine_items(ti, items)
    labels = pd.concat([ti.labels.reindex(ti.all), affine_labels])
    return ti, theme_log(purchases, events, ti.all, affine, labels, theme.keywords)


def _snapshot(purchases: pd.DataFrame, events: pd.DataFrame | None) -> pd.Timestamp:
    stamps = [purchases[Col.TS].max()] if len(purchases) else []
    if events is not None and len(events):
        stamps.append(events[Col.TS].max())
    stamps = [s for s in stamps if pd.notna(s)]
    return pd.Timestamp(max(stamps)) if stamps else pd.Timestamp.now(tz="UTC")


def _theme_title(theme: Theme, ti: ThemeItems) -> str:
    return (
        "、".join(pd.unique(ti.labels.reindex(ti.core).astype(str))[:2])
        or "、".join(theme.categories[:2])
        or theme.name
        or "the theme"
    )


def score_audience(
    theme: Theme,
    items: pd.DataFrame,
    purchases: pd.DataFrame,
    events: pd.DataFrame | None = None,
    constraints: pd.DataFrame | None = None,
    users: pd.Index | None = None,
    inter: Interactions | None = None,
    cfg: AudienceConfig | None = None,
    snapshot: pd.Timestamp | None = None,
) -> AudienceResult:
    """Every user scored against the theme, best first, conflicted users left out.

    ``purchases``: purchase lines (order_id, user_id, ts, item_id, amount), e.g.
    ``baskets.parquet``; ``events``: the clean event log (views, clicks, carts, live views,
    texts; purchases in it are ignored); ``users``: users to score beside those seen in the
    log. ``inter`` is accepted for callers of the earlier signature and not used (the
    embedding is fitted on the purchases before each cut, so training never sees the future).
    """
    del inter
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # small models: threads only contend on a shared machine
        return _score(theme, items, purchases, events, constraints, users, cfg, snapshot)


def _score(
    theme: Theme,
    items: pd.DataFrame,
    purchases: pd.DataFrame,
    events: pd.DataFrame | None,
    constraints: pd.DataFrame | None,
    users: pd.Index | None,
    cfg: AudienceConfig | None,
    snapshot: pd.Timestamp | None,
) -> AudienceResult:
    cfg = cfg or AudienceConfig()
    snap = pd.Timestamp(snapshot) if snapshot is not None else _snapshot(purchases, events)
    t_snap = float(to_days(pd.Series([snap]))[0])
    ti, log = theme_log_for(theme, items, purchases, events)
    # step 2: learn from past conversions
    ts = am.training_set(
        log,
        t_snap,
        cfg.horizon_days,
        cfg.windows,
        cfg.half_life_days,
        cfg.prior_baskets,
        cfg.seed,
        cfg.embedding,
    )
    model, choice = am.choose_model(ts, cfg.model, cfg.seed, cfg.min_positives)
    # step 3: score everyone seen by the snapshot
    who = users_at(log, t_snap)
    if users is not None:
        who = who.union(pd.Index(users, dtype="string"))
    x = signals_at(log, t_snap, who, cfg.half_life_days, cfg.prior_baskets, cfg.seed, cfg.embedding)
    score = pd.Series(am.predict(model, x), index=x.index)
    contrib = am.contributions(model, x, score.to_numpy())
    # step 4: constraints and reasons
    excluded = conflicted_users(
        constraints if constraints is not None else pd.DataFrame(), ti, cfg.category_conflict_share
    )
    keep = (score > cfg.min_score) & ~score.index.isin(excluded[Col.USER_ID])
    ranked = score[keep]
    ranked = ranked.iloc[np.lexsort((ranked.index.to_numpy(dtype=str), -ranked.to_numpy()))]
    texts = reason_texts(log, t_snap, cfg.window_days, _theme_title(theme, ti), x["embed_sim"])
    text = join_reasons(texts, contrib.loc[ranked.index], cfg.max_reasons)
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(ranked) + 1),
            Col.USER_ID: ranked.index.astype("string"),
            Col.SCORE: ranked.to_numpy().round(6),
            REASONS: text.reindex(ranked.index).fillna("").to_numpy(),
        }
    )
    out = pd.concat(
        [out, contrib.loc[ranked.index].reset_index(drop=True).round(6).add_prefix("c_")], axis=1
    )
    signal = (x[["theme_all", "affine_90", "engage_decay", "keyword_decay"]] > 0).any(axis=1)
    summary = {
        "theme": theme.name,
        "core_items": int(len(ti.core)),
        "category_items": int(len(ti.category)),
        "keywords": len(theme.keywords),
        "users_scored": int(len(score)),
        "users_with_signal": int(signal.sum()),
        "excluded_by_constraints": int(len(excluded)),
        "excluded_with_signal": int((signal & score.index.isin(excluded[Col.USER_ID])).sum()),
        "model": model.kind,
        "training_rows": int(len(ts.y)),
        "training_positives": int(ts.y.sum()),
        "training_cuts": len(ts.cuts),
        "training_horizon_days": round(ts.horizon, 2),
        **choice,
        "snapshot": str(snap),
    }
    components = pd.concat([x, contrib.add_prefix("c_")], axis=1).assign(score=score)
    return AudienceResult(out, excluded, components, summary)


def theme_from_json(data: dict[str, Any] | str) -> Theme:
    """A :class:`Theme` from a parsed JSON object or JSON text."""
    if isinstance(data, str):
        return Theme.model_validate_json(data)
    return Theme.model_validate(data)


def constraint_matrix(constraints: pd.DataFrame, inter: Interactions) -> sp.csr_matrix:
    """Users x items indicator of forbidden pairs, aligned on an Interactions' id maps."""
    u = inter.users.index(constraints[Col.USER_ID])
    i = inter.items.index(constraints[Col.ITEM_ID])
    ok = (u >= 0) & (i >= 0)
    m = sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (u[ok], i[ok])), shape=inter.shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m
