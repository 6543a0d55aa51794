"""Reasons in words for a theme audience: one text per user and component, weighed by contribution.

"bought 鸡胸肉 3x in 30 days; searched 减脂餐": each component of
:data:`training.audience_signals.COMPONENTS` has a sentence built from the user's own
events before the snapshot; a user's reasons are the sentences of the components that add
most to their score (:func:`training.audience_model.contributions`). Pure functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import Col
from training.audience_signals import ThemeLog

_COLS = [Col.USER_ID, "component", "text"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype="string") for c in _COLS})


def _counted(frame: pd.DataFrame, template: str, component: str) -> pd.DataFrame:
    """'{label} {n}x' for a user's two most counted labels, formatted into ``template``."""
    if frame.empty:
        return _empty()
    n = frame.groupby([Col.USER_ID, "label"], sort=False).size().rename("n").reset_index()
    n = n.sort_values([Col.USER_ID, "n", "label"], ascending=[True, False, True])
    n = n.groupby(Col.USER_ID, sort=False).head(2)
    n["part"] = n["label"].astype(str) + " " + n["n"].astype(str) + "x"
    g = n.groupby(Col.USER_ID, sort=False)["part"].agg(", ".join)
    return pd.DataFrame(
        {Col.USER_ID: g.index, "component": component, "text": g.map(template.format).to_numpy()}
    )


def _purchase_reasons(log: ThemeLog, snapshot: float, window: float) -> list[pd.DataFrame]:
    ln = log.lines[log.lines["t"] <= snapshot]
    age = snapshot - ln["t"].to_numpy()
    theme = ln[ln["theme"].to_numpy()]
    recent = theme[age[ln["theme"].to_numpy()] <= window]
    older = theme[~theme[Col.USER_ID].isin(recent[Col.USER_ID])]
    out = [
        _counted(recent, "bought {} in " + f"{window:g} days", "recent"),
        _counted(older, "bought {} before", "recent"),
        _counted(ln[ln["affine"].to_numpy() & (age <= 90)], "also buys {} in 90 days", "category"),
    ]
    b = ln.groupby([Col.USER_ID, "basket"], sort=False)["theme"].max().reset_index()
    per = b.groupby(Col.USER_ID)["theme"].agg(["sum", "size"])
    per = per[per["sum"] > 0]
    out.append(
        pd.DataFrame(
            {
                Col.USER_ID: per.index,
                "component": "rate",
                "text": (
                    "theme goods in "
                    + per["sum"].astype(int).astype(str)
                    + " of "
                    + per["size"].astype(str)
                    + " orders"
                ).to_numpy(),
            }
        )
    )
    recent_b = (
        ln[age <= 90].groupby(Col.USER_ID).agg(n=("basket", "nunique"), spend=("amount", "sum"))
    )
    spend = np.where(
        recent_b["spend"] > 0, ", ¥" + recent_b["spend"].round(0).astype(int).astype(str), ""
    )
    out.append(
        pd.DataFrame(
            {
                Col.USER_ID: recent_b.index,
                "component": "activity",
                "text": (recent_b["n"].astype(str) + " orders" + spend + " in 90 days").to_numpy(),
            }
        )
    )
    return out


def _keyword_reasons(log: ThemeLog, snapshot: float) -> pd.DataFrame:
    kw = log.keywords[log.keywords["t"] <= snapshot]
    if kw.empty:
        return _empty()
    said = (
        kw.groupby([Col.USER_ID, "verb"], sort=False)
        .agg(words=("keyword", lambda s: "、".join(pd.unique(s.astype(str))[:3])), n=("t", "size"))
        .reset_index()
        .sort_values([Col.USER_ID, "n", "verb"], ascending=[True, False, True])
    )
    said["part"] = (
        said["verb"]
        + " "
        + said["words"]
        + np.where(said["n"] > 1, " " + said["n"].astype(str) + "x", "")
    )
    per = said.groupby(Col.USER_ID, sort=False)["part"].agg(", ".join)
    return pd.DataFrame({Col.USER_ID: per.index, "component": "keyword", "text": per.to_numpy()})


def reason_texts(
    log: ThemeLog, snapshot: float, window: float, theme_name: str, similar: pd.Series
) -> pd.DataFrame:
    """user_id, component, text: every sentence a user's reasons may use."""
    eng = log.engage[(log.engage["t"] <= snapshot) & log.engage["theme"]]
    parts = [
        *_purchase_reasons(log, snapshot, window),
        _counted(eng, "looked at {}", "engage"),
        _keyword_reasons(log, snapshot),
    ]
    recent_lives = log.lives[(log.lives["t"] > snapshot - 30) & (log.lives["t"] <= snapshot)]
    lv = recent_lives.groupby(Col.USER_ID).size()
    parts.append(
        pd.DataFrame(
            {
                Col.USER_ID: lv.index,
                "component": "activity",
                "text": ("watched " + lv.astype(str) + " lives in 30 days").to_numpy(),
            }
        )
    )
    sim = similar[similar > 0]
    parts.append(
        pd.DataFrame(
            {
                Col.USER_ID: sim.index,
                "component": "similar",
                "text": f"shops like people who buy {theme_name}",
            }
        )
    )
    out = pd.concat([p for p in parts if len(p)], ignore_index=True) if parts else _empty()
    # one sentence per (user, component): join a component's sentences (e.g. two activity facts)
    return out.groupby([Col.USER_ID, "component"], sort=False)["text"].agg("; ".join).reset_index()


def join_reasons(texts: pd.DataFrame, contrib: pd.DataFrame, k: int) -> pd.Series:
    """Per user: the sentences of the k components that add most to their score (at least one).

    Theme components come before ``activity`` (how much a user shops in general).
    """
    if texts.empty:
        return pd.Series(dtype="string")
    long = (
        contrib.rename_axis(Col.USER_ID)
        .reset_index()
        .melt(id_vars=Col.USER_ID, var_name="component", value_name="contrib")
    )
    long[Col.USER_ID] = long[Col.USER_ID].astype("string")
    t = texts.assign(**{Col.USER_ID: texts[Col.USER_ID].astype("string")})
    r = t.merge(long, on=[Col.USER_ID, "component"], how="inner")
    r["general"] = r["component"] == "activity"  # theme reasons first, activity fills up
    r = r.sort_values(
        [Col.USER_ID, "general", "contrib", "component"], ascending=[True, True, False, True]
    )
    r["pos"] = r.groupby(Col.USER_ID, sort=False).cumcount()
    r = r[(r["pos"] == 0) | (r["contrib"] > 0)]
    r = r.groupby(Col.USER_ID, sort=False).head(k)
    return r.groupby(Col.USER_ID, sort=False)["text"].agg("; ".join)
