"""Host matching: rank live-stream hosts for a group or a segment by how well they fit it.

A *target* (a group's current members, or a segment's users) gets a profile: for
every tag (interest, manual, category preference, value tier, AOV ...) the share of
its members holding it against the share among all users (:func:`target_profiles`).

A host's tags (``hosts.tags``, e.g. ``nutritionist;fitness``) are mapped to profile
tags by :attr:`HostConfig.tag_map` (``nutritionist`` -> ``interest:fitness``,
``diet:low-fat``; a host tag X also maps to ``interest:X`` and ``prefers:X``). Two
signals:

- ``fit``: over the host's profile tags, the excess share of the target
  (share - share overall) / (1 - share overall), clipped at 0; 0.7 x max + 0.3 x mean,
- ``history``: the host's past lives, each as the 接龙 rate of its group (buyers /
  members) relative to that group's usual rate over all its lives, averaged with
  weights = cosine similarity of that group's profile to the target's, shrunk by
  ``prior_lives`` pseudo-lives of no uplift.

score = ``w_fit`` x fit + ``w_history`` x clip(history, -1, 1). :func:`rank_hosts` is
pure pandas / numpy so the serving can call it on the saved tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.schema import LIST_SEP, PURCHASE_EVENTS, Col, EventType

TARGET = "target_id"  # "group:<group_id>" or "segment:<segment_id>"
HOST_TAG = "host_tag"
SHARE, SHARE_ALL, LIFT = "share", "share_all", "lift"

DEFAULT_TAG_MAP: dict[str, list[str]] = {
    "nutritionist": ["interest:fitness", "diet:low-fat", "interest:baby"],
    "fitness": ["interest:fitness", "diet:low-fat"],
    "coach": ["interest:fitness"],
    "mother": ["interest:baby", "family:toddler"],
    "baby": ["interest:baby", "family:toddler", "prefers:baby_food"],
    "baker": ["interest:baking", "likes:baking", "prefers:baking"],
    "dessert": ["interest:baking", "likes:baking"],
    "chef": ["prefers:meat", "prefers:seafood"],
    "premium": ["interest:premium", "tier:diamond", "aov:high"],
    "imported": ["interest:premium"],
    "seafood": ["prefers:seafood"],
    "fruit": ["prefers:fruit"],
    "farmer": ["prefers:fruit", "prefers:vegetables"],
    "deals": ["interest:bargain", "aov:low"],
    "bargain": ["interest:bargain", "aov:low"],
    "daily": ["prefers:vegetables", "freq:high"],
    "home_cooking": ["interest:elderly", "prefers:grain_oil", "prefers:vegetables"],
    "elderly": ["interest:elderly"],
    "health": ["interest:elderly", "interest:fitness"],
}


class HostConfig(BaseModel):
    """How hosts are matched to groups and segments."""

    model_config = ConfigDict(extra="forbid")

    tag_map: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_TAG_MAP.items()},
        description="Host tag -> profile tags it speaks to.",
    )
    w_fit: float = Field(1.0, ge=0, description="Weight of the tag fit.")
    w_history: float = Field(0.5, ge=0, description="Weight of past lives with similar groups.")
    prior_lives: float = Field(2.0, ge=0, description="Pseudo-lives of no uplift (shrinkage).")
    profile_exclude: tuple[str, ...] = Field(
        ("group:", "compound:", "channel:"), description="Tag prefixes left out of profiles."
    )
    min_members: int = Field(5, ge=1, description="Targets with fewer members get no profile.")


def host_tags(hosts: pd.DataFrame) -> pd.DataFrame:
    """(host_id, host_tag) rows from the ';'-joined tags column."""
    t = hosts[[Col.HOST_ID, Col.TAGS]].dropna()
    t = t.assign(**{HOST_TAG: t[Col.TAGS].astype(str).str.split(LIST_SEP)}).explode(HOST_TAG)
    t[HOST_TAG] = t[HOST_TAG].str.strip().str.lower()
    return t[t[HOST_TAG] != ""][[Col.HOST_ID, HOST_TAG]].drop_duplicates().reset_index(drop=True)


def host_profile_tags(hosts: pd.DataFrame, cfg: HostConfig) -> pd.DataFrame:
    """(host_id, host_tag, tag): the profile tags each host tag speaks to."""
    ht = host_tags(hosts)
    mapped = pd.DataFrame(
        [(k, v) for k, vs in cfg.tag_map.items() for v in vs], columns=[HOST_TAG, Col.TAG]
    )
    generic = pd.concat(
        [
            ht[[HOST_TAG]].assign(**{Col.TAG: "interest:" + ht[HOST_TAG]}),
            ht[[HOST_TAG]].assign(**{Col.TAG: "prefers:" + ht[HOST_TAG]}),
        ]
    ).drop_duplicates()
    m = pd.concat([mapped, generic], ignore_index=True).drop_duplicates()
    return ht.merge(m, on=HOST_TAG, how="inner").reset_index(drop=True)


def memberships(
    members: pd.DataFrame | None = None, segments: pd.DataFrame | None = None
) -> pd.DataFrame:
    """(target_id, user_id) for every current group membership and segment assignment."""
    parts = []
    if members is not None and len(members):
        m = members
        if Col.LEFT_AT in m.columns:
            m = m[m[Col.LEFT_AT].isna()]
        parts.append(
            pd.DataFrame(
                {
                    TARGET: "group:" + m[Col.GROUP_ID].astype(str),
                    Col.USER_ID: m[Col.USER_ID].astype(str),
                }
            )
        )
    if segments is not None and len(segments):
        parts.append(
            pd.DataFrame(
                {
                    TARGET: "segment:" + segments[Col.SEGMENT_ID].astype(str),
                    Col.USER_ID: segments[Col.USER_ID].astype(str),
                }
            )
        )
    if not parts:
        return pd.DataFrame({TARGET: [], Col.USER_ID: []})
    return pd.concat(parts, ignore_index=True).dropna().drop_duplicates()


def target_profiles(
    tags: pd.DataFrame, member_of: pd.DataFrame, cfg: HostConfig | None = None
) -> pd.DataFrame:
    """(target_id, tag, share, share_all, lift, members) for every target's members."""
    cfg = cfg or HostConfig()
    t = tags[~tags[Col.TAG].astype("string").str.startswith(cfg.profile_exclude)]
    t = t[[Col.USER_ID, Col.TAG]].drop_duplicates().astype({Col.USER_ID: str})
    n_all = max(int(tags[Col.USER_ID].nunique()), 1)
    share_all = t.groupby(Col.TAG).size() / n_all
    size = member_of.groupby(TARGET).size().rename("members")
    size = size[size >= cfg.min_members]
    hits = member_of[member_of[TARGET].isin(size.index)].merge(t, on=Col.USER_ID)
    prof = hits.groupby([TARGET, Col.TAG]).size().rename("n").reset_index()
    prof = prof.merge(size, left_on=TARGET, right_index=True)
    prof[SHARE] = prof["n"] / prof["members"]
    prof[SHARE_ALL] = share_all.reindex(prof[Col.TAG]).to_numpy()
    prof[LIFT] = prof[SHARE] / prof[SHARE_ALL]
    return prof[[TARGET, Col.TAG, SHARE, SHARE_ALL, LIFT, "members"]].reset_index(drop=True)


def live_outcomes(
    lives: pd.DataFrame, events: pd.DataFrame, members: pd.DataFrame | None
) -> pd.DataFrame:
    """Per live: host, group, members, viewers, buyers, 接龙 rate and uplift vs the group's usual."""
    ev = events[events[Col.LIVE_ID].notna() & events[Col.USER_ID].notna()]
    viewers = (
        ev[ev[Col.EVENT_TYPE] == EventType.LIVE_VIEW.value]
        .groupby(Col.LIVE_ID)[Col.USER_ID]
        .nunique()
    )
    buys = ev[ev[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    buyers = buys.groupby(Col.LIVE_ID)[Col.USER_ID].nunique()
    out = lives[[Col.LIVE_ID, Col.GROUP_ID, Col.HOST_ID]].dropna(subset=[Col.HOST_ID]).copy()
    if members is not None and len(members):
        size = members.groupby(Col.GROUP_ID)[Col.USER_ID].nunique()
        out["members"] = out[Col.GROUP_ID].map(size)
    else:
        out["members"] = np.nan
    out["viewers"] = out[Col.LIVE_ID].map(viewers).fillna(0).astype(int)
    out["buyers"] = out[Col.LIVE_ID].map(buyers).fillna(0).astype(int)
    denom = out["members"].fillna(out["viewers"]).clip(lower=1)
    out["view_rate"] = out["viewers"] / denom
    out["jielong_rate"] = out["buyers"] / denom
    usual = out.groupby(Col.GROUP_ID)["jielong_rate"].transform("mean")
    out["uplift"] = np.where(usual > 0, out["jielong_rate"] / usual - 1.0, 0.0)
    return out.reset_index(drop=True)


def _profile_matrix(profiles: pd.DataFrame) -> pd.DataFrame:
    """targets x tags matrix of log lift (clipped at 0): what is over-represented."""
    p = profiles.assign(v=np.log(profiles[LIFT].clip(lower=1.0)))
    return p.pivot_table(index=TARGET, columns=Col.TAG, values="v", fill_value=0.0)


def rank_hosts(
    target: str,
    profiles: pd.DataFrame,
    hosts: pd.DataFrame,
    history: pd.DataFrame | None = None,
    cfg: HostConfig | None = None,
    shared: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Hosts for one target (``group:G1`` / ``segment:3``), best first, with fit, history, reasons.

    ``shared``: ``(host_profile_tags(hosts, cfg), _profile_matrix(profiles))`` when ranking
    many targets (:func:`rank_all` computes them once instead of once per target).
    """
    cfg = cfg or HostConfig()
    prof = profiles[profiles[TARGET] == target]
    hp, mat = shared if shared is not None else (host_profile_tags(hosts, cfg), None)
    names = hosts.set_index(Col.HOST_ID)[Col.NAME] if Col.NAME in hosts.columns else None
    fit_rows = hp.merge(prof[[Col.TAG, SHARE, SHARE_ALL]], on=Col.TAG, how="left").fillna(
        {SHARE: 0.0, SHARE_ALL: 0.0}
    )
    excess = (fit_rows[SHARE] - fit_rows[SHARE_ALL]) / (1.0 - fit_rows[SHARE_ALL]).clip(lower=1e-6)
    fit_rows["excess"] = excess.clip(lower=0.0)
    g = fit_rows.groupby(Col.HOST_ID)["excess"]
    fit = 0.7 * g.max() + 0.3 * g.mean()
    best = fit_rows.sort_values([Col.HOST_ID, "excess"], ascending=[True, False]).drop_duplicates(
        Col.HOST_ID
    )
    best = best.set_index(Col.HOST_ID)
    out = pd.DataFrame(index=pd.Index(hosts[Col.HOST_ID].astype(str).unique(), name=Col.HOST_ID))
    out["fit"] = fit.reindex(out.index).fillna(0.0)
    out["history"] = 0.0
    out["lives"] = 0
    if history is not None and len(history) and len(prof):
        mat = _profile_matrix(profiles) if mat is None else mat
        group_targets = "group:" + history[Col.GROUP_ID].astype(str)
        if target in mat.index:
            v = mat.loc[target].to_numpy()
            m = mat.reindex(pd.Index(group_targets.unique())).fillna(0.0)
            norms = np.linalg.norm(m.to_numpy(), axis=1) * max(np.linalg.norm(v), 1e-12)
            sim = pd.Series(m.to_numpy() @ v / np.maximum(norms, 1e-12), index=m.index)
            w = sim.reindex(group_targets).to_numpy().clip(min=0.0)
            h = history.assign(w=w, wu=w * history["uplift"].to_numpy())
            agg = h.groupby(Col.HOST_ID).agg(wu=("wu", "sum"), w=("w", "sum"), lives=("w", "size"))
            hist = agg["wu"] / (agg["w"] + cfg.prior_lives)
            out["history"] = hist.reindex(out.index).fillna(0.0)
            out["lives"] = agg["lives"].reindex(out.index).fillna(0).astype(int)
    out[Col.SCORE] = cfg.w_fit * out["fit"] + cfg.w_history * out["history"].clip(-1, 1)
    out["name"] = names.reindex(out.index).to_numpy() if names is not None else out.index
    out["tags"] = hosts.set_index(Col.HOST_ID)[Col.TAGS].reindex(out.index).to_numpy()
    why_tag = best.reindex(out.index)
    fit_text = (
        why_tag[HOST_TAG].astype(str)
        + " speaks to "
        + why_tag[Col.TAG].astype(str)
        + ": "
        + (why_tag[SHARE] * 100).round(0).astype("Int64").astype(str)
        + "% of members vs "
        + (why_tag[SHARE_ALL] * 100).round(0).astype("Int64").astype(str)
        + "% overall"
    ).where(why_tag["excess"] > 0, "no tag fits this audience")
    hist_text = (
        out["history"].map("{:+.0%}".format)
        + " 接龙 vs usual in "
        + out["lives"].astype(str)
        + " past lives with similar groups"
    ).where(out["lives"] > 0, "")
    out["reasons"] = (fit_text + np.where(out["lives"] > 0, "; ", "") + hist_text).astype(str)
    out = out.sort_values([Col.SCORE, "fit"], ascending=False, kind="stable").reset_index()
    out.insert(0, TARGET, target)
    out.insert(1, "rank", np.arange(1, len(out) + 1))
    return out[
        [
            TARGET,
            "rank",
            Col.HOST_ID,
            "name",
            "tags",
            Col.SCORE,
            "fit",
            "history",
            "lives",
            "reasons",
        ]
    ]


def rank_all(
    profiles: pd.DataFrame,
    hosts: pd.DataFrame,
    history: pd.DataFrame | None,
    cfg: HostConfig | None = None,
) -> pd.DataFrame:
    """:func:`rank_hosts` for every target with a profile."""
    cfg = cfg or HostConfig()
    shared = (host_profile_tags(hosts, cfg), _profile_matrix(profiles)) if len(profiles) else None
    parts: list[pd.DataFrame] = [
        rank_hosts(str(t), prof, hosts, history, cfg, shared)
        for t, prof in profiles.groupby(TARGET, sort=False, dropna=False)  # one per target
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def host_summary(ranking: pd.DataFrame) -> dict[str, Any]:
    """Best host per target, for logs."""
    top = ranking[ranking["rank"] == 1]
    return dict(zip(top[TARGET], top[Col.HOST_ID], strict=True))
