"""Online A/B analysis: the serving's exposure log + the events that followed -> per-variant results.

``linli online-ab --exposures DIR --events PATH [--features DIR] [--window-hours 72]``

Each served list is one *exposure* (``serving.exposures``: request id, time, user, variant,
model version, items). An event of user *u* on item *i* at time *t* is attributed to the
latest exposure of *u* that showed *i* in ``[t - window, t]`` (last touch; one event never
counts twice):

- ``click`` events make the exposure *clicked*;
- ``order`` / ``jielong`` lines make it *converted*, and their ``amount`` is its revenue.

Per variant: exposures, users, click-through rate (clicked exposures / exposures),
conversion (converted exposures / exposures) and revenue per exposure (yuan), each with a
confidence interval. Users are the unit of randomisation (stable hash), so exposures of one
user are not independent: the intervals use the delta method for a ratio of per-user sums
(Deng, Knoblich & Lu 2018), the difference challenger - champion gets a z-test, and a user-level
bootstrap interval is reported beside it as a check. A sample-ratio-mismatch test compares
the users per variant with the configured challenger share.

Only exposures with a user (``rank_user`` by default, ``--endpoints`` to change) are analysed;
group lists have no single person to attribute to and are counted as skipped.

``--events`` is a feature store's ``events.parquet`` (it has ``user_id``), one SCHEMA events
file, or a data directory (its ``events`` table, validated as the feature job does); raw
identifiers are resolved to users through ``--features``'s ``identity.parquet``.

:func:`simulate_responses` draws later events for exposures from a known relevance (used by
the tests and the demo on the synthetic world, where the held-out purchases say what each
person wants). Pure functions at the core; ``main`` reads files and logs one MLflow run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments import ab_verdict
from features.cli_parser import LinliParser, existing_path, one_line
from features.progress import Steps
from features.schema import PURCHASE_EVENTS, Col, EventType
from training.settings import Settings, load_settings

log = logging.getLogger("linli.online_ab")

CHAMPION, CHALLENGER = "champion", "challenger"
METRICS: tuple[str, ...] = ("ctr", "conversion", "revenue_per_exposure")
METRIC_LABELS = {
    "ctr": "click-through rate (share of exposures)",
    "conversion": "conversion (share of exposures with an order / 接龙 of a shown item)",
    "revenue_per_exposure": "revenue per exposure (yuan)",
}
EXPOSURE = "exposure"
DEFAULT_ENDPOINTS = ("rank_user",)


@dataclass
class OnlineABResult:
    """Per-variant counts and rates, the differences, and the checks."""

    variants: (
        pd.DataFrame
    )  # variant, exposures, users, clicked, converted, revenue, <metric>, <metric>_ci_low/high
    diffs: (
        pd.DataFrame
    )  # metric, champion, challenger, diff, rel_diff, ci_low, ci_high, z, p_value, boot_ci_low/high
    per_exposure: pd.DataFrame  # exposure, user_id, variant, clicked, converted, revenue
    info: dict[str, Any] = field(default_factory=dict)

    def diff(self, metric: str) -> pd.Series:
        """The difference row of one metric."""
        rows = self.diffs[self.diffs["metric"] == metric]
        if rows.empty:
            raise KeyError(f"no difference for {metric!r}")
        return rows.iloc[0]


class NoOutcomes(ValueError):
    """Nothing to compare yet (no exposure analysed, or none with a click or an order)."""


# -- attribution (pure) ----------------------------------------------------------------------------
def _utc(ts: pd.Series) -> pd.Series:
    """Timestamps (text or datetime) as UTC."""
    return pd.Series(pd.to_datetime(ts, utc=True, format="mixed"), index=ts.index)


def exposure_lines(
    exposures: pd.DataFrame, endpoints: Sequence[str] = DEFAULT_ENDPOINTS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(exposures kept: exposure, user_id, variant, ts; one row per shown item with its rank)."""
    e = exposures.reset_index(drop=True)
    keep = e["endpoint"].isin(list(endpoints)) & e["user_id"].notna() & e["variant"].notna()
    e = e[keep].copy()
    e[EXPOSURE] = np.arange(len(e))
    e["ts"] = _utc(e["ts"])
    e[Col.USER_ID] = e["user_id"].astype(str)
    items = e[[EXPOSURE, Col.USER_ID, "ts", "items"]].explode("items").dropna(subset=["items"])
    items = items.rename(columns={"items": Col.ITEM_ID})
    items["rank"] = items.groupby(EXPOSURE).cumcount()
    items[Col.ITEM_ID] = items[Col.ITEM_ID].astype(str)
    return e[[EXPOSURE, Col.USER_ID, "variant", "ts"]].reset_index(drop=True), items.reset_index(
        drop=True
    )


def attribute(
    exposures: pd.DataFrame,
    events: pd.DataFrame,
    window_hours: float = 72.0,
    endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
) -> pd.DataFrame:
    """One row per exposure: user, variant, clicked, converted, revenue (last-touch attribution)."""
    exp, lines = exposure_lines(exposures, endpoints)
    ev = events[events[Col.USER_ID].notna() & events[Col.ITEM_ID].notna()]
    et = ev[Col.EVENT_TYPE].astype(str)
    buys = [str(e) for e in PURCHASE_EVENTS]
    ev = ev[et.isin([str(EventType.CLICK), *buys])]
    if ev.empty:  # no click or order yet: every exposure is without an outcome
        return exp.assign(clicked=False, converted=False, revenue=0.0)
    amount = ev[Col.AMOUNT] if Col.AMOUNT in ev.columns else pd.Series(0.0, index=ev.index)
    ev = pd.DataFrame(
        {
            "event": np.arange(len(ev)),
            Col.USER_ID: ev[Col.USER_ID].astype(str).to_numpy(),
            Col.ITEM_ID: ev[Col.ITEM_ID].astype(str).to_numpy(),
            "ev_ts": _utc(ev[Col.TS]).to_numpy(),
            "buy": ev[Col.EVENT_TYPE].astype(str).isin(buys).to_numpy(),
            Col.AMOUNT: pd.to_numeric(amount, errors="coerce").fillna(0.0).to_numpy(),
        }
    )
    pairs = ev.merge(
        lines[[EXPOSURE, Col.USER_ID, Col.ITEM_ID, "ts"]], on=[Col.USER_ID, Col.ITEM_ID]
    )
    lag = pairs["ev_ts"] - pairs["ts"]
    pairs = pairs[(lag >= pd.Timedelta(0)) & (lag <= pd.Timedelta(hours=window_hours))]
    pairs = pairs.sort_values(["event", "ts"]).drop_duplicates("event", keep="last")  # last touch
    pairs = pairs.assign(click=~pairs["buy"], rev=np.where(pairs["buy"], pairs[Col.AMOUNT], 0.0))
    per = pairs.groupby(EXPOSURE).agg(
        clicked=("click", "any"), converted=("buy", "any"), revenue=("rev", "sum")
    )
    out = exp.join(per, on=EXPOSURE)
    out["clicked"] = out["clicked"].fillna(False).astype(bool)
    out["converted"] = out["converted"].fillna(False).astype(bool)
    out["revenue"] = out["revenue"].fillna(0.0).astype(float)
    return out


# -- statistics (pure) -----------------------------------------------------------------------------
def per_user(per_exposure: pd.DataFrame) -> pd.DataFrame:
    """Per (variant, user): exposures and the sums of clicked, converted and revenue."""
    return (
        per_exposure.assign(n=1)
        .groupby(["variant", Col.USER_ID], sort=True)
        .agg(
            n=("n", "sum"),
            clicked=("clicked", "sum"),
            converted=("converted", "sum"),
            revenue=("revenue", "sum"),
        )
        .reset_index()
    )


def ratio_delta(y: np.ndarray, n: np.ndarray) -> tuple[float, float]:
    """Ratio of sums sum(y) / sum(n) over units and its delta-method variance."""
    y, n = np.asarray(y, np.float64), np.asarray(n, np.float64)
    u = len(y)
    if u == 0 or n.sum() == 0:
        return float("nan"), float("nan")
    r = y.sum() / n.sum()
    if u < 2:
        return float(r), float("nan")
    cov = np.cov(y, n, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (u * n.mean() ** 2)
    return float(r), float(max(var, 0.0))


_COLUMN = {"ctr": "clicked", "conversion": "converted", "revenue_per_exposure": "revenue"}


def _boot_ratio(y: np.ndarray, n: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """User-level bootstrap replicates of sum(y) / sum(n)."""
    w = rng.multinomial(len(y), np.full(len(y), 1.0 / len(y)), size=n_boot).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ y) / (w @ n)


def analyse(
    per_exposure: pd.DataFrame,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    challenger_share: float | None = None,
    champion: str = CHAMPION,
    challenger: str = CHALLENGER,
) -> OnlineABResult:
    """Per-variant rates with delta-method CIs, the differences with a z-test and bootstrap CIs."""
    from scipy import stats

    z = float(stats.norm.ppf(1 - alpha / 2))
    users = per_user(per_exposure)
    rng = np.random.default_rng(seed)
    rows, est, boots = [], {}, {}
    for variant, g in users.groupby("variant", sort=True):
        row: dict[str, Any] = {
            "variant": variant,
            "exposures": int(g["n"].sum()),
            "users": int(len(g)),
            "clicked": int(g["clicked"].sum()),
            "converted": int(g["converted"].sum()),
            "revenue": float(g["revenue"].sum()),
        }
        n = g["n"].to_numpy(np.float64)
        for metric in METRICS:
            y = g[_COLUMN[metric]].to_numpy(np.float64)
            r, var = ratio_delta(y, n)
            se = float(np.sqrt(var)) if np.isfinite(var) else float("nan")
            row |= {metric: r, f"{metric}_ci_low": r - z * se, f"{metric}_ci_high": r + z * se}
            est[(variant, metric)] = (r, var)
            boots[(variant, metric)] = (
                _boot_ratio(y, n, n_boot, rng) if len(g) > 1 else np.full(n_boot, r)
            )
        rows.append(row)
    variants = pd.DataFrame(rows)
    diffs = []
    for metric in METRICS:
        if (champion, metric) not in est or (challenger, metric) not in est:
            continue
        (ra, va), (rb, vb) = est[(champion, metric)], est[(challenger, metric)]
        d = rb - ra
        se = float(np.sqrt(va + vb))
        zstat = d / se if se > 0 else float("nan")
        p = float(2 * stats.norm.sf(abs(zstat))) if np.isfinite(zstat) else float("nan")
        bd = boots[(challenger, metric)] - boots[(champion, metric)]
        bd = bd[np.isfinite(bd)]
        blo, bhi = np.quantile(bd, [alpha / 2, 1 - alpha / 2]) if len(bd) else (np.nan, np.nan)
        diffs.append(
            {
                "metric": metric,
                CHAMPION: ra,
                CHALLENGER: rb,
                "diff": d,
                "rel_diff": d / ra if ra else float("nan"),
                "ci_low": d - z * se,
                "ci_high": d + z * se,
                "z": zstat,
                "p_value": p,
                "boot_ci_low": float(blo),
                "boot_ci_high": float(bhi),
            }
        )
    info: dict[str, Any] = {"alpha": alpha, "n_boot": n_boot, "seed": seed}
    both = users.groupby(Col.USER_ID)["variant"].nunique()
    info["users_in_both_variants"] = int((both > 1).sum())
    if challenger_share is not None and len(variants) == 2 and 0 < challenger_share < 1:
        counts = variants.set_index("variant")["users"]
        total = int(counts.sum())
        expected = [total * (1 - challenger_share), total * challenger_share]
        observed = [int(counts.get(champion, 0)), int(counts.get(challenger, 0))]
        info["srm_p_value"] = float(stats.chisquare(observed, expected).pvalue)
        info["challenger_share_expected"] = challenger_share
        info["challenger_share_observed"] = observed[1] / total if total else float("nan")
    return OnlineABResult(variants, pd.DataFrame(diffs), per_exposure, info)


# -- synthetic responses (for tests and demos) -------------------------------------------------------
def simulate_responses(
    exposures: pd.DataFrame,
    relevant: pd.DataFrame,
    prices: pd.Series,
    seed: int = 0,
    p_click_relevant: float = 0.5,
    p_click_other: float = 0.03,
    p_buy_relevant: float = 0.6,
    p_buy_other: float = 0.15,
    mean_delay_hours: float = 6.0,
    endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
) -> pd.DataFrame:
    """Clicks and orders that follow exposures, in the SCHEMA events format (plus ``user_id``).

    A shown item at rank r (0-based) is examined with probability 1 / log2(r + 2) and clicked
    with ``p_click_relevant`` when (user, item) is in ``relevant`` (else ``p_click_other``); a
    click becomes an order with ``p_buy_*``. Delays are exponential; amounts are ``prices``.
    """
    rng = np.random.default_rng(seed)
    _, lines = exposure_lines(exposures, endpoints)
    rel = pd.MultiIndex.from_frame(relevant[[Col.USER_ID, Col.ITEM_ID]].astype(str))
    is_rel = pd.MultiIndex.from_frame(lines[[Col.USER_ID, Col.ITEM_ID]]).isin(rel)
    examine = 1.0 / np.log2(lines["rank"].to_numpy(np.float64) + 2.0)
    p_click = examine * np.where(is_rel, p_click_relevant, p_click_other)
    clicked = rng.random(len(lines)) < p_click
    buy = clicked & (rng.random(len(lines)) < np.where(is_rel, p_buy_relevant, p_buy_other))
    delay = pd.to_timedelta(rng.exponential(mean_delay_hours * 3600.0, len(lines)), unit="s")
    c = lines[clicked].assign(_delay=delay[clicked])
    b = lines[buy].assign(_delay=delay[buy] + pd.Timedelta(minutes=5))
    price = prices.astype(float)
    price.index = price.index.astype(str)

    def frame(x: pd.DataFrame, kind: str) -> pd.DataFrame:
        uid = x[Col.USER_ID].astype(str)
        parts = uid.str.split(":", n=1)
        amount = x[Col.ITEM_ID].map(price).fillna(0.0).to_numpy() if kind != "click" else np.nan
        return pd.DataFrame(
            {
                Col.TS: (x["ts"] + x["_delay"]).to_numpy(),
                Col.EVENT_TYPE: kind,
                Col.ID_TYPE: parts.str[0].to_numpy(),
                Col.ID_VALUE: parts.str[1].to_numpy(),
                Col.ITEM_ID: x[Col.ITEM_ID].to_numpy(),
                Col.QUANTITY: 1.0 if kind != "click" else np.nan,
                Col.AMOUNT: amount,
                Col.CHANNEL: "miniapp",
                Col.USER_ID: uid.to_numpy(),
            }
        )

    out = pd.concat(
        [frame(c, str(EventType.CLICK)), frame(b, str(EventType.ORDER))], ignore_index=True
    )
    out = out.sort_values(Col.TS, kind="stable").reset_index(drop=True)
    out.insert(0, Col.EVENT_ID, [f"sim-{seed}-{i:07d}" for i in range(len(out))])
    out[Col.ORDER_ID] = ("sim-o-" + out[Col.EVENT_ID]).where(
        out[Col.EVENT_TYPE] == str(EventType.ORDER)
    )
    return out


# -- reading (I/O) -------------------------------------------------------------------------------------
def load_events(path: Path | str, features: Path | str | None = None) -> pd.DataFrame:
    """Events with ``user_id``: a feature store's events, one events file or a data directory."""
    path = Path(path)
    if (
        path.is_dir()
        and (path / "events.parquet").exists()
        and (path / "identity.parquet").exists()
    ):
        path = path / "events.parquet"  # a feature store
    if path.is_dir():
        from features.load import load_data_dir

        events = load_data_dir(path, tables=["events"]).clean("events")
        if events is None:
            raise FileNotFoundError(f"no events table in {path}")
    elif path.suffix == ".parquet":
        events = pd.read_parquet(path)
    elif path.suffix == ".jsonl":
        events = pd.read_json(path, lines=True)
    else:
        events = pd.read_csv(path)
    if Col.USER_ID in events.columns and events[Col.USER_ID].notna().all():
        return events
    from features.identity import Identity, id_keys

    known = pd.Series(pd.NA, index=events.index, dtype="string")
    if Col.USER_ID in events.columns:
        known = events[Col.USER_ID].astype("string")
    if features is not None and (Path(features) / "identity.parquet").exists():
        ident = Identity(pd.read_parquet(Path(features) / "identity.parquet"), pd.DataFrame())
        known = known.fillna(ident.lookup(events[Col.ID_TYPE], events[Col.ID_VALUE]))
    known = known.fillna(id_keys(events[Col.ID_TYPE], events[Col.ID_VALUE]))
    return events.assign(**{Col.USER_ID: known})


def run_analysis(
    exposures_dir: Path | str,
    events: pd.DataFrame,
    window_hours: float = 72.0,
    endpoints: Sequence[str] = DEFAULT_ENDPOINTS,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    challenger_share: float | None = None,
) -> OnlineABResult:
    """Read the exposure log, attribute the events and analyse."""
    from serving.exposures import read_exposures

    exposures = read_exposures(exposures_dir)
    if not len(exposures):
        raise ValueError(f"no exposures under {exposures_dir}")
    per_exp = attribute(exposures, events, window_hours, endpoints)
    if not len(per_exp):
        raise NoOutcomes(
            f"none of the {len(exposures)} exposures is of the endpoints {', '.join(endpoints)}"
        )
    if not (per_exp["clicked"].any() or per_exp["converted"].any()):
        raise NoOutcomes(
            f"no outcomes yet: none of the {len(per_exp)} exposures was followed by a click or "
            f"an order within {window_hours:g} hours; run again when events have arrived"
        )
    result = analyse(per_exp, alpha, n_boot, seed, challenger_share)
    versions = (
        exposures.dropna(subset=["variant"])
        .groupby("variant")["model_version"]
        .agg(lambda v: ",".join(sorted({str(x) for x in v if x is not None})))
    )
    result.info |= {
        "exposures_read": int(len(exposures)),
        "exposures_analysed": int(len(per_exp)),
        "exposures_skipped": int(len(exposures) - len(per_exp)),
        "window_hours": window_hours,
        "endpoints": ",".join(endpoints),
        "versions": versions.to_dict(),
        "first_exposure": str(per_exp["ts"].min()) if len(per_exp) else "",
        "last_exposure": str(per_exp["ts"].max()) if len(per_exp) else "",
    }
    return result


def plot_variants(result: OnlineABResult, path: Path | str) -> Path:
    """Bar charts of each metric per variant with its confidence interval."""
    from experiments.plots import PALETTE, pyplot, save

    plt = pyplot()
    v = result.variants
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.6))
    for ax, metric in zip(np.atleast_1d(axes), METRICS, strict=True):
        x = np.arange(len(v))
        val = v[metric].to_numpy()
        err = np.vstack(
            [val - v[f"{metric}_ci_low"].to_numpy(), v[f"{metric}_ci_high"].to_numpy() - val]
        )
        ax.bar(x, val, yerr=np.nan_to_num(err), color=PALETTE[: len(v)], capsize=4)
        ax.set_xticks(
            x, [f"{a}\n({n:,} exp.)" for a, n in zip(v["variant"], v["exposures"], strict=True)]
        )
        unit = "yuan" if metric == "revenue_per_exposure" else "share of exposures"
        ax.set_ylabel(f"{metric.replace('_', ' ')} ({unit})")
        ax.set_xlabel("variant served")
        d = result.diff(metric) if metric in set(result.diffs["metric"]) else None
        sub = (
            f"\nΔ {d['diff']:+.3g} [{d['ci_low']:+.3g}, {d['ci_high']:+.3g}], p={d['p_value']:.3g}"
            if d is not None
            else ""
        )
        ax.set_title(f"{metric.replace('_', ' ')}{sub}", fontsize=10)
    fig.suptitle("Online A/B per variant (95% CI, delta method over users)", fontweight="bold")
    return save(fig, path)


def write_outputs(result: OnlineABResult, out: Path) -> list[Path]:
    """``variants.csv``, ``diffs.csv``, ``per_exposure.parquet``, ``summary.json`` and a plot."""
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "online_variants.csv", out / "online_diffs.csv", out / "online_summary.json"]
    result.variants.to_csv(files[0], index=False)
    result.diffs.to_csv(files[1], index=False)
    doc = {
        "info": result.info,
        "variants": result.variants.to_dict("records"),
        "diffs": result.diffs.to_dict("records"),
    }
    files[2].write_text(
        json.dumps(doc, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    pe = out / "per_exposure.parquet"
    result.per_exposure.to_parquet(pe, index=False)
    files += [pe, plot_variants(result, out / "online_ab.png")]
    return files


LEAD_METRIC = "conversion"  # what the verdict is read on


def verdict(result: OnlineABResult) -> dict[str, Any]:
    """Which variant wins on conversion (challenger − champion, delta-method CI)."""
    d = result.diff(LEAD_METRIC)
    return ab_verdict.verdict(
        LEAD_METRIC, float(d["diff"]), float(d["ci_low"]), float(d["ci_high"]), float(d[CHAMPION])
    )


def log_result(
    result: OnlineABResult, out: Path, settings: Settings | None = None, run_name: str = "online-ab"
) -> str:
    """One MLflow run: per-variant rates and CIs, differences, p-values, tables and the plot."""
    from training import tracking

    files = write_outputs(result, out)
    with tracking.run(run_name, settings, tags={tracking.TAG_RUN_TYPE: "online-ab"}) as run_id:
        tracking.log_params(
            {
                k: v
                for k, v in result.info.items()
                if not isinstance(v, float) or k == "window_hours"
            }
        )
        m: dict[str, float] = {}
        for r in result.variants.to_dict("records"):
            for key, val in r.items():
                if key != "variant":
                    m[f"{r['variant']}.{key}"] = val
        for r in result.diffs.to_dict("records"):
            for key in (
                "diff",
                "rel_diff",
                "ci_low",
                "ci_high",
                "p_value",
                "boot_ci_low",
                "boot_ci_high",
            ):
                m[f"diff.{r['metric']}.{key}" if key != "diff" else f"diff.{r['metric']}"] = r[key]
        if "srm_p_value" in result.info:
            m["srm_p_value"] = result.info["srm_p_value"]
        verdict_tags, verdict_metrics = ab_verdict.verdict_record(verdict(result))
        tracking.log_metrics({**m, **verdict_metrics})
        tracking.set_tags({**verdict_tags, "linli.ab.decision_metric": LEAD_METRIC})
        for f in files:
            tracking.log_artifact(f, "online_ab")
    return run_id


def format_result(result: OnlineABResult) -> str:
    """Per-variant rates and the differences as text."""
    lines = [
        f"{'variant':<11} {'exposures':>9} {'users':>6} {'CTR':>22} {'conversion':>22} {'revenue/exposure (yuan)':>28}"
    ]
    for r in result.variants.to_dict("records"):
        cells = [
            f"{r[m]:.4f} [{r[m + '_ci_low']:.4f}, {r[m + '_ci_high']:.4f}]"
            if m != "revenue_per_exposure"
            else f"{r[m]:.2f} [{r[m + '_ci_low']:.2f}, {r[m + '_ci_high']:.2f}]"
            for m in METRICS
        ]
        lines.append(
            f"{r['variant']:<11} {r['exposures']:>9,} {r['users']:>6,} {cells[0]:>22} {cells[1]:>22} {cells[2]:>28}"
        )
    lines.append("")
    for r in result.diffs.to_dict("records"):
        lines.append(
            f"challenger - champion {r['metric']:<21} {r['diff']:+.4f} ({r['rel_diff']:+.1%}) "
            f"95% CI [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] (bootstrap [{r['boot_ci_low']:+.4f}, "
            f"{r['boot_ci_high']:+.4f}]) p = {r['p_value']:.2g}"
        )
    if "srm_p_value" in result.info:
        lines.append(
            f"sample-ratio check: p = {result.info['srm_p_value']:.3f} (observed challenger share {result.info['challenger_share_observed']:.3f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli online-ab --exposures DIR --events PATH [--features DIR]``."""
    p = LinliParser(prog="linli online-ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--exposures", type=Path, default=None, help="exposure folder (WORK/exposures)")
    p.add_argument(
        "--events",
        type=existing_path,
        required=True,
        help="events: feature store, file or data dir",
    )
    p.add_argument(
        "--features", type=Path, default=None, help="feature store to resolve identifiers"
    )
    p.add_argument(
        "--window-hours",
        type=float,
        default=72.0,
        help="an order counts for an exposure within this many hours",
    )
    p.add_argument(
        "--endpoints",
        default=",".join(DEFAULT_ENDPOINTS),
        help="comma-separated endpoints whose exposures are analysed, e.g. rank_user,rank_group",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="1 - confidence of the intervals")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples for the CIs")
    p.add_argument(
        "--challenger-share", type=float, default=None, help="for the SRM check (settings)"
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (WORK/online_ab/<time>)")
    p.add_argument("--no-mlflow", action="store_true", help="write the files only, no MLflow run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    exposures = args.exposures or settings.serving.exposure_dir or settings.work_dir / "exposures"
    share = args.challenger_share
    if share is None and settings.serving.experiment.enabled:
        share = settings.serving.experiment.challenger_share
    out = args.out or settings.work_dir / "online_ab" / time.strftime("%Y%m%d-%H%M%S")
    notes = Steps("linli online-ab", 0)
    try:
        notes.note(f"reading the events in {args.events}")
        events = load_events(args.events, args.features)
        notes.note(f"reading the exposures in {exposures}, attributing outcomes, bootstrap")
        result = run_analysis(
            exposures,
            events,
            args.window_hours,
            [e for e in args.endpoints.split(",") if e],
            args.alpha,
            args.n_boot,
            settings.seed,
            share,
        )
    except NoOutcomes as exc:
        print(f"linli online-ab: {exc}")
        return 0
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"linli online-ab: error: {one_line(exc)}", file=sys.stderr)
        return 2
    print(format_result(result))
    if args.no_mlflow:
        print(f"-> {write_outputs(result, out)[0].parent}")
    else:
        notes.note("logging the analysis to MLflow")
        print(f"-> {out}; MLflow run {log_result(result, out, settings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
