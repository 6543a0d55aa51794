"""Theme audience: rank every user by affinity to a theme (items, categories, keywords), with reasons.

A theme is JSON ``{"name": ..., "items": [...], "categories": [...], "keywords": [...]}``.
Theme items match an item id, or a catalogue name / subcategory containing the entry;
theme categories match category or subcategory. Each user gets component signals
(all time-decayed with ``half_life_days`` from the snapshot):

- ``rate``     smoothed share of the user's baskets holding a theme item (core or category):
               the chance the next basket does (a Beta prior pulls users with few baskets
               toward the overall rate); it decays from the user's own last basket
               (``rate_half_life_days``), so it measures the current habit,
- ``recent``   purchase lines of the core theme items,
- ``category`` purchase lines of other items of the theme categories,
- ``engage``   views / clicks / carts of theme items,
- ``keyword``  searches, live comments and chat messages holding a theme keyword
               (text segmented with jieba, as the interest tags are),
- ``cf``       collaborative score: a recommender's mean score over the theme items
               (``build_model(cf_model)``, item-kNN by default).

Each component is squashed to [0, 1) by ``1 - exp(-x / scale)`` with ``scale`` its median
positive value (``rate`` is a probability already; ``cf`` becomes its percentile rank),
and the score is their weighted sum. The
reasons are the top contributions in words: "bought 鸡胸肉 3x in 30 days; searched 减脂餐".

Users whose hard constraints (``constraints.parquet``: user_id, item_id, tag) forbid a
core theme item, or at least ``category_conflict_share`` of the theme-category items, are
left out and counted. Pure functions; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

from features.matrix import Interactions
from features.schema import PURCHASE_EVENTS, Col, EventType

REASONS = "reasons"
COMPONENTS = ("rate", "recent", "category", "engage", "keyword", "cf")
_DAY_S = 86400.0
_VERBS = {
    EventType.SEARCH.value: "searched",
    EventType.MESSAGE.value: "said in chat",
    EventType.LIVE_COMMENT.value: "commented in a live",
}
_ENGAGE_EVENTS = (EventType.VIEW.value, EventType.CLICK.value, EventType.CART.value)


class Theme(BaseModel):
    """A theme of a live or campaign: what it sells and what people say about it."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    items: list[str] = Field(default_factory=list, description="Item ids or name fragments.")
    categories: list[str] = Field(default_factory=list, description="Categories / subcategories.")
    keywords: list[str] = Field(default_factory=list, description="Words searched or said.")


class AudienceConfig(BaseModel):
    """How users are scored against a theme."""

    model_config = ConfigDict(extra="forbid")

    half_life_days: float = Field(30.0, gt=0, description="Decay of every signal with age.")
    rate_half_life_days: float = Field(
        90.0, gt=0, description="Decay of the basket rate, from the user's own last basket."
    )
    window_days: float = Field(30.0, gt=0, description="Window the reasons count purchases in.")
    weights: dict[str, float] = Field(
        default={
            "rate": 1.0,
            "recent": 0.8,
            "category": 0.3,
            "engage": 0.3,
            "keyword": 1.0,
            "cf": 0.4,
        },
        description="Weight of each component in the score.",
    )
    prior_baskets: float = Field(
        3.0, ge=0, description="Pseudo-baskets of the Beta prior on the theme basket rate."
    )
    cf_model: str | None = Field("itemknn", description="Registry kind of the CF model, or None.")
    cf_params: dict[str, Any] = Field(default_factory=dict, description="Its config overrides.")
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
        by_id = ids == entry
        by_text = (name.str.contains(e, regex=False) | (sub == e)).fillna(False) & ~by_id
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


def _age_days(ts: pd.Series, snapshot: pd.Timestamp) -> np.ndarray:
    return np.maximum((snapshot - ts).dt.total_seconds().to_numpy(np.float64) / _DAY_S, 0.0)


def _squash(x: pd.Series) -> pd.Series:
    """1 - exp(-x / median positive x): 0 stays 0, the median user gets 0.63."""
    pos = x[x > 0]
    if pos.empty:
        return x * 0.0
    return 1.0 - np.exp(-x / float(pos.median()))


def _keyword_frame(texts: pd.DataFrame, keywords: list[str]) -> pd.DataFrame:
    """Text events (user_id, ts, event_type, text) that hold a theme keyword: + keyword."""
    from features.tags import keyword_hits

    if texts.empty or not keywords:
        return texts.iloc[0:0].assign(keyword=pd.Series([], dtype="string"))
    hits = keyword_hits(texts[Col.TEXT].reset_index(drop=True), {"theme": list(keywords)})
    base = texts.reset_index(drop=True)
    out = base.loc[hits["row"].to_numpy()].reset_index(drop=True)
    out["keyword"] = hits["kw"].to_numpy()
    return out


@dataclass
class AudienceResult:
    """The ranked audience, who was left out, the per-user components and a summary."""

    audience: pd.DataFrame  # user_id, score, reasons, + one column per component, rank
    excluded: pd.DataFrame  # user_id, tag, item_id
    components: pd.DataFrame  # every scored user: raw and squashed components
    summary: dict[str, Any] = field(default_factory=dict)


def _count_reason(frame: pd.DataFrame, label: str, template: str) -> pd.DataFrame:
    """(user_id, weight, text) reasons such as "bought 鸡胸肉 3x in 30 days" from counted rows."""
    if frame.empty:
        return pd.DataFrame({Col.USER_ID: [], "weight": [], "text": []})
    n = frame.groupby([Col.USER_ID, label], sort=False).size().rename("n").reset_index()
    n = n.sort_values([Col.USER_ID, "n", label], ascending=[True, False, True])
    n = n.groupby(Col.USER_ID, sort=False).head(2)
    n["part"] = n[label].astype(str) + " " + n["n"].astype(str) + "x"
    g = n.groupby(Col.USER_ID, sort=False).agg(part=("part", ", ".join), total=("n", "sum"))
    return pd.DataFrame(
        {
            Col.USER_ID: g.index.to_numpy(),
            "weight": g["total"].to_numpy(dtype=float),
            "text": g["part"].map(template.format).to_numpy(),
        }
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

    ``purchases``: purchase lines (order_id, user_id, ts, item_id), e.g. ``baskets.parquet``;
    ``events``: the clean event log (views, clicks, carts, texts; purchases in it are ignored);
    ``inter``: the interaction matrices the CF model fits on (no CF without it).
    """
    cfg = cfg or AudienceConfig()
    ti = resolve_theme(theme, items)
    if snapshot is None:
        stamps = [purchases[Col.TS].max()]
        if events is not None and len(events):
            stamps.append(events[Col.TS].max())
        snapshot = max(s for s in stamps if pd.notna(s))
    snap = pd.Timestamp(snapshot)
    hl = cfg.half_life_days
    buys = purchases[purchases[Col.USER_ID].notna() & purchases[Col.ITEM_ID].notna()]
    buys = buys[buys[Col.TS] <= snap]
    age = _age_days(buys[Col.TS], snap)
    decay = np.power(0.5, age / hl)
    is_core = buys[Col.ITEM_ID].isin(ti.core).to_numpy()
    is_cat = buys[Col.ITEM_ID].isin(ti.category).to_numpy()
    lines = pd.DataFrame(
        {
            Col.USER_ID: buys[Col.USER_ID].to_numpy(),
            "basket": buys[Col.ORDER_ID].astype("string").to_numpy()
            if Col.ORDER_ID in buys.columns
            else buys[Col.TS].dt.floor("D").astype(str).to_numpy(),
            "decay": decay,
            "core": is_core,
            "cat": is_cat,
        }
    )
    # the basket rate decays from the user's own last basket: their current habit
    last_age = pd.Series(age).groupby(lines[Col.USER_ID].to_numpy()).transform("min").to_numpy()
    lines["habit"] = np.power(0.5, (age - last_age) / cfg.rate_half_life_days)
    per_basket = lines.groupby([Col.USER_ID, "basket"], sort=False).agg(
        decay=("habit", "max"), theme=("core", "max"), cat=("cat", "max")
    )
    per_basket["theme"] = per_basket["theme"] | per_basket["cat"]
    per_basket["hit"] = per_basket["decay"] * per_basket["theme"]
    per_user = per_basket.groupby(level=0).agg(
        n=("decay", "sum"), k=("hit", "sum"), baskets=("theme", "size"), hits=("theme", "sum")
    )
    p0 = float(per_basket["theme"].mean()) if len(per_basket) else 0.0
    a = cfg.prior_baskets
    posterior = (per_user["k"] + a * p0) / (per_user["n"] + a)
    per_user["rate"] = posterior.where(per_user["hits"] > 0, 0.0)
    parts: dict[str, pd.Series] = {
        "rate": per_user["rate"].clip(lower=0.0),
        "recent": lines[is_core].groupby(Col.USER_ID)["decay"].sum(),
        "category": lines[is_cat].groupby(Col.USER_ID)["decay"].sum(),
    }

    reasons: list[pd.DataFrame] = []
    window = age <= cfg.window_days
    core_buys = buys[is_core].assign(
        item_name=ti.labels.reindex(buys.loc[is_core, Col.ITEM_ID]).to_numpy()
    )
    recent_win = core_buys[window[is_core]]
    r = _count_reason(recent_win, "item_name", "bought {} in " + f"{cfg.window_days:g} days")
    older = core_buys[~core_buys[Col.USER_ID].isin(recent_win[Col.USER_ID])]
    r_old = _count_reason(older, "item_name", "bought {} before")
    reasons += [r.assign(component="recent"), r_old.assign(component="recent")]
    if len(ti.category):
        hit_users = per_user[per_user["hits"] > 0]
        reasons.append(
            pd.DataFrame(
                {
                    Col.USER_ID: hit_users.index.to_numpy(),
                    "weight": hit_users["hits"].to_numpy(dtype=float),
                    "text": (
                        "theme goods in "
                        + hit_users["hits"].astype(int).astype(str)
                        + " of "
                        + hit_users["baskets"].astype(str)
                        + " orders"
                    ).to_numpy(),
                    "component": "rate",
                }
            )
        )

    if events is not None and len(events):
        ev = events[events[Col.USER_ID].notna() & (events[Col.TS] <= snap)]
        ev = ev[~ev[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
        eng = ev[ev[Col.EVENT_TYPE].isin(_ENGAGE_EVENTS) & ev[Col.ITEM_ID].isin(ti.all)]
        parts["engage"] = (
            pd.Series(np.power(0.5, _age_days(eng[Col.TS], snap) / hl), index=eng.index)
            .groupby(eng[Col.USER_ID].to_numpy())
            .sum()
        )
        eng_core = eng[eng[Col.ITEM_ID].isin(ti.core)]
        eng_core = eng_core.assign(item_name=ti.labels.reindex(eng_core[Col.ITEM_ID]).to_numpy())
        reasons.append(
            _count_reason(eng_core, "item_name", "looked at {}").assign(component="engage")
        )
        if Col.TEXT in ev.columns:
            texts = ev[ev[Col.EVENT_TYPE].isin(list(_VERBS)) & ev[Col.TEXT].notna()]
            kw = _keyword_frame(
                texts[[Col.USER_ID, Col.TS, Col.EVENT_TYPE, Col.TEXT]], theme.keywords
            )
            if len(kw):
                kw_decay = np.power(0.5, _age_days(kw[Col.TS], snap) / hl)
                parts["keyword"] = pd.Series(kw_decay).groupby(kw[Col.USER_ID].to_numpy()).sum()
                kw["verb"] = kw[Col.EVENT_TYPE].map(_VERBS)
                said = (
                    kw.groupby([Col.USER_ID, "verb"], sort=False)
                    .agg(
                        words=("keyword", lambda s: "、".join(pd.unique(s.astype(str))[:3])),
                        n=("keyword", "size"),
                    )
                    .reset_index()
                    .sort_values([Col.USER_ID, "n", "verb"], ascending=[True, False, True])
                )
                said["part"] = (
                    said["verb"]
                    + " "
                    + said["words"]
                    + np.where(said["n"] > 1, " " + said["n"].astype(str) + "x", "")
                )
                per = said.groupby(Col.USER_ID, sort=False).agg(
                    text=("part", ", ".join), weight=("n", "sum")
                )
                reasons.append(
                    pd.DataFrame(
                        {
                            Col.USER_ID: per.index.to_numpy(),
                            "weight": per["weight"].to_numpy(dtype=float),
                            "text": per["text"].to_numpy(),
                            "component": "keyword",
                        }
                    )
                )

    if cfg.cf_model and inter is not None and cfg.weights.get("cf", 0) > 0:
        cf = collaborative_scores(inter, ti, cfg)
        parts["cf"] = cf
        theme_name = (
            "、".join(pd.unique(ti.labels.reindex(ti.core).astype(str))[:2])
            or "、".join(theme.categories[:2])
            or theme.name
            or "the theme"
        )
        top_cf = cf[cf >= cf.quantile(0.9)] if len(cf) else cf
        reasons.append(
            pd.DataFrame(
                {
                    Col.USER_ID: top_cf.index.to_numpy(),
                    "weight": 0.5,
                    "text": f"shops like people who buy {theme_name}",
                    "component": "cf",
                }
            )
        )

    comp = pd.concat({c: v.astype(float) for c, v in parts.items()}, axis=1, join="outer")
    comp.index = comp.index.astype("string").rename(Col.USER_ID)
    comp = comp.reindex(columns=list(COMPONENTS)).fillna(0.0)
    if users is not None:
        comp = comp.reindex(comp.index.union(pd.Index(users, name=Col.USER_ID)), fill_value=0.0)
    squashed = pd.DataFrame(index=comp.index)
    for c in COMPONENTS:
        if c == "cf":
            v = comp[c]
            squashed[c] = v.rank(pct=True).where(v > 0, 0.0)
        elif c == "rate":
            squashed[c] = comp[c].clip(0.0, 1.0)  # already a probability
        else:
            squashed[c] = _squash(comp[c])
    w = pd.Series({c: cfg.weights.get(c, 0.0) for c in COMPONENTS})
    contrib = squashed * w
    score = contrib.sum(axis=1)
    excluded = conflicted_users(
        constraints if constraints is not None else pd.DataFrame(), ti, cfg.category_conflict_share
    )
    keep = (score > cfg.min_score) & ~score.index.isin(excluded[Col.USER_ID])
    ranked = score[keep].sort_values(ascending=False, kind="stable")
    ranked = ranked.iloc[np.lexsort((ranked.index.to_numpy(), -ranked.to_numpy()))]

    text = _join_reasons(reasons, contrib, cfg.max_reasons)
    out = pd.DataFrame(
        {
            Col.USER_ID: ranked.index.astype("string"),
            Col.SCORE: ranked.to_numpy().round(6),
            REASONS: text.reindex(ranked.index).fillna("").to_numpy(),
        }
    )
    out = pd.concat(
        [out, comp.reindex(ranked.index).reset_index(drop=True).add_prefix("c_")], axis=1
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    summary = {
        "theme": theme.name,
        "core_items": int(len(ti.core)),
        "category_items": int(len(ti.category)),
        "keywords": len(theme.keywords),
        "users_scored": int(len(score)),
        "users_with_signal": int((score > cfg.min_score).sum()),
        "excluded_by_constraints": int(len(excluded)),
        "excluded_with_signal": int(
            ((score > cfg.min_score) & score.index.isin(excluded[Col.USER_ID])).sum()
        ),
        "theme_basket_rate": round(p0, 6),
        "snapshot": str(snap),
    }
    return AudienceResult(out, excluded, comp.assign(score=score), summary)


def _join_reasons(reasons: list[pd.DataFrame], contrib: pd.DataFrame, k: int) -> pd.Series:
    """Per user: the reason texts of their strongest components, '; '-joined."""
    parts = [r for r in reasons if len(r)]
    if not parts:
        return pd.Series(dtype="string")
    r = pd.concat(parts, ignore_index=True)
    long = pd.DataFrame(contrib.stack()).reset_index()
    long.columns = pd.Index([Col.USER_ID, "component", "contrib"])
    r = r.merge(long, on=[Col.USER_ID, "component"], how="left")
    r = r[r["contrib"].fillna(0) > 0]
    r = r.sort_values([Col.USER_ID, "contrib", "weight"], ascending=[True, False, False])
    r = r.drop_duplicates([Col.USER_ID, "component"])  # one reason per component
    r = r.groupby(Col.USER_ID, sort=False).head(k)
    return r.groupby(Col.USER_ID, sort=False)["text"].agg("; ".join)


def collaborative_scores(inter: Interactions, ti: ThemeItems, cfg: AudienceConfig) -> pd.Series:
    """Mean CF-model score of each user over the theme's core items (else its category items)."""
    from training.models import build_model

    cols = inter.items.index(pd.Series(ti.core if len(ti.core) else ti.category, dtype="string"))
    cols = cols[cols >= 0]
    if len(cols) == 0 or inter.shape[0] == 0:
        return pd.Series(dtype=float)
    model = build_model(str(cfg.cf_model), **cfg.cf_params).fit(inter)
    n = inter.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for start in range(0, n, 2048):  # batches of users bound the dense score block
        users = np.arange(start, min(start + 2048, n))
        out[users] = model.score(users)[:, cols].mean(axis=1)
    active = np.asarray((inter.weights != 0).sum(axis=1)).ravel() > 0
    return pd.Series(out[active], index=pd.Index(inter.users.ids[active], name=Col.USER_ID))


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
