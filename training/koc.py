"""KOC scoring: rank the members of each group by influence (key opinion consumers, 关键意见消费者).

Components per (group, member), from the clean event log:

- ``talk``         messages and live comments in the group,
- ``shares``       share events (in the group, or anywhere when the share names no group),
- ``referrals``    distinct orders placed through the member's shares (``referrer``),
- ``referred_buyers`` distinct people who ordered through them,
- ``early_joins``  接龙 chains of the group the member joined among the first ``early_share``,
- ``earliness``    mean 1 - (join position / chain size) over their chains, shrunk to 0.5
                   with ``prior_chains`` pseudo-chains (how early, not how often),
- ``followers``    mean joins by others within ``follow_hours`` after the member's join.

A 接龙 chain is the set of 接龙 baskets of one live (group, live_id); without a live,
baskets of one group separated by less than ``chain_gap_hours`` form a chain.

Each component becomes a percentile rank among the group's members (0 when the
member has none of it); the score is their weighted mean. Reasons are in words
("3 orders through their shares; joined 接龙 early 5x; 12 messages"). Pure
functions; no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.schema import PURCHASE_EVENTS, Col, EventType

REFERRER_USER_ID = "referrer_user_id"
CHAIN = "chain"
COMPONENTS = (
    "talk",
    "shares",
    "referrals",
    "referred_buyers",
    "early_joins",
    "earliness",
    "followers",
)


class KOCConfig(BaseModel):
    """How influence is measured and weighed."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] = Field(
        default={
            "talk": 0.25,
            "shares": 1.0,
            "referrals": 1.5,
            "referred_buyers": 1.0,
            "early_joins": 0.5,
            "earliness": 1.0,
            "followers": 0.5,
        },
        description="Weight of each component's within-group percentile.",
    )
    early_share: float = Field(0.2, gt=0, le=1, description="A join in this first share is early.")
    follow_hours: float = Field(
        2.0, gt=0, description="Others' joins within this count as followers."
    )
    prior_chains: float = Field(3.0, ge=0, description="Pseudo-chains pulling earliness to 0.5.")
    chain_gap_hours: float = Field(24.0, gt=0, description="Gap that ends a chain without a live.")
    min_chain_size: int = Field(3, ge=2, description="Chains smaller than this are not ranked.")
    top: int = Field(10, ge=1, description="KOCs listed per group in the summary.")


def chains(events: pd.DataFrame, gap_hours: float) -> pd.DataFrame:
    """接龙 baskets with their chain: group_id, chain, order_id, user_id, ts (first line)."""
    j = events[events[Col.EVENT_TYPE] == EventType.JIELONG.value]
    j = j[j[Col.GROUP_ID].notna() & j[Col.USER_ID].notna()]
    cols = [Col.GROUP_ID, Col.USER_ID, Col.ORDER_ID, Col.TS]
    live = j[Col.LIVE_ID] if Col.LIVE_ID in j.columns else pd.Series(pd.NA, index=j.index)
    b = (
        j.assign(_live=live.astype("string").fillna(""))
        .groupby([Col.GROUP_ID, "_live", Col.ORDER_ID, Col.USER_ID], sort=False)[Col.TS]
        .min()
        .reset_index()
    )
    b = b.sort_values([Col.GROUP_ID, "_live", Col.TS, Col.ORDER_ID], kind="stable")
    same = (b[Col.GROUP_ID] == b[Col.GROUP_ID].shift()) & (b["_live"] == b["_live"].shift())
    gap = b[Col.TS].diff().dt.total_seconds() / 3600.0
    new = ~same.fillna(False).astype(bool) | ((b["_live"] == "") & (gap > gap_hours)).fillna(
        False
    ).astype(bool)
    b[CHAIN] = np.cumsum(new.to_numpy(dtype=np.int64))
    return b[[*cols, CHAIN]].reset_index(drop=True)


def chain_positions(ch: pd.DataFrame, follow_hours: float) -> pd.DataFrame:
    """Per chain basket: chain size, join position (0 = first) as a share, followers within the window."""
    ch = ch.sort_values([CHAIN, Col.TS, Col.ORDER_ID], kind="stable").reset_index(drop=True)
    size = ch.groupby(CHAIN)[Col.ORDER_ID].transform("size").to_numpy()
    pos = ch.groupby(CHAIN).cumcount().to_numpy()
    ts = pd.DatetimeIndex(ch[Col.TS]).as_unit("ms").asi8  # milliseconds, whatever the unit
    code = ch[CHAIN].to_numpy()
    # joins by the same chain up to follow_hours later: searchsorted on (chain, ts) keys
    key = code.astype(np.int64) * 10**13 + ts
    later = np.searchsorted(key, key + int(follow_hours * 3600 * 1000), side="right")
    followers = later - np.arange(len(ch)) - 1
    return ch.assign(
        size=size, position=pos / np.maximum(size - 1, 1), followers=followers.astype(np.int64)
    )


def _pct_in_group(frame: pd.DataFrame, col: str) -> pd.Series:
    """Percentile rank of `col` among the group's members (0 where the value is 0)."""
    r = frame.groupby(Col.GROUP_ID)[col].rank(pct=True, method="average")
    return r.where(frame[col] > 0, 0.0)


def koc_scores(
    events: pd.DataFrame, members: pd.DataFrame, cfg: KOCConfig | None = None
) -> pd.DataFrame:
    """Per (group_id, user_id) member: components, score, rank in group and reasons."""
    cfg = cfg or KOCConfig()
    mem = members[[Col.GROUP_ID, Col.USER_ID]].dropna().drop_duplicates()
    if Col.LEFT_AT in members.columns:
        current = members[members[Col.LEFT_AT].isna()][[Col.GROUP_ID, Col.USER_ID]]
        mem = current.dropna().drop_duplicates()
    ev = events[events[Col.USER_ID].notna()]

    talk_ev = ev[ev[Col.EVENT_TYPE].isin([EventType.MESSAGE.value, EventType.LIVE_COMMENT.value])]
    talk = talk_ev[talk_ev[Col.GROUP_ID].notna()].groupby([Col.GROUP_ID, Col.USER_ID]).size()

    sh = ev[ev[Col.EVENT_TYPE] == EventType.SHARE.value]
    sh_group = sh[sh[Col.GROUP_ID].notna()].groupby([Col.GROUP_ID, Col.USER_ID]).size()
    sh_any = sh[sh[Col.GROUP_ID].isna()].groupby(Col.USER_ID).size()

    buys = ev[ev[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    if REFERRER_USER_ID in buys.columns:
        ref = buys[buys[REFERRER_USER_ID].notna() & (buys[REFERRER_USER_ID] != buys[Col.USER_ID])]
        ref_orders = ref.groupby(REFERRER_USER_ID)[Col.ORDER_ID].nunique()
        ref_buyers = ref.groupby(REFERRER_USER_ID)[Col.USER_ID].nunique()
    else:
        ref_orders = ref_buyers = pd.Series(dtype=float)

    pos = chain_positions(chains(ev, cfg.chain_gap_hours), cfg.follow_hours)
    pos = pos[pos["size"] >= cfg.min_chain_size]
    g = pos.assign(
        early=(pos["position"] <= cfg.early_share).astype(float), lead=1.0 - pos["position"]
    ).groupby([Col.GROUP_ID, Col.USER_ID])
    early = g["early"].sum()
    joins = g[CHAIN].nunique()
    # how early they join, on average, shrunk toward the middle for members with few chains
    earliness = (g["lead"].sum() + 0.5 * cfg.prior_chains) / (joins + cfg.prior_chains)
    follow = g["followers"].mean()

    out = mem.set_index([Col.GROUP_ID, Col.USER_ID])
    out["talk"] = talk
    out["shares"] = sh_group
    out = out.fillna(0.0).reset_index()
    out["shares"] += out[Col.USER_ID].map(sh_any).fillna(0.0)
    out["referrals"] = out[Col.USER_ID].map(ref_orders).fillna(0.0)
    out["referred_buyers"] = out[Col.USER_ID].map(ref_buyers).fillna(0.0)
    keyed = out.set_index([Col.GROUP_ID, Col.USER_ID])
    keyed["early_joins"] = early
    keyed["followers"] = follow
    keyed["chains_joined"] = joins
    keyed["earliness"] = earliness
    out = keyed.fillna(0.0).reset_index()
    out["earliness"] = out["earliness"].where(out["chains_joined"] > 0, 0.0)

    score = pd.Series(0.0, index=out.index)
    total_w = 0.0
    for c in COMPONENTS:
        w = cfg.weights.get(c, 0.0)
        if w > 0:
            score += w * _pct_in_group(out, c)
            total_w += w
    out[Col.SCORE] = (score / total_w if total_w else score).round(6)
    out = out.sort_values([Col.GROUP_ID, Col.SCORE, Col.USER_ID], ascending=[True, False, True])
    out["rank"] = out.groupby(Col.GROUP_ID).cumcount() + 1
    out["reasons"] = reasons(out)
    return out.reset_index(drop=True)


def reasons(frame: pd.DataFrame) -> pd.Series:
    """Influence in words, strongest signals first."""
    parts = []
    specs = [
        ("referrals", "{} orders via their shares"),
        ("referred_buyers", "brought {} buyers"),
        ("early_joins", "joined 接龙 early {}x"),
        ("followers", "{} joins follow theirs on average"),
        ("shares", "shared {}x"),
        ("talk", "{} messages / comments"),
    ]
    for col, template in specs:
        v = frame[col].astype(int)
        parts.append(v.astype(str).map(template.format).where(v > 0, ""))
    joined = parts[0]
    for part in parts[1:]:  # six columns
        joined = joined + "; " + part
    return joined.str.replace(r"(; )+", "; ", regex=True).str.strip("; ").astype("string")
