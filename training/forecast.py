"""Demand forecast: weekly units per item and per category for the next 1-4 weeks.

One global gradient-boosted model (scikit-learn ``HistGradientBoostingRegressor``,
Poisson loss) per level, trained on rows (series, origin week t, horizon h) with
features known at t:

- the series' own past: units at t, t-1, t-2, t-3, means over 4 / 8 / 13 weeks, the
  value 52 weeks before the target week when history reaches that far,
- the target week's calendar: week of year (sin / cos), month, days off (Chinese public
  holidays, ``holidays`` package), days to the next gift festival (Spring Festival,
  Dragon Boat, Mid-Autumn),
- season: whether the target month is in the item's season (``items.season``), and for
  a category the share of its items in season,
- signals: search / chat / live-comment mentions of the item's subcategory words in
  the last week and the last 4 weeks (text segmented with jieba), and the live-streams
  already scheduled to feature it in the target week (``live_sessions.item_ids``),
- static: category, price, gift attribute, horizon.

The baseline is seasonal-naive: the value 52 weeks before the target week, or, when
the history is shorter than a season, the last observed week (naive). Accuracy is
WAPE = sum |y - yhat| / sum y over the held-out (series, week) cells. Pure functions;
no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from features.schema import CHINA_TZ, LIST_SEP, PURCHASE_EVENTS, TEXT_EVENTS, Col

Level = Literal["item", "category"]
WEEK = "week"  # Monday 00:00 China time of the week
KEY = "key"  # item_id or category
Y = "units"
YHAT = "forecast"
BASELINE = "seasonal_naive"
HORIZON = "horizon"
ORIGIN = "origin"
LEVEL = "level"


class ForecastConfig(BaseModel):
    """How weekly demand is modelled and checked."""

    model_config = ConfigDict(extra="forbid")

    horizons: int = Field(4, ge=1, le=12, description="Weeks ahead forecast (1..horizons).")
    holdout_weeks: int = Field(8, ge=1, description="Last full weeks held out for the check.")
    season_weeks: int = Field(52, ge=1, description="Seasonal period of the baseline, weeks.")
    min_history_weeks: int = Field(4, ge=1, description="Origins need this many weeks before.")
    festivals: tuple[str, ...] = Field(
        ("Spring Festival", "Dragon Boat", "Mid-Autumn"),
        description="Holiday names (holidays package, en_US) that drive gift demand.",
    )
    max_iter: int = Field(200, ge=10, description="Boosting iterations.")
    learning_rate: float = Field(0.05, gt=0, description="Boosting learning rate.")
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(20, ge=1)
    mentions: bool = Field(True, description="Use search / chat mention counts.")
    planned_lives: bool = Field(True, description="Use lives already scheduled for the week.")
    threads: int = Field(1, ge=1, description="OpenMP threads of the boosting fit.")
    seed: int = 42


# ---- panels -------------------------------------------------------------------------------


def week_start(ts: pd.Series) -> pd.Series:
    """Monday 00:00 (China time, tz-naive) of each timestamp's week."""
    t = pd.to_datetime(ts)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(CHINA_TZ).dt.tz_localize(None)
    d = t.dt.floor("D")
    return d - pd.to_timedelta(d.dt.day_of_week, unit="D")


def full_weeks(ts: pd.Series) -> pd.DatetimeIndex:
    """Weeks whose seven days all lie within the data's first and last day."""
    t = pd.to_datetime(ts)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(CHINA_TZ).dt.tz_localize(None)
    first, last = t.min().floor("D"), t.max().floor("D")
    start = first + pd.Timedelta(days=(7 - first.day_of_week) % 7)
    end = last - pd.Timedelta(days=(last.day_of_week + 1) % 7)  # last Sunday on or before
    if end < start:
        return pd.DatetimeIndex([])
    return pd.date_range(start, end - pd.Timedelta(days=6), freq="7D")


def series_keys(items: pd.DataFrame, level: Level) -> pd.Series:
    """item_id -> series key at a level."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    if level == "item":
        return pd.Series(cat.index.to_numpy(), index=cat.index)
    return cat[Col.CATEGORY].astype("string")


def weekly_panel(
    purchases: pd.DataFrame, items: pd.DataFrame, level: Level, weeks: pd.DatetimeIndex
) -> pd.DataFrame:
    """Units per (key, week) on the full grid of keys x weeks (zeros where nothing sold)."""
    buys = purchases
    if Col.EVENT_TYPE in buys.columns:
        buys = buys[buys[Col.EVENT_TYPE].isin([str(e) for e in PURCHASE_EVENTS])]
    qty = (
        pd.to_numeric(buys[Col.QUANTITY], errors="coerce").fillna(1.0)
        if Col.QUANTITY in buys.columns
        else pd.Series(1.0, index=buys.index)
    )
    keys = series_keys(items, level)
    frame = pd.DataFrame(
        {
            KEY: keys.reindex(buys[Col.ITEM_ID]).to_numpy(),
            WEEK: week_start(buys[Col.TS]).to_numpy(),
            Y: qty.to_numpy(dtype=float),
        }
    ).dropna(subset=[KEY])
    sums = frame.groupby([KEY, WEEK])[Y].sum()
    all_keys = pd.Index(sorted(pd.unique(keys.dropna())), name=KEY)
    grid = pd.MultiIndex.from_product([all_keys, weeks], names=[KEY, WEEK])
    return sums.reindex(grid, fill_value=0.0).reset_index()


# ---- exogenous signals --------------------------------------------------------------------


def calendar(weeks: pd.DatetimeIndex, festivals: tuple[str, ...]) -> pd.DataFrame:
    """Per week: week-of-year sin/cos, month, public-holiday days, days to the next festival."""
    import holidays

    years = range(weeks.min().year - 1, weeks.max().year + 2) if len(weeks) else range(0)
    cn = holidays.country_holidays("CN", years=years, language="en_US")
    day = 86400  # everything below in whole seconds (index units may differ)
    off = pd.DatetimeIndex(sorted(pd.Timestamp(d) for d in cn)).as_unit("s").asi8
    fest = np.array(
        sorted(
            {
                pd.Timestamp(d).value // 10**9
                for d, n in cn.items()
                if any(f in str(n) for f in festivals)
            }
        ),
        dtype=np.int64,
    )
    # first day of each festival (consecutive days of one festival count once)
    fest = fest[np.r_[True, np.diff(fest) > 10 * day]] if len(fest) else fest
    w = weeks.as_unit("s").asi8
    woy = weeks.isocalendar().week.to_numpy(dtype=float)
    mid = weeks + pd.Timedelta(days=3)
    days_off = np.searchsorted(off, w + 7 * day) - np.searchsorted(off, w)
    pos = np.searchsorted(fest, w)
    nxt = np.where(
        pos < len(fest),
        fest[np.minimum(pos, max(len(fest) - 1, 0))] if len(fest) else 0,
        np.iinfo(np.int64).max,
    )
    to_fest = np.clip((nxt - w) / day, 0, 90)
    return pd.DataFrame(
        {
            WEEK: weeks,
            "woy_sin": np.sin(2 * np.pi * woy / 52.18),
            "woy_cos": np.cos(2 * np.pi * woy / 52.18),
            "month": mid.month.to_numpy(),
            "days_off": days_off.astype(float),
            "days_to_festival": to_fest.astype(float),
        }
    )


def season_months(season: pd.Series) -> np.ndarray:
    """``items.season`` strings ('6-8', '12;1;2', '11-2', empty) -> bool (n, 13), month 1..12."""
    s = season.reset_index(drop=True).fillna("").astype(str).str.replace(" ", "", regex=False)
    out = np.zeros((len(s), 13), dtype=bool)
    parts = s.str.split(LIST_SEP).explode()
    parts = parts[parts != ""]
    rng = parts.str.extract(r"^(\d{1,2})(?:-(\d{1,2}))?$").astype(float)
    rng = rng.dropna(subset=[0])
    lo = rng[0].astype(int).to_numpy()
    hi = rng[1].fillna(rng[0]).astype(int).to_numpy()
    rows = rng.index.to_numpy(dtype=np.int64)
    for m in range(1, 13):  # twelve months, vectorised over items
        inside = np.where(lo <= hi, (m >= lo) & (m <= hi), (m >= lo) | (m <= hi))
        out[rows[inside], m] = True
    no_season = ~out[:, 1:].any(axis=1)
    out[no_season, 1:] = True  # no season given: in season all year
    return out


def in_season(items: pd.DataFrame, level: Level, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """Per (key, week): 1 when the week's month is in the item's season (category: share)."""
    cat = items.drop_duplicates(Col.ITEM_ID).reset_index(drop=True)
    months = season_months(
        cat[Col.SEASON] if Col.SEASON in cat.columns else pd.Series([""] * len(cat))
    )
    week_month = (weeks + pd.Timedelta(days=3)).month.to_numpy()
    flag = months[:, week_month].astype(float)  # items x weeks
    frame = pd.DataFrame(flag, columns=weeks)
    frame[KEY] = series_keys(cat.set_index(Col.ITEM_ID).reset_index(), level).to_numpy()
    long = frame.melt(id_vars=KEY, var_name=WEEK, value_name="in_season")
    long[WEEK] = pd.to_datetime(long[WEEK])
    return pd.DataFrame(long.groupby([KEY, WEEK], as_index=False)["in_season"].mean())


def _subcategory_words(items: pd.DataFrame) -> dict[str, list[str]]:
    """Subcategory -> distinctive words of its items' names (jieba tokens in no other one)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    cat = items.drop_duplicates(Col.ITEM_ID)
    group = (cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat.columns else cat[Col.CATEGORY]).astype(
        "string"
    )
    names = cat[Col.NAME].astype("string").fillna("")
    uniq = pd.Series(names.unique())
    tok = uniq.map(lambda t: [w for w in jieba.lcut(t) if len(w) >= 2 and not w.isascii()])
    per = pd.DataFrame({Col.NAME: uniq, "w": tok}).explode("w").dropna()
    per = per.merge(pd.DataFrame({Col.NAME: names, "g": group}), on=Col.NAME)
    per = per.dropna(subset=["g"]).drop_duplicates(["w", "g"])
    owners = per.groupby("w")["g"].nunique()
    per = per[per["w"].map(owners) == 1]
    return {str(g): sorted(set(ws)) for g, ws in per.groupby("g")["w"]}


def mention_counts(
    events: pd.DataFrame, items: pd.DataFrame, level: Level, weeks: pd.DatetimeIndex
) -> pd.DataFrame:
    """Per (key, week): text events (search / chat / live comment) naming the key's goods."""
    from features.tags import keyword_hits

    texts = events[events[Col.EVENT_TYPE].isin([str(e) for e in TEXT_EVENTS])]
    texts = texts[texts[Col.TEXT].notna()] if Col.TEXT in texts.columns else texts.iloc[0:0]
    words = _subcategory_words(items)
    empty = pd.DataFrame({KEY: [], WEEK: pd.DatetimeIndex([]), "mentions": []})
    if texts.empty or not words:
        return empty
    hits = keyword_hits(texts[Col.TEXT].reset_index(drop=True), words)
    if hits.empty:
        return empty
    wk = week_start(texts[Col.TS].reset_index(drop=True)).to_numpy()[hits["row"].to_numpy()]
    per_group = pd.DataFrame({"g": hits["interest"].to_numpy(), WEEK: wk})
    per_group = per_group.drop_duplicates().assign(n=1)  # one mention per text
    per_group = pd.DataFrame(per_group.groupby(["g", WEEK], as_index=False)["n"].sum())
    cat = items.drop_duplicates(Col.ITEM_ID)
    group = (cat[Col.SUBCATEGORY] if Col.SUBCATEGORY in cat.columns else cat[Col.CATEGORY]).astype(
        "string"
    )
    key_map = pd.DataFrame({"g": group.to_numpy(), KEY: series_keys(cat, level).to_numpy()})
    if level == "category":
        key_map = key_map.drop_duplicates()
    out = per_group.merge(key_map, on="g")
    counts = pd.DataFrame(out.groupby([KEY, WEEK], as_index=False)["n"].sum())
    return counts.rename(columns={"n": "mentions"})


def planned_lives(lives: pd.DataFrame | None, items: pd.DataFrame, level: Level) -> pd.DataFrame:
    """Per (key, week): live-streams scheduled to feature the key's goods."""
    empty = pd.DataFrame({KEY: [], WEEK: pd.DatetimeIndex([]), "lives": []})
    if lives is None or lives.empty or Col.ITEM_IDS not in lives.columns:
        return empty
    ex = lives[[Col.START_TS, Col.ITEM_IDS]].dropna()
    ex = ex.assign(item=ex[Col.ITEM_IDS].astype(str).str.split(LIST_SEP)).explode("item")
    ex[WEEK] = week_start(pd.to_datetime(ex[Col.START_TS], utc=True)).to_numpy()
    ex[KEY] = series_keys(items, level).reindex(ex["item"].str.strip()).to_numpy()
    ex = ex.dropna(subset=[KEY])
    return ex.groupby([KEY, WEEK]).size().rename("lives").reset_index()


# ---- design matrix ------------------------------------------------------------------------


@dataclass
class Design:
    """Everything the rows of the model are cut from: the (keys x weeks) arrays."""

    keys: pd.Index
    weeks: pd.DatetimeIndex
    y: np.ndarray  # keys x weeks units
    exo: dict[str, np.ndarray]  # keys x weeks known-in-advance signals
    cal: pd.DataFrame  # per week calendar
    static: pd.DataFrame  # per key: code, price, gift
    lagged: dict[str, np.ndarray] = field(default_factory=dict)  # keys x weeks, known at t


def _grid(frame: pd.DataFrame, col: str, keys: pd.Index, weeks: pd.DatetimeIndex) -> np.ndarray:
    if frame.empty:
        return np.zeros((len(keys), len(weeks)))
    wide = frame.pivot_table(index=KEY, columns=WEEK, values=col, aggfunc="sum")
    return np.array(wide.reindex(index=keys, columns=weeks).fillna(0.0), dtype=float)


def build_design(
    purchases: pd.DataFrame,
    items: pd.DataFrame,
    level: Level,
    cfg: ForecastConfig,
    events: pd.DataFrame | None = None,
    lives: pd.DataFrame | None = None,
    weeks: pd.DatetimeIndex | None = None,
    future_weeks: int = 0,
) -> Design:
    """Arrays of units, signals, calendar and static features over the weeks (+ future weeks)."""
    if weeks is None:
        weeks = full_weeks(purchases[Col.TS])
    allw = pd.DatetimeIndex(
        weeks.append(
            pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=future_weeks, freq="7D")
        )
        if future_weeks and len(weeks)
        else weeks
    )
    panel = weekly_panel(purchases, items, level, weeks)
    keys = pd.Index(sorted(panel[KEY].unique()), name=KEY)
    y = _grid(panel, Y, keys, weeks)
    y = np.hstack([y, np.zeros((len(keys), len(allw) - len(weeks)))])
    exo = {"in_season": _grid(in_season(items, level, allw), "in_season", keys, allw)}
    if cfg.planned_lives:
        exo["lives"] = _grid(planned_lives(lives, items, level), "lives", keys, allw)
    lagged = {}
    if cfg.mentions and events is not None:
        m = _grid(mention_counts(events, items, level, allw), "mentions", keys, allw)
        m[:, len(weeks) :] = 0.0
        lagged["mentions"] = m
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)
    price = pd.to_numeric(cat[Col.PRICE], errors="coerce") if Col.PRICE in cat.columns else None
    gift = (
        cat[Col.ATTRIBUTES].fillna("").astype(str).str.contains("gift")
        if Col.ATTRIBUTES in cat.columns
        else pd.Series(False, index=cat.index)
    )
    skey = series_keys(items, level).reindex(cat.index)
    static = pd.DataFrame(
        {
            "price": (price if price is not None else pd.Series(np.nan, index=cat.index))
            .groupby(skey.to_numpy())
            .median(),
            "gift": gift.astype(float).groupby(skey.to_numpy()).mean(),
            "category": cat[Col.CATEGORY].astype(str).groupby(skey.to_numpy()).first(),
        }
    ).reindex(keys)
    static["category_code"] = pd.factorize(static["category"].fillna(""), sort=True)[0]
    return Design(keys, allw, y, exo, calendar(allw, cfg.festivals), static, lagged)


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """a[:, t - k] at column t (NaN before the start)."""
    out = np.full_like(a, np.nan, dtype=float)
    if k < a.shape[1]:
        out[:, k:] = a[:, : a.shape[1] - k]
    return out


def _rolling_mean(a: np.ndarray, w: int) -> np.ndarray:
    """Mean of the last w columns up to and including t (NaN until w columns exist)."""
    c = np.cumsum(np.pad(a, ((0, 0), (1, 0))), axis=1)
    out = np.full_like(a, np.nan, dtype=float)
    out[:, w - 1 :] = (c[:, w:] - c[:, :-w]) / w
    return out


def design_rows(d: Design, origins: np.ndarray, horizons: int, season_weeks: int) -> pd.DataFrame:
    """One row per (key, origin column t, horizon h) with features known at t and target y[t+h]."""
    y = d.y
    feats_t = {
        "lag0": y,
        "lag1": _shift(y, 1),
        "lag2": _shift(y, 2),
        "lag3": _shift(y, 3),
        "mean4": _rolling_mean(y, 4),
        "mean8": _rolling_mean(y, 8),
        "mean13": _rolling_mean(y, 13),
    }
    for name, a in d.lagged.items():
        feats_t[f"{name}_last"] = a
        feats_t[f"{name}_mean4"] = _rolling_mean(a, 4)
    n_keys, n_w = y.shape
    parts = []
    for h in range(1, horizons + 1):  # a few horizons, each vectorised over keys x origins
        t = origins[origins + h < n_w]
        if len(t) == 0:
            continue
        target = t + h
        kk, tt = np.meshgrid(np.arange(n_keys), t, indexing="ij")
        _, gg = np.meshgrid(np.arange(n_keys), target, indexing="ij")
        row: dict[str, Any] = {
            KEY: d.keys.to_numpy()[kk.ravel()],
            ORIGIN: d.weeks[tt.ravel()],
            WEEK: d.weeks[gg.ravel()],
            HORIZON: np.full(kk.size, h),
            Y: y[kk, gg].ravel(),
        }
        for name, a in feats_t.items():
            row[name] = a[kk, tt].ravel()
        seasonal = _shift(y, season_weeks)
        row["same_week_last_season"] = seasonal[kk, gg].ravel()
        # only weeks before the origin are known: a season-ago value after t is not
        row["same_week_last_season"] = np.where(
            gg.ravel() - season_weeks <= tt.ravel(), row["same_week_last_season"], np.nan
        )
        for name, a in d.exo.items():
            row[name] = a[kk, gg].ravel()
        cal = d.cal.drop(columns=[WEEK]).to_numpy(dtype=float)[gg.ravel()]
        for j, name in enumerate(d.cal.columns.drop(WEEK)):
            row[name] = cal[:, j]
        for name in ("price", "gift", "category_code"):
            row[name] = d.static[name].to_numpy(dtype=float)[kk.ravel()]
        parts.append(pd.DataFrame(row))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


FEATURES_EXCLUDED = (KEY, ORIGIN, WEEK, Y)


def seasonal_naive(rows: pd.DataFrame, season_weeks: int, history_weeks: int) -> np.ndarray:
    """The baseline: last season's same week when the history is a season long, else lag0."""
    if history_weeks >= season_weeks and "same_week_last_season" in rows.columns:
        s = rows["same_week_last_season"].to_numpy(dtype=float)
        return np.where(np.isnan(s), rows["lag0"].to_numpy(dtype=float), s)
    return rows["lag0"].to_numpy(dtype=float)


def wape(y: np.ndarray | pd.Series, yhat: np.ndarray | pd.Series) -> float:
    """sum |y - yhat| / sum y."""
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    den = np.abs(y).sum()
    return float(np.abs(y - yhat).sum() / den) if den > 0 else float("nan")


@dataclass
class Forecaster:
    """A fitted model and the feature columns it reads."""

    model: Any
    features: list[str]
    level: str

    def predict(self, rows: pd.DataFrame) -> np.ndarray:
        """Non-negative forecasts for design rows."""
        return np.clip(self.model.predict(rows[self.features].to_numpy(dtype=float)), 0, None)


def fit(rows: pd.DataFrame, cfg: ForecastConfig, level: str) -> Forecaster:
    """Fit the boosted Poisson model on design rows."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    # an all-missing column (e.g. last season's value on a short history) carries nothing
    feats = [c for c in rows.columns if c not in FEATURES_EXCLUDED and rows[c].notna().any()]
    cat_mask = [c == "category_code" for c in feats]
    model = HistGradientBoostingRegressor(
        loss="poisson",
        max_iter=cfg.max_iter,
        learning_rate=cfg.learning_rate,
        max_leaf_nodes=cfg.max_leaf_nodes,
        min_samples_leaf=cfg.min_samples_leaf,
        categorical_features=cat_mask if any(cat_mask) else None,
        random_state=cfg.seed,
    )
    from threadpoolctl import threadpool_limits

    with threadpool_limits(cfg.threads):  # shared machines: no oversubscription
        model.fit(rows[feats].to_numpy(dtype=float), rows[Y].to_numpy(dtype=float))
    return Forecaster(model, feats, level)


def holdout(d: Design, cfg: ForecastConfig, level: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """Train on targets before the last ``holdout_weeks``; forecast them from rolling origins.

    Every (origin, horizon) whose target lies in the held-out weeks is scored; origins
    run from the last training week through the held-out weeks (features only use
    weeks up to the origin). Returns the scored rows and WAPE of model and baseline.
    """
    n_w = len(d.weeks)
    first_test = n_w - cfg.holdout_weeks
    origins = np.arange(cfg.min_history_weeks - 1, n_w - 1)
    rows = design_rows(d, origins, cfg.horizons, cfg.season_weeks)
    target_col = d.weeks.get_indexer(pd.DatetimeIndex(rows[WEEK]))
    train = rows[target_col < first_test]
    test = rows[
        (target_col >= first_test)
        & (d.weeks.get_indexer(pd.DatetimeIndex(rows[ORIGIN])) >= first_test - 1)
    ]
    model = fit(train, cfg, level)
    test = test.assign(**{YHAT: model.predict(test)})
    test[BASELINE] = seasonal_naive(test, cfg.season_weeks, first_test)
    metrics = {
        "wape": wape(test[Y], test[YHAT]),
        "wape_baseline": wape(test[Y], test[BASELINE]),
        "wape_mean4": wape(test[Y], test["mean4"].fillna(test["lag0"])),
        "train_rows": float(len(train)),
        "test_rows": float(len(test)),
        "holdout_weeks": float(cfg.holdout_weeks),
        "history_weeks": float(first_test),
        "baseline_is_seasonal": float(first_test >= cfg.season_weeks),
    }
    for h in range(1, cfg.horizons + 1):
        part = test[test[HORIZON] == h]
        metrics[f"wape_h{h}"] = wape(part[Y], part[YHAT])
        metrics[f"wape_baseline_h{h}"] = wape(part[Y], part[BASELINE])
    return test.reset_index(drop=True), metrics


def forecast_ahead(d: Design, cfg: ForecastConfig, level: str, n_future: int) -> pd.DataFrame:
    """Fit on all history, forecast the ``n_future`` weeks after the last full week."""
    n_hist = len(d.weeks) - n_future
    origins = np.arange(cfg.min_history_weeks - 1, n_hist - 1)
    rows = design_rows(d, origins, cfg.horizons, cfg.season_weeks)
    target_col = d.weeks.get_indexer(pd.DatetimeIndex(rows[WEEK]))
    model = fit(rows[target_col < n_hist], cfg, level)
    last = design_rows(d, np.array([n_hist - 1]), cfg.horizons, cfg.season_weeks)
    last = last.assign(**{YHAT: model.predict(last)})
    last[BASELINE] = seasonal_naive(last, cfg.season_weeks, n_hist)
    out = last[[KEY, WEEK, HORIZON, YHAT, BASELINE]].copy()
    out.insert(0, LEVEL, level)
    return out.reset_index(drop=True)
