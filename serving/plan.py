"""A group's live plan that holds together: items, bundle, host, audience and funnel of one theme.

- **Items**: the group ranking restricted to the theme's items, one SKU per product
  (:func:`features.products.product_keys`: variants of pack size, grade, origin share a key;
  the best-scoring variant stays).
- **Bundle**: association rules inside the theme's items, never filled with other goods:
  a mined bundle (bundles table) whose items all belong to the theme, else rules over the
  purchase histories of the audience and the group (every member lifts the rest: lift > 1,
  and the whole set is bought by at least ``MIN_BUNDLE_USERS`` people and ``MIN_BUNDLE_SUPPORT``
  of them). When nothing qualifies the plan says ``no bundle: ...``.
- **Host**: among hosts whose tags meet the theme (the tag itself, or the profile tags it
  speaks to), the one whose lives convert best for this audience and these goods (the
  response model: the host's past view rate and how like these goods its past lives were),
  else the group's host_scores history; with reasons.
- **Audience**: in-group members first, then invitees, with counts.
- **Funnel**: invited -> viewers -> 接龙 -> expected order value from the response model
  (:mod:`serving.response`) with its backtest interval.
Pure functions over the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from features.products import product_keys
from serving import matching
from serving import response as resp
from serving.artifacts import Bundle
from serving.ranking import Ranked, member_conflicts

MIN_BUNDLE_USERS = 5  # people whose purchases hold the whole bundle
MIN_BUNDLE_SUPPORT = 0.02  # ... as a share of the people the rules are mined on
MIN_LIFT = 1.0  # every member must lift the rest above this
MAX_BUNDLE_ITEMS = 4


# -- theme -----------------------------------------------------------------------------------
def infer_theme(
    bundle: Bundle, members: np.ndarray, usable: np.ndarray | None = None
) -> matching.Theme:
    """A theme for a group: its most shared interest tag and the category that goes with it.

    The category is the one the group buys most, weighted by how much more the holders of
    the interest tag (all users) buy it than users overall, so the two halves agree
    (an elderly interest goes with vegetables or grain and oil rather than with fruit everyone buys).
    ``usable``: per item, whether it may be offered to the group; categories without 3 such
    items are not chosen.
    """
    shares = matching.group_tag_shares(bundle, members)
    interest = shares[[str(t).startswith("interest:") for t in shares.index]]
    cats = matching.group_category_shares(bundle, members)
    kw = [str(interest.index[0]).split(":", 1)[1]] if len(interest) else []
    weight = _interest_category_lift(bundle, str(interest.index[0])) if len(interest) else {}
    scored = {c: s * weight.get(c, 1.0) for c, s in cats.items()}
    if usable is not None:
        n_ok = np.bincount(bundle.item_category[usable], minlength=len(bundle.categories))
        ok = {str(c).lower() for c, n in zip(bundle.categories, n_ok, strict=True) if n >= 3}
        scored = {c: v for c, v in scored.items() if c in ok} or scored
    top_cat = max(scored, key=lambda c: (scored[c], c)) if scored else None
    cat_code = (
        [int(np.flatnonzero(np.char.lower(bundle.categories.astype(str)) == top_cat)[0])]
        if top_cat
        else []
    )
    name = " / ".join([*kw, *(c for c in [top_cat] if c)]) or "group favourites"
    return matching.Theme(name=name, categories=cat_code, keywords=kw)


def _interest_category_lift(bundle: Bundle, tag: str) -> dict[str, float]:
    """Per category: share of the tag's holders buying it / share of all buyers buying it."""
    tags = bundle.user_tags
    if tags is None or not len(tags):
        return {}
    holders = np.unique(tags.loc[tags["tag"].astype(str) == tag, "user"].to_numpy(np.int64))
    buyers = np.flatnonzero(np.diff(bundle.purchases.indptr) > 0)
    if not len(holders) or not len(buyers):
        return {}
    held, overall = (
        matching.group_category_shares(bundle, holders),
        matching.group_category_shares(bundle, buyers),
    )
    return {c: held[c] / overall[c] for c in held if overall.get(c, 0) > 0}


# -- items -------------------------------------------------------------------------------------
def item_products(bundle: Bundle) -> np.ndarray:
    """Per item index, its product key (cached on the bundle)."""
    cached = getattr(bundle, "_products", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    items = bundle.items
    names = items["name"] if "name" in items.columns else items["item_id"]
    group = next((c for c in ("subcategory", "category") if c in items.columns), None)
    keys = product_keys(names.astype("string"), items[group] if group else None).to_numpy()
    bundle._products = keys  # type: ignore[attr-defined]
    return keys


def one_per_product(bundle: Bundle, r: Ranked, k: int) -> tuple[Ranked, int]:
    """The first (best-scoring) SKU of each product, at most k; and how many variants were left out."""
    keys = item_products(bundle)[r.items]
    _, first = np.unique(keys, return_index=True)
    keep = np.sort(first)[:k]
    dropped = int(keep[-1]) + 1 - len(keep) if len(keep) else 0
    out = replace(
        r,
        items=r.items[keep],
        scores=r.scores[keep],
        reasons=[r.reasons[i] for i in keep.tolist() if i < len(r.reasons)],
        conflicts=r.conflicts[keep] if r.conflicts is not None else None,
    )
    return out, dropped


# -- bundle ------------------------------------------------------------------------------------
def _table_bundle(
    bundle: Bundle, theme_items: set[int], plan_items: list[int], forbidden: set[int]
) -> dict[str, Any] | None:
    """The best mined bundle whose items all belong to the theme (one holding a plan item first)."""
    table = bundle.table("bundles")
    if table is None or not len(table) or "item_ids" not in table.columns:
        return None
    keys = item_products(bundle)
    best: tuple[tuple[int, float], pd.Series, list[int]] | None = None
    for _, row in table.iterrows():  # a few hundred mined bundles
        idx = [bundle.item_index.get(i) for i in matching.split_list(row["item_ids"])]
        if any(i is None for i in idx):
            continue
        ids = [int(i) for i in idx if i is not None]
        if not set(ids) <= theme_items or forbidden.intersection(ids):
            continue
        if len({keys[i] for i in ids}) < len(ids):
            continue
        rank = (int(bool(set(ids) & set(plan_items))), float(row.get("score", 0.0)))
        if best is None or rank > best[0]:
            best = (rank, row, ids)
    if best is None:
        return None
    out = matching._bundle_row(bundle, best[2], best[1])
    out["source"] = "association rules mined on baskets (bundles table), all items on theme"
    return out


def _rule_bundle(
    bundle: Bundle, people: np.ndarray, theme: np.ndarray, seeds: list[int], forbidden: set[int]
) -> dict[str, Any] | None:
    """Greedy rules over ``people``'s purchases of theme items: every member lifts the others."""
    cand = np.asarray([i for i in theme.tolist() if i not in forbidden], np.int64)
    if not len(people) or len(cand) < 2:
        return None
    x = (bundle.purchases[people][:, cand] > 0).astype(np.float32).tocsc()
    n = x.shape[0]
    count = np.asarray(x.sum(axis=0)).ravel()
    need = max(MIN_BUNDLE_USERS, MIN_BUNDLE_SUPPORT * n)
    keys = item_products(bundle)[cand]
    subs = _subcategories(bundle)[cand]
    pos = {int(i): j for j, i in enumerate(cand.tolist())}
    for seed in seeds:
        j0 = pos.get(seed)
        if j0 is None or count[j0] < need:
            continue
        chosen, have = [j0], x[:, j0].toarray().ravel() > 0
        while len(chosen) < MAX_BUNDLE_ITEMS:
            both = np.asarray(x[have].sum(axis=0)).ravel()
            lift = both * n / np.maximum(have.sum() * count, 1e-9)
            ok = (both >= need) & (lift > MIN_LIFT)
            ok &= ~np.isin(keys, keys[chosen]) & ~np.isin(subs, subs[chosen])
            if not ok.any():
                break
            j = int(np.argmax(np.where(ok, lift * np.sqrt(both), -np.inf)))
            chosen.append(j)
            have &= x[:, j].toarray().ravel() > 0
        if len(chosen) >= 2:
            ids = [int(cand[j]) for j in chosen]
            full = int(have.sum())
            out = matching._bundle_row(bundle, ids, None)
            lifts = [full * n / max(count[j] * _without(x, chosen, j), 1e-9) for j in chosen]
            out.update(
                support=round(full / n, 4),
                n_users=full,
                lift=round(float(min(lifts)), 3),
                source=f"association rules over the purchases of {n} audience and group members",
            )
            return out
    return None


def _without(x: Any, chosen: list[int], j: int) -> int:
    """People holding every chosen item but j."""
    rest = [c for c in chosen if c != j]
    have = np.ones(x.shape[0], bool)
    for c in rest:
        have &= x[:, c].toarray().ravel() > 0
    return int(have.sum())


def _subcategories(bundle: Bundle) -> np.ndarray:
    col = next((c for c in ("subcategory", "category") if c in bundle.items.columns), None)
    if col is None:
        return np.arange(bundle.n_items).astype(str)
    return bundle.items[col].astype("string").fillna("").to_numpy(dtype=object)


def theme_bundle(
    bundle: Bundle,
    theme_items: np.ndarray,
    plan_items: list[int],
    people: np.ndarray,
    forbidden: set[int],
) -> tuple[dict[str, Any] | None, str]:
    """A bundle inside the theme (mined table, else rules over ``people``), or why there is none."""
    ts = set(theme_items.tolist())
    row = _table_bundle(bundle, ts, plan_items, forbidden)
    if row is not None:
        return row, str(row["source"])
    row = _rule_bundle(bundle, people, theme_items, plan_items, forbidden)
    if row is not None:
        return row, str(row["source"])
    return None, (
        f"no bundle: no mined bundle lies inside the theme's {len(ts)} items, and among "
        f"{len(people)} audience and group members no set of theme items starting from a planned "
        f"item is bought together by >= {MIN_BUNDLE_USERS} people ({MIN_BUNDLE_SUPPORT:.0%}) "
        f"with lift > {MIN_LIFT:g}"
    )


# -- host --------------------------------------------------------------------------------------
def theme_terms(bundle: Bundle, theme: matching.Theme) -> set[str]:
    """Profile tags a theme speaks to: interest:<keyword> (and mapped interests), prefers:<category>."""
    terms = {t.lower() for t in matching.keyword_interests(bundle, theme.keywords)}
    cats = set(theme.categories)
    if len(theme.items):
        cats |= set(bundle.item_category[theme.items].tolist())
    terms |= {f"prefers:{str(bundle.categories[c]).lower()}" for c in cats}
    return terms


def host_meets(
    tags: list[str], terms: set[str], tag_map: dict[str, list[str]]
) -> dict[str, list[str]]:
    """Theme tag -> the host tags that meet it (the tag is the theme word or speaks to it)."""
    out: dict[str, list[str]] = {}
    for tag in tags:
        t = tag.strip().lower()
        spoken = {v.lower() for v in tag_map.get(t, [])} | {f"interest:{t}", f"prefers:{t}"}
        for term in sorted(terms):
            if term.split(":", 1)[1] == t or term in spoken:
                out.setdefault(term, []).append(t)
    return out


def _fit_rank(met: dict[str, list[str]]) -> tuple[int, int]:
    """Theme tags met (the interest, the theme's motive, counts twice), then host tags meeting them."""
    weight = sum(2 if t.startswith("interest:") else 1 for t in met)
    return weight, sum(len(v) for v in met.values())


@dataclass
class HostPick:
    """The chosen host and what it was chosen on."""

    host: dict[str, Any] | None
    note: str


def theme_host(
    bundle: Bundle,
    theme: matching.Theme,
    group_id: str,
    predict: Any = None,
) -> HostPick:
    """The host for the theme: tags meet it, then the best predicted 接龙 rate (or group history).

    ``predict(host_id) -> float`` is the audience's predicted 接龙 rate with that host.
    """
    hosts = bundle.hosts
    if hosts is None or not len(hosts):
        return HostPick(None, "no host: the bundle has no hosts table")
    tag_map = {str(k): list(v) for k, v in (bundle.manifest.get("host_tag_map") or {}).items()}
    terms = theme_terms(bundle, theme)
    history = _group_history(bundle, group_id)
    rows = []
    for _, h in hosts.iterrows():  # a few dozen hosts
        tags = matching.split_list(h.get("tags"))
        met = host_meets(tags, terms, tag_map)
        hid = str(h["host_id"])
        rate = float(predict(hid)) if predict is not None else None
        rows.append((hid, str(h.get("name", hid)), tags, met, rate, history.get(hid)))
    fitting = [r for r in rows if r[3]]
    note = "host: tags meet the theme" if fitting else "host: no host's tags meet the theme"
    pool = fitting or rows
    best = max(pool, key=lambda r: (*_fit_rank(r[3]), r[4] or 0.0, r[5] or 0.0, r[0]))
    runner = max((r for r in pool if r is not best), key=lambda r: r[4] or 0.0, default=None)
    hid, name, tags, met, rate, hist = best
    why = [", ".join(f"{'/'.join(t)} meets {term}" for term, t in met.items())] if met else []
    if rate is not None:
        tail = f" vs {runner[4]:.1%} with {runner[1]}" if runner and runner[4] is not None else ""
        why.append(f"predicted 接龙 rate of this audience with this host {rate:.1%}{tail}")
    if hist is not None:
        why.append(f"{hist:+.0%} 接龙 vs usual in past lives with similar groups")
    host = {
        "host_id": hid,
        "name": name,
        "tags": ";".join(tags),
        "meets_theme": sorted({t for v in met.values() for t in v}),
        "theme_tags_met": f"{len(met)} of {len(terms)}",
        "predicted_jielong_rate": round(rate, 4) if rate is not None else None,
        "reasons": "; ".join(why) or "no tag meets the theme; best group fit",
    }
    return HostPick(host, note)


def _group_history(bundle: Bundle, group_id: str) -> dict[str, float]:
    table = bundle.table("host_scores")
    if table is None or "group_id" not in table.columns or "history" not in table.columns:
        return {}
    t = table[table["group_id"].astype(str) == group_id]
    return {str(h): float(v) for h, v in zip(t["host_id"], t["history"], strict=True)}


# -- audience ----------------------------------------------------------------------------------
def members_first(aud: pd.DataFrame, member_ids: set[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    """The audience with in-group members first (each part in score order) and the counts."""
    inside = aud["user_id"].astype(str).isin(member_ids).to_numpy()
    out = pd.concat([aud[inside], aud[~inside]], ignore_index=True)
    out["in_group"] = np.r_[np.ones(int(inside.sum()), bool), np.zeros(int((~inside).sum()), bool)]
    counts = {"in_group": int(inside.sum()), "invitees": int((~inside).sum()), "total": len(out)}
    return out, counts


# -- funnel ------------------------------------------------------------------------------------
def plan_funnel(r: resp.ServedResponse | None, x: pd.DataFrame | None) -> dict[str, Any] | None:
    """The response model's funnel for the audience's features (None without a model)."""
    if r is None or x is None or not len(x):
        return None
    return resp.funnel(r, resp.predict(r, x))


def host_predictor(
    bundle: Bundle, r: resp.ServedResponse | None, x: pd.DataFrame | None, item_ids: list[str]
) -> Any:
    """host_id -> the audience's predicted 接龙 rate with that host (None without a model)."""
    if r is None or x is None or not len(x):
        return None

    def rate(host_id: str) -> float:
        xh = resp.with_host(r, x, host_id, item_ids, bundle.items)
        return float(resp.predict(r, xh)["p_jielong"].mean())

    return rate


# -- the whole plan ----------------------------------------------------------------------------
@dataclass
class PlanParts:
    """Bundle (or why none), host, funnel and what was done, for a plan's items and audience."""

    bundle: dict[str, Any] | None
    bundle_note: str
    host: dict[str, Any] | None
    funnel: dict[str, Any] | None
    notes: list[str]


def compose(
    bundle: Bundle,
    theme: matching.Theme,
    group_id: str,
    items: np.ndarray,
    members: np.ndarray,
    audience: list[str],
) -> PlanParts:
    """The bundle, host and funnel that go with the plan's ``items`` and ``audience`` (user ids)."""
    forbidden = set(np.flatnonzero(member_conflicts(bundle, members)).tolist())  # suits everyone
    people = np.union1d(members, [bundle.identifiers[str(u)] for u in audience]).astype(np.int64)
    theme_items = theme.item_set(bundle) if len(theme.items) or theme.categories else items
    row, note = theme_bundle(bundle, theme_items, items.tolist(), people, forbidden)
    users = [str(u) for u in audience]
    sold = [str(bundle.items["item_id"].iloc[i]) for i in items.tolist()]
    r = resp.load(bundle)
    x = resp.features(r, users, sold, None, bundle.items) if r is not None and users else None
    pick = theme_host(bundle, theme, group_id, host_predictor(bundle, r, x, sold))
    if r is not None and x is not None and pick.host:
        x = resp.with_host(r, x, str(pick.host["host_id"]), sold, bundle.items)
    funnel = plan_funnel(r, x)
    notes = [f"bundle: {note}", pick.note]
    if funnel is None:
        notes.append("funnel: the bundle has no response model (too few past lives at export)")
    return PlanParts(row, note, pick.host, funnel, notes)
