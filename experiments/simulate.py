"""Campaign simulation: a planned live's view rate, 接龙 conversion, orders and GMV, against broadcasting.

``linli simulate --features DIR [--plan PLAN.json] [--truth WORLD/truth] [--out DIR]``

A *plan* (JSON; the built-in default is the seed article's case) names the theme the audience
is built for, the bundle to sell, the host, the audience size and the group to broadcast
to instead::

    {"name": "夏日轻食", "theme": {"items": ["鸡胸肉", "牛油果", "salad_greens"], "keywords": ["减脂餐"]},
     "bundle": ["车厘子", "西瓜", "鸡胸", "牛油果"], "host": "nutritionist", "audience_n": 120,
     "broadcast_group": "largest", "truth_theme": "light_meal"}

Two scenarios are predicted: **targeted** (the top ``audience_n`` users of the theme audience,
:func:`training.audience.score_audience`) and **broadcast** (every current member of the
group; ``largest`` = the largest general group).

The **response model** (:mod:`training.response`, features from
:mod:`features.live_response`) is learned from the feature store's own past lives: every member present
at a live's start is an example (watched it? joined its 接龙?). Features, computed from the
history before a cut only: the person's smoothed past view rate and 接龙-per-view rate, their
time-decayed purchase share of the live's items, subcategories and categories, days since
their last event and recent orders, and the host's smoothed past view rate and the similarity
of the live's goods to what the host usually sells. Two classifiers (scikit-learn) give P(watch)
and P(接龙 | watched): gradient-boosted trees, or a logistic regression on log-odds of the rates
and logs of the shares (it extrapolates to audiences more extreme than any past live, which
trees cannot); the family with the lower log-loss on the last 30% of the training lives is
used. P(接龙 | not watched) is the observed rate.
Orders = sum of P(接龙); GMV = sum of P(接龙) x the person's smoothed mean 接龙 basket (yuan).
The lives after the cut are a **backtest**: predicted against observed view and 接龙 rates per
live (mean absolute error, correlation).

On the synthetic world (``--truth``), the hidden response model of ``features.synth``
(``truth/personas.json``: persona-theme fit, host fit, personal propensities, activity) gives
each scenario's *actual* expected rates, printed beside the predictions, plus one seeded
draw of who watches and joins, the way the seed reports "105 of 120 watched, 82 joined".
Pure functions at the core; ``main`` reads files, writes ``simulation.json`` / ``.md`` / a
plot and logs one MLflow run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import store_layout as store
from features.cli_parser import LinliParser, existing_dir, existing_file, one_line
from features.errors import LinliInputError
from features.live_response import (
    FEATURES,
    History,
    history_at,
    host_similarity,
    invitations,
    item_classes,
    live_features,
)
from features.progress import Steps
from features.schema import LIST_SEP, Col
from training.response import ResponseModel, backtest, fit_response, training_frame
from training.settings import Settings, load_settings

log = logging.getLogger("linli.simulate")

SEED_PLAN: dict[str, Any] = {
    "name": "夏日轻食 summer light meal (the seed case)",
    "theme": {
        "name": "夏日轻食 · light meals / fat loss",
        "items": ["鸡胸肉", "牛油果", "salad_greens"],
        "keywords": ["减脂餐"],
    },
    "bundle": ["车厘子", "西瓜", "鸡胸", "牛油果"],
    "host": "nutritionist",
    "audience_n": 120,
    "broadcast_group": "largest",
    "truth_theme": "light_meal",
}


# -- plans ------------------------------------------------------------------------------------------------
def resolve_items(entries: list[str], items: pd.DataFrame, baskets: pd.DataFrame) -> list[str]:
    """Each entry (item id, name fragment or subcategory) -> its best-selling catalogue item."""
    sales = baskets[Col.ITEM_ID].astype(str).value_counts()
    out = []
    for e in entries:
        ids = items[Col.ITEM_ID].astype(str)
        hit = items[
            (ids == e)
            | items[Col.NAME].astype(str).str.contains(e, regex=False)
            | (items.get(Col.SUBCATEGORY, pd.Series("", index=items.index)).astype(str) == e)
        ]
        if hit.empty:
            raise LinliInputError(
                f"plan bundle entry {e!r} matches no catalogue item",
                file=store.ITEMS,
                column=Col.ITEM_ID,
                hint="pass --plan FILE whose bundle names items of your catalogue",
            )
        ranked = sales.reindex(hit[Col.ITEM_ID].astype(str)).fillna(0).sort_values(ascending=False)
        out.append(str(ranked.index[0]))
    return list(dict.fromkeys(out))


def resolve_host(spec: str | None, hosts: pd.DataFrame, h: History, subs: list[str]) -> str | None:
    """A host id, or among the hosts with that tag the one whose past goods are most like ``subs``."""
    if not spec:
        return None
    if spec in set(hosts[Col.HOST_ID].astype(str)):
        return spec
    tagged = hosts[hosts[Col.TAGS].astype(str).str.split(LIST_SEP).map(lambda t: spec in t)]
    if tagged.empty:
        raise LinliInputError(
            f"plan host {spec!r} is no host id or tag",
            file=store.HOSTS,
            column=Col.HOST_ID,
            hint="pass --plan FILE naming one of your hosts (or no host)",
        )
    ids = pd.Index(tagged[Col.HOST_ID].astype(str))
    sim = pd.Series([host_similarity(h, i, subs) for i in ids], index=ids).round(3)
    rate = h.hosts["host_view_rate"].reindex(ids).fillna(h.base_view)
    best = pd.DataFrame({"sim": sim, "rate": rate}).sort_values(["sim", "rate"], ascending=False)
    return str(best.index[0])


def group_members_at(members: pd.DataFrame, group_id: str, t: pd.Timestamp) -> pd.Index:
    """The group's members at ``t``."""
    m = members[(members[Col.GROUP_ID].astype(str) == group_id) & members[Col.USER_ID].notna()]
    ok = (m[Col.JOINED_AT].isna() | (m[Col.JOINED_AT] <= t)) & (
        m[Col.LEFT_AT].isna() | (m[Col.LEFT_AT] > t)
    )
    return pd.Index(m.loc[ok, Col.USER_ID].astype(str).unique())


def largest_general_group(groups: pd.DataFrame, members: pd.DataFrame, t: pd.Timestamp) -> str:
    """The general group with the most current members."""
    general = groups[groups[Col.KIND].astype(str) == "general"] if Col.KIND in groups else groups
    sizes = {str(g): len(group_members_at(members, str(g), t)) for g in general[Col.GROUP_ID]}
    return max(sizes, key=lambda g: sizes[g])


def scenario(
    model: ResponseModel,
    h: History,
    users: pd.Index,
    item_ids: list[str],
    host: str | None,
    items: pd.DataFrame,
) -> tuple[dict[str, float], pd.DataFrame]:
    """Predicted view rate, 接龙 rates, orders, GMV and average order of one audience."""
    x = live_features(h, users, item_ids, host, items)
    p = model.predict(x)
    basket = h.people["basket"].reindex(users).fillna(h.base_basket).to_numpy()
    orders = float(p["p_jielong"].sum())
    gmv = float((p["p_jielong"].to_numpy() * basket).sum())
    out = {
        "invited": float(len(users)),
        "view_rate": float(p["p_view"].mean()),
        "jielong_per_viewer": float(
            (p["p_view"] * p["p_jielong_if_view"]).sum() / max(p["p_view"].sum(), 1e-9)
        ),
        "jielong_rate": float(p["p_jielong"].mean()),
        "viewers": float(p["p_view"].sum()),
        "orders": orders,
        "gmv": gmv,
        "avg_order": gmv / orders if orders else float("nan"),
    }
    return out, p


# -- the synthetic world's truth ----------------------------------------------------------------------------
def truth_rates(
    people: pd.DataFrame,
    personas: dict[str, Any],
    theme: str,
    host_tags: list[str],
    day: pd.Timestamp,
) -> pd.DataFrame:
    """Expected p_view, p_jielong_if_view, p_jielong of each person under the hidden response model.

    Mirrors ``features.synth`` (``truth/personas.json`` ``response_model``): fit = primary persona
    fit + secondary weight x (secondary fit - primary fit); host fit = host tags meet the theme's.
    """
    fm = personas["fit_matrix"]
    fit_of = pd.DataFrame(fm["values"], index=fm["rows"], columns=fm["cols"])[theme]
    th = next(t for t in personas["themes"] if t["key"] == theme)
    hf = bool(set(host_tags) & set(th["host_tags"]))
    f1 = people["persona"].map(fit_of).to_numpy(float)
    sec = people["secondary_persona"].where(people["secondary_persona"].notna(), people["persona"])
    f2 = sec.map(fit_of).to_numpy(float)
    w = people["secondary_weight"].fillna(0.0).to_numpy(float)
    fit = f1 + w * (f2 - f1)
    d = day.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    active = (pd.to_datetime(people["active_from"]) <= d) & (
        pd.to_datetime(people["active_to"]) >= d
    )
    act = np.where(active.to_numpy(), 1.0, 0.15)
    lvp, jlp = (
        people["live_view_propensity"].to_numpy(float),
        people["jielong_propensity"].to_numpy(float),
    )
    p_view = np.clip(lvp * (0.12 + 0.88 * fit) * (1.0 if hf else 0.8) * act, 0, 0.98)
    p_jv = np.clip(jlp * (0.05 + 0.95 * fit) * (1.0 if hf else 0.7), 0, 0.97)
    p_join = p_view * p_jv + (1 - p_view) * 0.05 * p_jv * act
    return pd.DataFrame(
        {"fit": fit, "p_view": p_view, "p_jielong_if_view": p_jv, "p_jielong": p_join},
        index=people.index,
    )


def truth_scenario(
    users: pd.Index,
    user_truth: pd.DataFrame,
    people: pd.DataFrame,
    personas: dict[str, Any],
    theme: str,
    host_tags: list[str],
    day: pd.Timestamp,
    seed: int,
) -> dict[str, float]:
    """The hidden model's expected rates for ``users`` and one seeded draw of viewers and joiners."""
    ut = user_truth.set_index(Col.USER_ID).reindex(users)
    known = ut["person_id"].notna().to_numpy()
    ppl = people.set_index("person_id").reindex(ut.loc[known, "person_id"].to_numpy()).reset_index()
    r = truth_rates(ppl, personas, theme, host_tags, day)
    rng = np.random.default_rng(seed)
    viewed = rng.random(len(r)) < r["p_view"].to_numpy()
    u = rng.random(len(r))
    joined = np.where(
        viewed, u < r["p_jielong_if_view"].to_numpy(), u < 0.05 * r["p_jielong_if_view"].to_numpy()
    )
    return {
        "people_known": float(known.sum()),
        "mean_fit": float(r["fit"].mean()),
        "view_rate": float(r["p_view"].mean()),
        "jielong_per_viewer": float(
            (r["p_view"] * r["p_jielong_if_view"]).sum() / max(r["p_view"].sum(), 1e-9)
        ),
        "jielong_rate": float(r["p_jielong"].mean()),
        "orders": float(r["p_jielong"].sum()),
        "draw_viewers": float(viewed.sum()),
        "draw_joiners": float(joined.sum()),
    }


# -- the run ------------------------------------------------------------------------------------------------
def simulate(
    features: Path | str,
    plan: dict[str, Any],
    truth: Path | str | None = None,
    settings: Settings | None = None,
    backtest_days: float = 21.0,
    train_days: float = 45.0,
    steps: Steps | None = None,
) -> dict[str, Any]:
    """Fit the response model, backtest it and predict the plan's two scenarios (truth when given).

    ``steps`` shows what runs (notes: read, fit, backtest, scenarios)."""
    from training.audience import score_audience, theme_from_json

    steps = steps or Steps("simulate", 0, enabled=False)
    steps.note("reading the feature store and past live invitations")
    settings = settings or load_settings()
    features = Path(features)
    t0 = time.perf_counter()
    rd = lambda n, cols=None: pd.read_parquet(features / n, columns=cols)  # noqa: E731
    events = rd(
        store.EVENTS, [Col.TS, Col.EVENT_TYPE, Col.USER_ID, Col.ITEM_ID, Col.LIVE_ID, Col.TEXT]
    )
    baskets, items = rd(store.BASKETS), rd(store.ITEMS)
    lives, members = rd(store.LIVE_SESSIONS), rd(store.GROUP_MEMBERS)
    groups, hosts = rd(store.GROUPS), rd(store.HOSTS)
    end = events[Col.TS].max()
    inv = invitations(lives, members, events)
    t_test = end - pd.Timedelta(days=backtest_days)
    t_train = t_test - pd.Timedelta(days=train_days)
    h_train = history_at(t_train, inv, events, baskets, items, lives)
    train = training_frame(
        h_train, inv[(inv[Col.START_TS] >= t_train) & (inv[Col.START_TS] < t_test)], lives, items
    )
    if train["viewed"].nunique() < 2 or train["joined"].nunique() < 2:
        raise LinliInputError(
            f"too few past lives between {t_train:%Y-%m-%d} and {t_test:%Y-%m-%d} to learn from",
            file=features / store.LIVE_SESSIONS,
            hint="the simulation needs lives with and without views and 接龙 joins; add live_sessions",
        )
    steps.note(f"fitting the response model on {len(train):,} past invitations")
    model = fit_response(train, settings.seed)
    steps.note(f"backtesting on the lives after {t_test:%Y-%m-%d}")
    h_test = history_at(t_test, inv, events, baskets, items, lives)
    test = training_frame(h_test, inv[inv[Col.START_TS] >= t_test], lives, items)
    per_live, bt = backtest(model, test) if len(test) else (pd.DataFrame(), {})
    # the plan, at the end of the data
    steps.note("scoring the audience and predicting the targeted and broadcast scenarios")
    h = history_at(end + pd.Timedelta(seconds=1), inv, events, baskets, items, lives)
    bundle = resolve_items(list(plan["bundle"]), items, baskets)
    host = resolve_host(plan.get("host"), hosts, h, item_classes(bundle, items)[0])
    theme = theme_from_json(plan["theme"])
    constraints = rd(store.CONSTRAINTS) if (features / store.CONSTRAINTS).exists() else None
    aud = score_audience(theme, items, baskets, events, constraints, cfg=None)
    n = int(plan.get("audience_n", 120))
    target = pd.Index(aud.audience[Col.USER_ID].astype(str).head(n))
    gid = plan.get("broadcast_group", "largest")
    gid = largest_general_group(groups, members, end) if gid == "largest" else str(gid)
    broadcast = group_members_at(members, gid, end)
    result: dict[str, Any] = {
        "plan": {**plan, "bundle_items": bundle, "host_id": host, "broadcast_group_id": gid},
        "model": {
            **model.info,
            "train_from": str(t_train),
            "train_to": str(t_test),
            "features": list(FEATURES),
        },
        "backtest": bt,
        "scenarios": {},
    }
    host_tags = (
        hosts.set_index(Col.HOST_ID)[Col.TAGS].astype(str).get(host, "").split(LIST_SEP)
        if host
        else []
    )
    preds = {}
    for name, users in (("targeted", target), ("broadcast", broadcast)):
        pred, p = scenario(model, h, users, bundle, host, items)
        preds[name] = p
        result["scenarios"][name] = {"predicted": pred}
    normal = baskets[baskets[Col.LIVE_ID].isna()].groupby(Col.ORDER_ID)[Col.AMOUNT].sum().mean()
    result["normal_order"] = float(normal)
    if truth is not None:
        from experiments.synth_truth import load_user_truth

        truth = Path(truth)
        personas = json.loads((truth / "personas.json").read_text(encoding="utf-8"))
        people = pd.read_parquet(truth / "people.parquet")
        ut = load_user_truth(features, truth)
        for i, (name, users) in enumerate((("targeted", target), ("broadcast", broadcast))):
            result["scenarios"][name]["truth"] = truth_scenario(
                users,
                ut,
                people,
                personas,
                plan.get("truth_theme", "light_meal"),
                host_tags,
                end,
                settings.seed + i,
            )
    s = result["scenarios"]
    result["lift"] = {
        "predicted": s["targeted"]["predicted"]["jielong_rate"]
        / max(s["broadcast"]["predicted"]["jielong_rate"], 1e-9),
        **(
            {
                "truth": s["targeted"]["truth"]["jielong_rate"]
                / max(s["broadcast"]["truth"]["jielong_rate"], 1e-9)
            }
            if truth is not None
            else {}
        ),
    }
    result["per_live"] = per_live
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def to_markdown(r: dict[str, Any]) -> str:
    """The comparison as a markdown table."""
    plan = r["plan"]
    lines = [
        f"# Campaign simulation: {plan['name']}",
        "",
        f"- bundle: {', '.join(plan['bundle_items'])}; host {plan['host_id']}; targeted = top {plan.get('audience_n', 120)} of the theme audience; broadcast = all members of {plan['broadcast_group_id']}",
        f"- response model ({r['model']['family']}): {r['model']['examples']:,} member-live examples from {r['model']['lives']} lives ({r['model']['train_from'][:10]} .. {r['model']['train_to'][:10]})",
    ]
    bt = r.get("backtest") or {}
    if bt:
        lines.append(
            f"- backtest on the {int(bt['lives'])} later lives: view rate MAE {bt['view_rate_mae']:.3f} (corr {bt['view_rate_corr']:.2f}; observed {bt['view_rate_observed']:.3f} vs predicted {bt['view_rate_predicted']:.3f}), 接龙 rate MAE {bt['jielong_rate_mae']:.3f} (corr {bt['jielong_rate_corr']:.2f}; observed {bt['jielong_rate_observed']:.3f} vs predicted {bt['jielong_rate_predicted']:.3f})"
        )
    lines += [
        "",
        "| scenario | invited | view rate pred / truth | 接龙 rate pred / truth | 接龙 per viewer pred / truth | orders pred / truth | GMV pred (yuan) | avg order pred (yuan) | one draw (watched / joined) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in r["scenarios"].items():
        p, t = s["predicted"], s.get("truth")

        def pair(k: str, fmt: str = "{:.1%}", p: dict = p, t: dict | None = t) -> str:
            return fmt.format(p[k]) + (" / " + fmt.format(t[k]) if t else "")

        draw = f"{int(t['draw_viewers'])} / {int(t['draw_joiners'])}" if t else "–"
        lines.append(
            f"| {name} | {int(p['invited'])} | {pair('view_rate')} | {pair('jielong_rate')} | {pair('jielong_per_viewer')} | {pair('orders', '{:.1f}')} | {p['gmv']:,.0f} | {p['avg_order']:.0f} | {draw} |"
        )
    lift = r["lift"]
    lines.append("")
    lines.append(
        f"Targeted vs broadcast, 接龙 conversion per invited person: x{lift['predicted']:.1f} predicted"
        + (f", x{lift['truth']:.1f} by the hidden truth." if "truth" in lift else ".")
    )
    lines.append(
        f"Average predicted 接龙 order of the targeted live: {r['scenarios']['targeted']['predicted']['avg_order']:.0f} yuan vs {r['normal_order']:.0f} yuan for a normal (non-live) order."
    )
    return "\n".join(lines) + "\n"


def plot(r: dict[str, Any], path: Path) -> Path:
    """Bars: predicted vs truth view rate and 接龙 rate, targeted vs broadcast."""
    from matplotlib.ticker import PercentFormatter

    from experiments.plots import PALETTE, pyplot, save

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = list(r["scenarios"])
    for ax, metric, title in zip(
        axes,
        ("view_rate", "jielong_rate"),
        ("Live view rate", "接龙 conversion (per invited)"),
        strict=True,
    ):
        x = np.arange(len(names))
        pred = [r["scenarios"][n]["predicted"][metric] for n in names]
        ax.bar(x - 0.2, pred, width=0.4, color=PALETTE[0], label="predicted (response model)")
        if all("truth" in r["scenarios"][n] for n in names):
            tru = [r["scenarios"][n]["truth"][metric] for n in names]
            ax.bar(x + 0.2, tru, width=0.4, color=PALETTE[1], label="truth (hidden model)")
        ax.set_xticks(
            x, [f"{n}\n({int(r['scenarios'][n]['predicted']['invited'])} people)" for n in names]
        )
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylabel(f"{title.split(' (')[0].lower()} (% of invited)")
        ax.set_xlabel("audience")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"Campaign simulation: {r['plan']['name']}", fontweight="bold")
    return save(fig, path)


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli simulate --features DIR [--plan FILE] [--truth DIR]``."""
    p = LinliParser(prog="linli simulate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--features", type=existing_dir, default=None, help="feature store (WORK/features)"
    )
    p.add_argument(
        "--plan",
        type=existing_file,
        default=None,
        help="plan JSON (default: the seed's light-meal case)",
    )
    p.add_argument(
        "--truth", type=existing_dir, default=None, help="synthetic world's truth folder"
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (WORK/simulation)")
    p.add_argument("--no-mlflow", action="store_true", help="write the files only, no MLflow run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    features = args.features or settings.work_dir / "features"
    out = args.out or settings.work_dir / "simulation"
    try:
        plan = json.loads(args.plan.read_text(encoding="utf-8")) if args.plan else SEED_PLAN
        with Steps("linli simulate", 0) as steps:
            r = simulate(features, plan, args.truth, settings, steps=steps)
    except (LinliInputError, FileNotFoundError, json.JSONDecodeError) as exc:
        print(f"linli simulate: error: {one_line(exc)}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    md = to_markdown(r)
    (out / "simulation.md").write_text(md, encoding="utf-8")
    per_live = r.pop("per_live")
    per_live.to_csv(out / "backtest_lives.csv", index=False)
    (out / "simulation.json").write_text(
        json.dumps(r, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    png = plot(r, out / "simulation.png")
    print(md)
    print(f"-> {out}")
    if not args.no_mlflow:
        from training import tracking

        Steps("linli simulate", 0).note("logging the simulation to MLflow")
        with tracking.run("simulate", settings, tags={tracking.TAG_RUN_TYPE: "simulate"}) as run_id:
            tracking.log_params(
                {
                    "plan": json.dumps(r["plan"], ensure_ascii=False),
                    "features": str(features.resolve()),
                    "truth": str(args.truth or ""),
                }
            )
            m = {f"backtest.{k}": v for k, v in r["backtest"].items()}
            for name, s in r["scenarios"].items():
                for kind, vals in s.items():
                    m |= {f"{name}.{kind}.{k}": v for k, v in vals.items()}
            m |= {f"lift.{k}": v for k, v in r["lift"].items()}
            tracking.log_metrics(m)
            for f in (
                out / "simulation.md",
                out / "simulation.json",
                out / "backtest_lives.csv",
                png,
            ):
                tracking.log_artifact(f, "simulation")
        print(f"MLflow run {run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
