"""Theme audience as a prediction on a temporal split, against the naive list, on worlds and real data.

For each theme: every signal up to a cut date; truth = users who buy one of the theme's
items in the ``horizon`` days after the cut. Ours = :func:`training.audience.score_audience`
run on the log truncated at the cut (nothing later is passed in; it learns from cuts before
it). Naive = users ranked by past purchase lines of the theme's items (ties: more purchase
lines of anything, then user id). Both rank the same users (seen by the cut) and both drop
the users hard constraints exclude. precision@k = share of the first k who buy.

The cut: the time by which 80% of purchase lines had happened, and at most ``max - horizon``
(one rule everywhere: synthetic worlds span a calendar; Instacart and Ta-Feng users are
aligned at their first order, so the last month holds only the longest histories).
On small data k becomes ``min(k, users // 5)`` (the row says which k).

    python -m experiments.audience_eval --features work/world/features [--themes FILE ...]
    python -m experiments.audience_eval --dataset instacart

Real datasets (``--dataset``), each through its adapter and the feature job (cached under
``--work``): ``instacart`` (days_since_prior_order as time; themes = departments and aisles,
horizon 30 days), ``taobao`` (timestamps; 9 days of data, so horizon 2 days; themes = the
most bought category ids), ``tafeng`` (no dates: basket k of a user is day k, the adapter's
timeline; no categories either, so themes = the most bought single items; horizon 3 baskets).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features import store_layout as store
from features.schema import Col
from training.audience import AudienceConfig, Theme, resolve_theme, score_audience

KS = (120, 1000)
CUT_QUANTILE = 0.8
THEMES_DIR = Path(__file__).parent / "themes"
INSTACART_THEMES = (
    ("produce", "dairy eggs", "snacks", "beverages", "frozen", "bakery", "pantry", "deli"),
    ("fresh fruits", "yogurt", "packaged cheese", "chips pretzels"),
)
# the shared datasets beside the main checkout (../shared) or beside a worktree (../../shared)
SRC = next(
    (p for p in (Path("../shared/datasets"), Path("../../shared/datasets")) if p.exists()),
    Path("../shared/datasets"),
)
HORIZON = {"instacart": 30.0, "taobao": 2.0, "tafeng": 3.0}


@dataclass
class Case:
    """One world or dataset: its feature store tables, themes and prediction horizon."""

    name: str
    items: pd.DataFrame
    purchases: pd.DataFrame
    events: pd.DataFrame | None
    constraints: pd.DataFrame | None
    themes: list[Theme]
    horizon_days: float = 30.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def load_case(features: Path, name: str, themes: list[Theme], horizon: float, note: str) -> Case:
    """A case from a feature store directory (events with the columns the audience reads)."""
    cols = [Col.USER_ID, Col.TS, Col.EVENT_TYPE, Col.ITEM_ID, Col.TEXT]
    have = set(pq.read_schema(features / store.EVENTS).names)
    events = pd.read_parquet(features / store.EVENTS, columns=[c for c in cols if c in have])
    cons_path = features / store.CONSTRAINTS
    return Case(
        name,
        pd.read_parquet(features / store.ITEMS),
        pd.read_parquet(features / store.BASKETS),
        events,
        pd.read_parquet(cons_path) if cons_path.exists() else None,
        themes,
        horizon,
        note,
    )


def default_cut(ts: pd.Series, horizon_days: float) -> pd.Timestamp:
    """80% of purchase lines before it, and at least ``horizon_days`` of data after it."""
    q = pd.Timestamp(ts.quantile(CUT_QUANTILE))  # type: ignore[arg-type]
    return min(q, pd.Timestamp(ts.max()) - pd.Timedelta(days=horizon_days))


def naive_list(purchases: pd.DataFrame, theme_items: pd.Index, users: pd.Index) -> pd.Index:
    """Users by past purchase lines of the theme's items, then of anything, then id."""
    theme_n = purchases[purchases[Col.ITEM_ID].isin(theme_items)].groupby(Col.USER_ID).size()
    all_n = purchases.groupby(Col.USER_ID).size()
    u = pd.Index(users).astype(str)
    t = theme_n.reindex(u).fillna(0).to_numpy()
    a = all_n.reindex(u).fillna(0).to_numpy()
    return pd.Index(u.to_numpy()[np.lexsort((u.to_numpy(), -a, -t))])


def precision_at(ranked: Sequence[str] | pd.Index, truth: set[str], k: int) -> float:
    """Share of the first k ranked users in ``truth`` (a shorter list counts as misses)."""
    top = list(ranked[:k])
    return sum(u in truth for u in top) / k if k > 0 else float("nan")


def _truncate(frame: pd.DataFrame | None, cut: pd.Timestamp) -> pd.DataFrame | None:
    return None if frame is None else frame[frame[Col.TS] <= cut]


def theme_row(
    case: Case, theme: Theme, cut: pd.Timestamp, ks: Sequence[int], cfg: AudienceConfig
) -> dict[str, Any]:
    """Ours and the naive list's precision@k for one theme at one cut."""
    past = case.purchases[case.purchases[Col.TS] <= cut]
    events = _truncate(case.events, cut)
    end = cut + pd.Timedelta(days=case.horizon_days)
    future = case.purchases[(case.purchases[Col.TS] > cut) & (case.purchases[Col.TS] <= end)]
    theme_items = resolve_theme(theme, case.items).all
    seen = [past[Col.USER_ID]] + ([events[Col.USER_ID]] if events is not None else [])
    users = pd.Index(pd.unique(pd.concat(seen).dropna().astype(str)))
    truth = set(future.loc[future[Col.ITEM_ID].isin(theme_items), Col.USER_ID].astype(str))
    truth &= set(users)
    cfg = cfg.model_copy(update={"horizon_days": case.horizon_days})
    res = score_audience(theme, case.items, past, events, case.constraints, cfg=cfg, snapshot=cut)
    ours = pd.Index(res.audience[Col.USER_ID].astype(str))
    naive = naive_list(past, theme_items, users)
    naive = naive[~naive.isin(res.excluded[Col.USER_ID].astype(str))]
    row: dict[str, Any] = {
        "case": case.name,
        "theme": theme.name,
        "users": len(users),
        "buyers": len(truth),
        "base_rate": round(len(truth) / max(len(users), 1), 4),
        "model": res.summary["model"],
    }
    for k in ks:
        k_eff = min(k, max(len(users) // 5, 1))
        row[f"k{k}"] = k_eff
        row[f"ours@{k}"] = precision_at(ours, truth, k_eff)
        row[f"naive@{k}"] = precision_at(naive, truth, k_eff)
    return row


def evaluate_audience(
    case: Case,
    ks: Sequence[int] = KS,
    cfg: AudienceConfig | None = None,
    cut: pd.Timestamp | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per theme of the case (ours and naive precision at each k)."""
    cfg = cfg or AudienceConfig()
    cut = cut if cut is not None else default_cut(case.purchases[Col.TS], case.horizon_days)
    rows = []
    for theme in case.themes:  # a handful of themes
        t0 = time.perf_counter()
        rows.append(theme_row(case, theme, cut, ks, cfg) | {"cut": str(cut.date())})
        if progress:
            r = rows[-1]
            progress(
                f"  audience {case.name} / {theme.name}: ours@{ks[0]} {r[f'ours@{ks[0]}']:.3f} "
                f"naive {r[f'naive@{ks[0]}']:.3f} ({time.perf_counter() - t0:.1f}s)"
            )
    return rows


def summarize(rows: list[dict[str, Any]], ks: Sequence[int] = KS) -> dict[str, Any]:
    """Mean precision over a case's themes, ours / naive ratio per k."""
    df = pd.DataFrame(rows)
    out: dict[str, Any] = {"themes": len(df), "buyers_mean": round(float(df["buyers"].mean()), 1)}
    for k in ks:
        ours, naive = float(df[f"ours@{k}"].mean()), float(df[f"naive@{k}"].mean())
        out[f"k{k}"] = int(df[f"k{k}"].min())
        out[f"ours@{k}"] = round(ours, 4)
        out[f"naive@{k}"] = round(naive, 4)
        out[f"ratio@{k}"] = round(ours / naive, 3) if naive > 0 else float("nan")
    return out


# ---- themes and cases ------------------------------------------------------------------------


def theme_files(folder: Path = THEMES_DIR) -> list[Theme]:
    """The themes of ``experiments/themes/*.json``."""
    from training.audience import theme_from_json

    return [theme_from_json(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def top_categories(purchases: pd.DataFrame, items: pd.DataFrame, n: int) -> list[Theme]:
    """A theme per catalogue category, the n most bought (names as in the catalogue)."""
    cat = items.drop_duplicates(Col.ITEM_ID).set_index(Col.ITEM_ID)[Col.CATEGORY].astype(str)
    counts = cat.reindex(purchases[Col.ITEM_ID].astype(str)).value_counts()
    return [Theme(name=f"category:{c}", categories=[c]) for c in counts.index[:n]]


def top_items(purchases: pd.DataFrame, n: int) -> list[Theme]:
    """A theme per item, the n most bought (for data without categories)."""
    counts = purchases[Col.ITEM_ID].astype(str).value_counts()
    return [Theme(name=f"item:{i}", items=[i]) for i in counts.index[:n]]


def synthetic_themes(case: Case, n_categories: int = 6) -> list[Theme]:
    """The theme files plus the most bought categories."""
    return theme_files() + top_categories(case.purchases, case.items, n_categories)


def real_store(name: str, src: Path, work: Path) -> Path:
    """Feature store of a real dataset (adapter + feature job), built once under ``work``."""
    out = work / name / "features"
    if (out / store.SUMMARY).exists():
        return out
    from features.adapters import adapter, write_tables
    from features.build import run
    from features.settings import load_settings

    write_tables(adapter(name).to_schema(src / name), work / name / "data", "parquet")
    run(work / name / "data", out, load_settings(work_dir=work / name), progress=False)
    return out


def real_case(name: str, src: Path, work: Path, n_themes: int = 8) -> Case:
    """A real dataset as a case, with the themes and horizon its data allow."""
    features = real_store(name, src, work)
    case = load_case(features, name, [], HORIZON[name], "")
    if name == "instacart":
        case.themes = [Theme(name=f"department:{c}", categories=[c]) for c in INSTACART_THEMES[0]]
        case.themes += [Theme(name=f"aisle:{c}", categories=[c]) for c in INSTACART_THEMES[1]]
        case.note = "time = days_since_prior_order; themes = departments, aisles"
    elif name == "taobao":
        case.themes = top_categories(case.purchases, case.items, n_themes)
        case.note = "9 days of data: horizon 2 days; themes = most bought category ids"
    elif name == "tafeng":
        case.themes = top_items(case.purchases, n_themes)
        case.note = "no dates (day = basket index), no categories: themes = most bought items"
    else:
        raise ValueError(f"no audience evaluation for dataset {name!r}")
    return case


def main(argv: list[str] | None = None) -> int:
    """CLI: precision@k of ours and the naive list per theme, and the mean."""
    p = argparse.ArgumentParser(prog="python -m experiments.audience_eval", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--features", type=Path, help="feature store of a synthetic world")
    g.add_argument("--dataset", choices=sorted(HORIZON), help="a real dataset")
    p.add_argument("--src", type=Path, default=SRC, help="folder of the real datasets")
    p.add_argument("--work", type=Path, default=Path("work/real"))
    p.add_argument("--model", choices=["hgb", "logreg"], default="hgb")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="JSON of the rows and the summary")
    a = p.parse_args(argv)
    if a.features is not None:
        case = load_case(a.features, a.features.parent.name, [], 30.0, "")
        case.themes = synthetic_themes(case)
    else:
        case = real_case(a.dataset, a.src, a.work)
    cfg = AudienceConfig(model=a.model, seed=a.seed)
    rows = evaluate_audience(case, cfg=cfg, progress=lambda s: print(s, flush=True))
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(pd.DataFrame(rows).to_string(index=False))
    summary = summarize(rows)
    print(json.dumps(summary, ensure_ascii=False))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps({"rows": rows, "summary": summary}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
