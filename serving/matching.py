"""Matching answers over the bundle: theme audiences, segments, bundles, hosts, KOCs (pure functions).

Precomputed tables from the matching jobs (bundle ``tables/``) are used when present; where
one is absent a light computation over the bundle stands in and says so (`source`).
Hard constraints are applied to every item list and every audience.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from serving.artifacts import ITEM, USER, Bundle, Variant
from serving.ranking import NEG, pop_unit, top_k

LIST_SEPS = (";", ",", "|")


def split_list(value: Any) -> list[str]:
    """A list cell (list, array or 'a;b;c' string) as a list of strings."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value]
    text = str(value)
    for sep in LIST_SEPS:
        if sep in text:
            return [t.strip() for t in text.split(sep) if t.strip()]
    return [text.strip()] if text.strip() else []


@dataclass
class Theme:
    """A theme: explicit items, categories, keywords (any may be empty)."""

    name: str = ""
    items: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    categories: list[int] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    def item_set(self, bundle: Bundle) -> np.ndarray:
        """Explicit items plus every item of the theme's categories."""
        parts = [self.items]
        if self.categories:
            parts.append(np.flatnonzero(np.isin(bundle.item_category, self.categories)))
        return np.unique(np.concatenate(parts)).astype(np.int64)


def _tag_frame(bundle: Bundle) -> pd.DataFrame:
    t = bundle.user_tags
    if t is None:
        return pd.DataFrame({USER: pd.Series([], dtype=np.int64), "tag": pd.Series([], dtype=str)})
    return t


def keyword_interests(bundle: Bundle, keywords: list[str]) -> set[str]:
    """Interest tags (`interest:X`) a list of keywords points to, via the bundle's keyword map."""
    kw_map: dict[str, list[str]] = bundle.manifest.get("interest_keywords") or {}
    out = set()
    for kw in keywords:
        k = kw.strip().lower()
        for interest, words in kw_map.items():
            if k == interest.lower() or any(k == w.lower() or k in w.lower() for w in words):
                out.add(f"interest:{interest}")
        out.add(f"interest:{k}")
    return out


def _conflicted(bundle: Bundle, theme: Theme, items: np.ndarray) -> np.ndarray:
    """Users a theme item must never reach: explicit items, else the theme's most popular items."""
    core = theme.items if len(theme.items) else items[top_k(pop_unit(bundle)[items], 20)]
    conflicted = np.zeros(bundle.n_users, bool)
    if len(core):
        conflicted = np.asarray(bundle.constraints[:, core].sum(axis=1)).ravel() > 0
        for u, extra in bundle.extra_constraints.items():
            if np.isin(core, extra).any():
                conflicted[u] = True
    return conflicted


def precomputed_audience(
    bundle: Bundle, theme: Theme, n: int
) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The audiences table's rows for a theme of the same name (constraints re-checked), if any."""
    table = bundle.table("audiences")
    if table is None or not theme.name or "theme" not in table.columns:
        return None
    rows = table[table["theme"].astype(str).str.lower() == theme.name.lower()]
    if not len(rows):
        return None
    if "rank" in rows.columns:
        rows = rows.sort_values("rank")
    idx = {str(u): i for i, u in enumerate(bundle.users.tolist())}
    users = rows["user_id"].astype(str).map(idx)
    conflicted = _conflicted(bundle, theme, theme.item_set(bundle))
    keep = users.notna().to_numpy() & ~conflicted[users.fillna(0).astype(int).to_numpy()]
    out = pd.DataFrame(
        {
            "user_id": rows["user_id"].astype(str).to_numpy()[keep],
            "score": rows["score"].astype(float).to_numpy()[keep] if "score" in rows else 0.0,
            "reasons": rows["reasons"].astype(str).to_numpy()[keep] if "reasons" in rows else "",
        }
    ).head(n)
    info = {
        "excluded_by_constraints": int((~keep).sum()),
        "candidates": int(keep.sum()),
        "source": "audiences table",
    }
    return out, info


def audience(
    bundle: Bundle, variant: Variant, theme: Theme, n: int, first: np.ndarray | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Top-n users by affinity to a theme with reasons; users a theme item would harm are left out.

    With ``first`` (user rows, e.g. a group's members), those of them with a signal for the
    theme come first in score order and the rest of the n places go to everyone else by score:
    a group's live invites its own members before strangers. A theme precomputed by the
    audience job (tables/audiences, same name) is served as is.
    """
    pre = precomputed_audience(bundle, theme, n)
    if pre is not None:
        return pre
    items = theme.item_set(bundle)
    nu = bundle.n_users
    score = np.zeros(nu, np.float32)
    parts: dict[str, np.ndarray] = {}
    if len(items):
        if variant.user_vectors is not None:
            assert variant.item_vectors is not None
            w = variant.item_vectors[items].mean(axis=0)
            c = variant.user_vectors @ w
            known = variant.user_known if variant.user_known is not None else np.ones(nu, bool)
            sd = float(c[known].std()) + 1e-6 if known.any() else 1.0
            collab = np.where(known, (c - float(c[known].mean() if known.any() else 0)) / sd, 0)
        else:
            assert variant.topm is not None
            collab = np.asarray(variant.topm[:, items].sum(axis=1), np.float32).ravel()
            collab = collab / np.float32(collab.max() + 1e-6)
        parts["collab"] = collab.astype(np.float32)
        bought = np.asarray(bundle.purchases[:, items].sum(axis=1), np.float32).ravel()
        parts["bought"] = bought
        score += 0.5 * parts["collab"] + 2.0 * np.log1p(bought)
    wanted = keyword_interests(bundle, theme.keywords) if theme.keywords else set()
    tag_hit = np.zeros(nu, bool)
    tags = _tag_frame(bundle)
    if wanted and len(tags):
        hit = tags[tags["tag"].astype(str).str.lower().isin({w.lower() for w in wanted})]
        tag_hit[hit[USER].to_numpy(np.int64)] = True
        score += 3.0 * tag_hit
    conflicted = _conflicted(bundle, theme, items)
    has_signal = (score != 0) | tag_hit
    s = np.where(has_signal & ~conflicted, score, NEG)
    if first is not None and len(first):
        own = np.zeros(nu, bool)
        own[first] = True
        top_own = top_k(np.where(own, s, NEG), n)
        top = np.r_[top_own, top_k(np.where(own, NEG, s), n - len(top_own))].astype(np.int64)
    else:
        top = top_k(s, n)
    reasons = _audience_reasons(bundle, top, items, parts.get("bought"), tag_hit, wanted)
    out = pd.DataFrame(
        {
            "user_id": bundle.users[top],
            "score": s[top].astype(float),
            "reasons": reasons,
        }
    )
    info = {
        "theme_items": int(len(items)),
        "excluded_by_constraints": int((conflicted & has_signal).sum()),
        "candidates": int((has_signal & ~conflicted).sum()),
        "source": "computed from the bundle (no audiences table for this theme)",
    }
    return out, info


def _audience_reasons(
    bundle: Bundle,
    users: np.ndarray,
    items: np.ndarray,
    bought: np.ndarray | None,
    tag_hit: np.ndarray,
    wanted: set[str],
) -> list[str]:
    names = bundle.items["name"].astype(str).to_numpy() if "name" in bundle.items else None
    user_tags: dict[int, set[str]] = {}
    tags = _tag_frame(bundle)
    if wanted and len(tags) and len(users):
        low = {w.lower() for w in wanted}
        hit = tags[tags[USER].isin(users) & tags["tag"].astype(str).str.lower().isin(low)]
        for u, g in hit.groupby(USER):
            user_tags[int(u)] = {  # type: ignore[arg-type]
                t for t in wanted if t.lower() in set(g["tag"].astype(str).str.lower())
            }
    out = []
    sub = bundle.purchases[users][:, items] if len(items) else None
    for r, u in enumerate(users.tolist()):
        parts = []
        if sub is not None and bought is not None and bought[u] > 0:
            row = sub[r]
            order = np.argsort(-row.data)[:2]
            for j in order.tolist():
                it = items[row.indices[j]]
                label = names[it] if names is not None else str(it)
                parts.append(f"bought {label} {int(row.data[j])}x")
        if tag_hit[u]:
            held = sorted(user_tags.get(u, set()) & wanted) if user_tags else sorted(wanted)
            parts.append("tagged " + ", ".join(held)[:60])
        if not parts:
            parts.append("taste close to the theme")
        out.append("; ".join(parts))
    return out


# -- segments --------------------------------------------------------------------------------
def segment_assignments(bundle: Bundle) -> pd.DataFrame | None:
    """user index, segment_id, segment_name from tables/segments (None when absent)."""
    seg = bundle.table("segments")
    if seg is None:
        return None
    cached = getattr(bundle, "_segments", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    idx = {str(u): i for i, u in enumerate(bundle.users.tolist())}
    users = seg["user_id"].astype(str).map(idx)
    out = seg.assign(**{USER: users}).dropna(subset=[USER])
    out[USER] = out[USER].astype(np.int64)
    out["segment_id"] = out["segment_id"].astype(str)
    if "segment_name" not in out.columns:
        out["segment_name"] = out["segment_id"]
    bundle._segments = out  # type: ignore[attr-defined]
    return out


def segment_list(bundle: Bundle) -> list[dict[str, Any]]:
    """Every segment with its name and size."""
    seg = segment_assignments(bundle)
    if seg is None:
        return []
    g = seg.groupby("segment_id").agg(name=("segment_name", "first"), size=(USER, "size"))
    return [
        {"segment_id": str(i), "name": str(r["name"]), "size": int(r["size"])}
        for i, r in g.sort_values("size", ascending=False).iterrows()
    ]


def segment_profile(bundle: Bundle, segment_id: str) -> dict[str, Any] | None:
    """Size, value-tier mix, AOV, top categories and items, member groups of one segment."""
    seg = segment_assignments(bundle)
    if seg is None:
        return None
    rows = seg[seg["segment_id"] == segment_id]
    if not len(rows):
        return None
    users = rows[USER].to_numpy(np.int64)
    out: dict[str, Any] = {
        "segment_id": segment_id,
        "name": str(rows["segment_name"].iloc[0]),
        "size": len(users),
    }
    prof = bundle.table("segment_profiles")
    if prof is not None and "segment_id" in prof.columns:
        hit = prof[prof["segment_id"].astype(str) == segment_id]
        if len(hit):
            out["profile"] = {k: _plain(v) for k, v in hit.iloc[0].to_dict().items()}
    up = bundle.user_profile
    if up is not None:
        p = up[up[USER].isin(users)]
        if "value_tier" in p.columns:
            mix = p["value_tier"].astype(str).value_counts(normalize=True)
            out["value_tiers"] = {str(k): round(float(v), 3) for k, v in mix.items()}
        if "aov" in p.columns:
            out["aov"] = round(float(p["aov"].mean()), 2) if len(p) else None
        if "orders_per_30d" in p.columns:
            out["orders_per_30d"] = round(float(p["orders_per_30d"].mean()), 3) if len(p) else None
    bought = np.asarray(bundle.purchases[users].sum(axis=0), np.float32).ravel()
    if bought.sum() > 0:
        cat = np.bincount(bundle.item_category, weights=bought, minlength=len(bundle.categories))
        share = cat / cat.sum()
        top_c = np.argsort(-share)[:5]
        out["top_categories"] = [
            {"category": str(bundle.categories[c]), "share": round(float(share[c]), 3)}
            for c in top_c
            if share[c] > 0
        ]
        out["top_items"] = [
            {"item_id": str(bundle.items["item_id"].iloc[i]), "name": _item_name(bundle, i)}
            for i in top_k(np.where(bought > 0, bought, NEG), 10).tolist()
        ]
    ug = bundle.user_groups
    if ug is not None and ug.shape[1]:
        counts = np.asarray(ug[users].sum(axis=0)).ravel()
        out["groups"] = [
            {"group_id": str(bundle.groups["group_id"].iloc[g]), "members": int(counts[g])}
            for g in np.argsort(-counts)[:5].tolist()
            if counts[g] > 0
        ]
    return out


def _plain(v: Any) -> Any:
    if isinstance(v, str) and v[:1] in "[{":
        import json

        try:
            return json.loads(v)
        except ValueError:
            return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return v


def _item_name(bundle: Bundle, i: int) -> str:
    col = "name" if "name" in bundle.items.columns else "item_id"
    return str(bundle.items[col].iloc[i])


# -- bundles ---------------------------------------------------------------------------------
def bundles(
    bundle: Bundle,
    variant: Variant,
    k: int,
    segment_id: str | None = None,
    theme: str | None = None,
    seeds: np.ndarray | None = None,
    user: int | None = None,
    avoid: set[int] | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Bundles for a segment, a theme or seed items: the bundles table, else co-purchase bundles.

    A bundle holding an item the `user` must not get (or one of `avoid`) is left out.
    """
    forbidden = set(bundle.forbidden(user).tolist()) if user is not None else set()
    forbidden |= avoid or set()
    table = bundle.table("bundles")
    out: list[dict[str, Any]] = []
    if table is not None and len(table):
        t = table
        col_items = next((c for c in ("item_ids", "items") if c in t.columns), None)
        if col_items is not None:
            mask = np.ones(len(t), bool)
            scope = t["scope"].astype(str) if "scope" in t.columns else None
            if segment_id is not None:
                if "segment_id" in t.columns:
                    mask &= t["segment_id"].astype(str).to_numpy() == segment_id
                elif scope is not None:
                    mask &= (scope == f"segment:{segment_id}").to_numpy()
            if theme:
                if "theme" in t.columns:
                    th = t["theme"].astype(str).str.lower()
                    mask &= th.str.contains(theme.lower(), regex=False).to_numpy()
                elif scope is not None:
                    th = scope.str.lower()
                    mask &= (
                        th.str.startswith("theme:") & th.str.contains(theme.lower(), regex=False)
                    ).to_numpy()
            if segment_id is None and not theme and scope is not None and (scope == "all").any():
                mask &= (scope == "all").to_numpy()
            seed_ids = (
                {str(bundle.items["item_id"].iloc[i]) for i in seeds.tolist()}
                if seeds is not None and len(seeds)
                else None
            )
            score_col = next((c for c in ("score", "lift", "confidence") if c in t.columns), None)
            sub = t[mask]
            if score_col:
                sub = sub.sort_values(score_col, ascending=False)
            for _, r in sub.iterrows():
                ids = split_list(r[col_items])
                if seed_ids is not None and not seed_ids.intersection(ids):
                    continue
                idx = [bundle.item_index.get(i) for i in ids]
                if any(i is None for i in idx) or forbidden.intersection(idx):  # type: ignore[arg-type]
                    continue
                out.append(_bundle_row(bundle, [int(i) for i in idx if i is not None], r))  # type: ignore[arg-type]
                if len(out) >= k:
                    break
            if out or segment_id is not None or theme:
                return out, "bundles table"
    # fallback: seed items (or the most popular ones) + co-purchased items of other categories
    if seeds is None or not len(seeds):
        pool = pop_unit(bundle).copy()
        pool[list(forbidden)] = NEG
        seeds = top_k(pool, k)
    for seed in seeds.tolist()[:k]:
        if seed in forbidden:
            continue
        items = _complements(bundle, int(seed), forbidden)
        if len(items) > 1:
            out.append(_bundle_row(bundle, items, None))
    return out, "co-purchase fallback (no bundles table)"


def _complements(bundle: Bundle, seed: int, forbidden: set[int], size: int = 4) -> list[int]:
    nb = bundle.item_neighbours
    lo, hi = nb.indptr[seed], nb.indptr[seed + 1]
    cand = nb.indices[lo:hi][np.argsort(-nb.data[lo:hi], kind="stable")]
    chosen, cats = [seed], {int(bundle.item_category[seed])}
    for c in cand.tolist():
        cat = int(bundle.item_category[c])
        if c in forbidden or cat in cats:
            continue
        chosen.append(int(c))
        cats.add(cat)
        if len(chosen) >= size:
            break
    return chosen


def _bundle_row(bundle: Bundle, items: list[int], row: pd.Series | None) -> dict[str, Any]:
    price = (
        float(bundle.items["price"].iloc[items].fillna(0).sum())
        if "price" in bundle.items.columns
        else None
    )
    d: dict[str, Any] = {
        "items": [
            {"item_id": str(bundle.items["item_id"].iloc[i]), "name": _item_name(bundle, i)}
            for i in items
        ],
        "price": round(price, 2) if price is not None else None,
    }
    if row is not None:
        for key in (
            "bundle_id",
            "name",
            "theme",
            "scope",
            "segment_id",
            "lift",
            "confidence",
            "support",
            "score",
            "count",
            "n_users",
        ):
            if key in row.index:
                d[key] = _plain(row[key])
    return d


# -- hosts and KOCs --------------------------------------------------------------------------
def group_tag_shares(bundle: Bundle, members: np.ndarray) -> pd.Series:
    """Share of members holding each tag."""
    tags = _tag_frame(bundle)
    if not len(tags) or not len(members):
        return pd.Series(dtype=float)
    t = tags[tags[USER].isin(members)]
    return (t.drop_duplicates([USER, "tag"])["tag"].value_counts() / len(members)).astype(float)


def hosts_for_group(
    bundle: Bundle, group: int, members: np.ndarray, k: int
) -> tuple[list[dict[str, Any]], str]:
    """Hosts ranked by fit with the group: the host_scores table, else tag overlap."""
    gid = str(bundle.groups["group_id"].iloc[group])
    table = bundle.table("host_scores")
    if table is not None and "group_id" in table.columns:
        t = table[table["group_id"].astype(str) == gid].sort_values("score", ascending=False)
        rows = [{str(k2): _plain(v) for k2, v in r.items()} for r in t.head(k).to_dict("records")]
        if rows:
            return rows, "host_scores table"
    hosts = bundle.hosts
    if hosts is None or not len(hosts):
        return [], "absent: no hosts table in the bundle"
    shares = group_tag_shares(bundle, members)
    suffix = pd.Series(shares.to_numpy(), index=[str(t).split(":", 1)[-1] for t in shares.index])
    suffix = suffix.groupby(level=0).max()
    cats = group_category_shares(bundle, members)
    out = []
    for _, h in hosts.iterrows():
        score, why = 0.0, []
        for tag in split_list(h.get("tags")):
            tl = tag.lower()
            s = float(suffix.get(tl, 0.0)) + float(cats.get(tl, 0.0))
            if s > 0:
                score += s
                why.append(f"{tl} {s:.0%} of members")
        out.append(
            {
                "host_id": str(h["host_id"]),
                "name": str(h.get("name", h["host_id"])),
                "score": round(score, 4),
                "reason": "; ".join(why) if why else "no tag overlap with the group",
            }
        )
    out.sort(key=lambda r: -float(r["score"]))  # type: ignore[arg-type]
    return out[:k], "tag overlap (no host_scores table)"


def group_category_shares(bundle: Bundle, members: np.ndarray) -> dict[str, float]:
    """Per category (lower case), the share of ``members`` who bought from it."""
    if not len(members):
        return {}
    bought = (bundle.purchases[members] > 0).astype(np.float32)
    per_user_cat = bought @ _category_matrix(bundle)
    share = np.asarray((per_user_cat > 0).sum(axis=0)).ravel() / len(members)
    return {str(c).lower(): float(s) for c, s in zip(bundle.categories, share, strict=True)}


def _category_matrix(bundle: Bundle) -> Any:
    import scipy.sparse as sp

    n = bundle.n_items
    return sp.csr_matrix(
        (np.ones(n, np.float32), (np.arange(n), bundle.item_category)),
        shape=(n, len(bundle.categories)),
    )


KOC_WEIGHTS = {
    "referred_orders": 5.0,
    "shares": 3.0,
    "early_jielong": 2.0,
    "comments": 1.0,
    "messages": 0.5,
    "jielong": 0.5,
}


def kocs_for_group(
    bundle: Bundle, group: int, members: np.ndarray, k: int
) -> tuple[list[dict[str, Any]], str]:
    """Members ranked by influence: the koc table, else engagement counts from the event log."""
    gid = str(bundle.groups["group_id"].iloc[group])
    member_ids = set(bundle.users[members].astype(str).tolist())
    table = bundle.table("koc")
    if table is not None and "user_id" in table.columns:
        t = table
        if "group_id" in t.columns:
            t = t[t["group_id"].astype(str) == gid]
        t = t[t["user_id"].astype(str).isin(member_ids)]
        if "score" in t.columns:
            t = t.sort_values("score", ascending=False)
        return [{str(c): _plain(v) for c, v in r.items()} for r in t.head(k).to_dict("records")], (
            "koc table"
        )
    act = bundle.user_activity
    if act is None or not len(act):
        return [], "absent: no koc table and no engagement counts in the bundle"
    a = act[act[USER].isin(members)].copy()
    a["score"] = sum(w * a[c] for c, w in KOC_WEIGHTS.items() if c in a.columns)
    a = a[a["score"] > 0].sort_values(["score", USER], ascending=[False, True]).head(k)
    out = []
    for _, r in a.iterrows():
        why = [f"{int(r[c])} {c.replace('_', ' ')}" for c in KOC_WEIGHTS if c in r and r[c] > 0]
        out.append(
            {
                "user_id": str(bundle.users[int(r[USER])]),
                "score": round(float(r["score"]), 3),
                "reason": "; ".join(why),
            }
        )
    return out, "engagement counts (no koc table)"


def constraint_tags_for(
    bundle: Bundle, users: np.ndarray, items: np.ndarray
) -> dict[int, list[str]]:
    """item -> constraint tags of `users` it breaks (for flags)."""
    ct = bundle.constraint_tags
    if not len(ct):
        return {}
    hit = ct[ct[USER].isin(users) & ct[ITEM].isin(items)]
    return {int(i): sorted(set(g["tag"].astype(str))) for i, g in hit.groupby(ITEM)}  # type: ignore[arg-type]
