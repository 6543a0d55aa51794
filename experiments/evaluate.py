"""Offline leaderboard: every model x several seeded splits on a real dataset, one table, one MLflow parent run.

``linli evaluate --dataset tafeng --src DIR --models all --seeds 3 --k 10,20``

Datasets (``--dataset``):

- ``tafeng``: the Reality-Check files, read by :func:`features.adapters.tafeng.read_baskets`.
- ``instacart``: the Instacart sample, read by :func:`features.adapters.instacart.to_schema`;
  a user's last order (with lines) is their future basket.
- ``features``: a feature store from ``linli features build``; ``--split temporal`` (default)
  holds out the last ``--holdout-days`` days (fit on every event type before the cut with
  the settings' event weights and decay, item features and user tags attached; predict
  purchases after it, for users seen before it). The user tags come from the whole store,
  so RFM-style tags know a little of the holdout period. ``--split next-basket`` runs the
  basket protocol on the store's baskets (purchases only, no side features).

Protocol (``--protocol users``, the default): the Ta-Feng protocol of
:func:`training.evaluation.split.protocol_split` with one split per seed (72/8/20 users; a
model sees every history plus train and validation users' future baskets; test users'
future baskets are the targets). ``--protocol last``: every user's last basket is a
target and the fit sees histories only (seeds then vary only the models).

Basket data has no shared calendar (Ta-Feng has no dates; Instacart users are aligned
at their first order), so each user's baskets are placed one day apart ending at the
snapshot: recency and decay count baskets ago. Already-bought items are NOT excluded
from the recommendations (grocery is repeat buying).

Output: a rich table on the console, ``OUT/<dataset>.md`` and ``.csv`` (means and
standard deviations over seeds), ``<dataset>_seeds.csv`` (one row per model and seed),
``<dataset>_segments.csv`` (by history length), and one MLflow parent run with a child
run per model (metrics named ``recall_at_10``, ``ndcg_at_10``, ...). ``--write-recs
DIR`` writes each model's top 20 for the test users of the first seed's split as
``DIR/<model>.json`` = ``{user_id: [item_id, ...]}`` in the dataset's own ids.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from features.cli_parser import LinliParser, choices_help, existing_path, one_line
from features.progress import Steps
from features.schema import Col
from training.evaluation import metrics as M
from training.evaluation.folds import (
    DATASETS,
    Fold,
    basket_folds,
    features_fold,
    load_baskets,
)
from training.evaluation.leaderboard import SEED_FIELDS, Leaderboard, run_leaderboard
from training.settings import Settings, load_settings
from training.train import parse_value

log = logging.getLogger("linli.evaluate")


# -- presentation ------------------------------------------------------------------------
def display_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(column, header) pairs of the leaderboard table, in order."""
    k0 = ks[0]
    cols = [(M.metric_name("recall", k), f"Recall@{k}") for k in ks]
    cols += [(M.metric_name("ndcg_paper", k), f"NDCG@{k} paper") for k in ks]
    cols += [(M.metric_name("ndcg", k), f"NDCG@{k}") for k in ks]
    cols += [
        (M.metric_name("hit_rate", k0), f"PHR@{k0}"),
        (M.metric_name("repeat_recall", k0), f"Repeat R@{k0}"),
        (M.metric_name("explore_recall", k0), f"Explore R@{k0}"),
        (M.metric_name("precision", k0), f"P@{k0}"),
        (M.metric_name("map", k0), f"MAP@{k0}"),
        (M.metric_name("coverage", k0), f"Coverage@{k0}"),
        (M.metric_name("novelty", k0), f"Novelty@{k0}"),
        ("fit_seconds", "Fit s"),
    ]
    return cols


def _cell(mean: float, std: float | None, col: str) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    digits = 1 if col in {"fit_seconds", "predict_seconds"} or col.startswith("novelty") else 4
    text = f"{mean:.{digits}f}"
    if std is not None and np.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def table_cells(board: Leaderboard) -> tuple[list[str], list[list[str]]]:
    """Header and body cells (``mean ± std``) of the leaderboard table."""
    cols = [(c, h) for c, h in display_columns(board.ks) if c in board.table.columns]
    header = ["Model"] + [h for _, h in cols]
    body = []
    for model, row in board.table.iterrows():
        body.append([str(model)] + [_cell(row[c], row.get(f"{c}_std"), c) for c, _ in cols])
    return header, body


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int | np.integer) else "?"


def to_markdown(board: Leaderboard, command: str = "") -> str:
    """The leaderboard as a markdown document (context lines + table)."""
    header, body = table_cells(board)
    info = board.info
    lines = [
        f"# Leaderboard: {board.dataset}",
        "",
        f"- protocol: {info.get('protocol', '')}; seeds: {info.get('seeds', '')}; "
        f"k: {', '.join(map(str, board.ks))}; mean ± std over seeds",
        f"- data: {_count(info.get('users'))} users, {_count(info.get('items'))} items, "
        f"{_count(info.get('lines'))} lines; evaluated users per seed: "
        f"{', '.join(str(f.get('eval_users')) for f in info.get('folds', []))}",
        "- NDCG paper = ideal DCG over all |truth| items (Reality-Check code); NDCG = ideal DCG "
        "over min(|truth|, k); PHR = share of users with at least one hit; repeat / explore "
        "recall over truth items the user had / had not bought before; nothing excluded",
        f"- runtime: {board.seconds / 60:.1f} min on {os.cpu_count()} cores"
        + (f"; command: `{command}`" if command else ""),
    ]
    if board.errors:
        lines.append("- failed models: " + "; ".join(f"{k}: {v}" for k, v in board.errors.items()))
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines) + "\n"


def print_table(board: Leaderboard) -> None:
    """The leaderboard as a rich table on the console."""
    from rich.console import Console
    from rich.table import Table

    header, body = table_cells(board)
    t = Table(
        title=f"{board.dataset}: mean ± std over {board.info.get('seeds', '?')} seeds "
        f"({board.seconds / 60:.1f} min)",
        show_lines=False,
    )
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in body:
        t.add_row(*r)
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    Console(width=sum(widths) + 3 * len(widths) + 1).print(t)
    for k, v in board.errors.items():
        Console().print(f"[red]failed[/red] {k}: {v}")


def write_outputs(board: Leaderboard, out: Path, command: str = "") -> dict[str, Path]:
    """Markdown, CSV (means/std), per-seed CSV and per-segment CSV under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out / f"{board.dataset}.md",
        "csv": out / f"{board.dataset}.csv",
        "seeds": out / f"{board.dataset}_seeds.csv",
        "segments": out / f"{board.dataset}_segments.csv",
    }
    paths["markdown"].write_text(to_markdown(board, command), encoding="utf-8")
    board.table.to_csv(paths["csv"], index_label="model")
    board.per_seed.to_csv(paths["seeds"], index=False)
    if len(board.segments):
        board.segments.to_csv(paths["segments"], index=False)
    else:
        paths.pop("segments")
    return paths


def log_to_mlflow(
    board: Leaderboard, paths: dict[str, Path], settings: Settings, run_name: str | None = None
) -> str:
    """One parent run for the leaderboard, one child run per model (means and ``_std``)."""
    from training import tracking

    name = run_name or f"leaderboard-{board.dataset}"
    info = {k: v for k, v in board.info.items() if k != "folds"}
    with tracking.run(name, settings, tags={tracking.TAG_RUN_TYPE: "leaderboard"}) as parent:
        tracking.log_params({**info, "ks": ",".join(map(str, board.ks))})
        tracking.log_metrics({"runtime_seconds": board.seconds})
        for p in paths.values():
            tracking.log_artifact(p, "leaderboard")
        for model, row in board.table.iterrows():
            with tracking.run(
                str(model),
                settings,
                nested=True,
                tags={
                    tracking.TAG_RUN_TYPE: "leaderboard-model",
                    tracking.TAG_MODEL_KIND: str(model),
                    "linli.leaderboard": name,
                },
            ):
                cfg = {k: v for k, v in board.configs.get(str(model), {}).items()}
                for f in SEED_FIELDS:
                    cfg.pop(f, None)
                tracking.log_params(
                    {
                        **cfg,
                        "dataset": board.dataset,
                        "protocol": info.get("protocol", ""),
                        "seeds": info.get("seeds", ""),
                    }
                )
                tracking.log_metrics({str(k): v for k, v in row.items() if k != "seeds"})
    return parent


# -- CLI --------------------------------------------------------------------------------
def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def resolve_models(spec: str) -> list[str]:
    """``all`` -> every registered kind (registry order); else the comma-separated kinds."""
    from training.models import REGISTRY

    if spec.strip() == "all":
        return list(REGISTRY)
    kinds = [k.strip() for k in spec.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {', '.join(REGISTRY)}")
    return kinds


def parse_params(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``kind.key=value`` strings -> {kind: {key: value}} (values parsed as JSON when possible)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, _, raw = item.partition("=")
        kind, _, name = key.partition(".")
        if not name or not _:
            raise ValueError(f"--param expects kind.key=value, got {item!r}")
        out.setdefault(kind, {})[name] = parse_value(raw)
    return out


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``linli evaluate``."""
    p = LinliParser(
        prog="linli evaluate",
        description="Leaderboard of models x seeded splits on a dataset (markdown, CSV, MLflow).",
    )
    from training.models import REGISTRY

    p.add_argument(
        "--dataset",
        choices=DATASETS,
        required=True,
        help="which loader reads --src ('features' = a Linli feature store)",
    )
    p.add_argument(
        "--src", type=existing_path, required=True, help="dataset folder or feature store"
    )
    p.add_argument(
        "--models",
        default="all",
        help="'all', or comma-separated " + choices_help("kinds", REGISTRY),
    )
    p.add_argument(
        "--seeds", type=int, default=3, help="number of seeded splits (seed, seed+1, ...)"
    )
    p.add_argument("--seed", type=int, default=None, help="first seed (default: settings.seed)")
    p.add_argument("--k", default="10,20", help="cut-offs, comma-separated")
    p.add_argument(
        "--protocol",
        choices=("users", "last"),
        default="users",
        help="users: hold out 20%% of users and their future baskets; last: every user's last basket",
    )
    p.add_argument("--split", choices=("temporal", "next-basket"), default="temporal",
                   help="features dataset only")  # fmt: skip
    p.add_argument("--holdout-days", type=float, default=14.0, help="temporal split window")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KIND.KEY=VALUE",
        help="a model setting, e.g. als.factors=64 (repeatable)",
    )
    p.add_argument(
        "--write-recs",
        type=Path,
        default=None,
        metavar="DIR",
        help="also write each model's recommendations (first seed) as DIR/<model>.json",
    )
    p.add_argument("--out", type=Path, default=None, help="default WORK_DIR/leaderboard")
    p.add_argument("--no-mlflow", action="store_true", help="do not log the leaderboard to MLflow")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or step lines")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI: ``linli evaluate --dataset tafeng --src DIR --models all --seeds 3 --k 10,20``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_settings()
    command = "linli evaluate " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        kinds = resolve_models(args.models)
        params = parse_params(args.param)
    except ValueError as exc:
        print(f"linli evaluate: error: {one_line(exc)}", file=sys.stderr)
        return 2
    if not kinds:
        print("linli evaluate: error: no models registered", file=sys.stderr)
        return 2
    ks = sorted(set(_ints(args.k)))
    first = settings.seed if args.seed is None else args.seed
    seeds = list(range(first, first + args.seeds))
    info: dict[str, Any] = {"dataset": args.dataset, "src": str(args.src), "seeds": len(seeds)}
    notes = Steps("linli evaluate", 0, enabled=not args.no_progress)
    notes.note(f"reading {args.dataset} from {args.src} and splitting it")
    if args.dataset == "features" and args.split == "temporal":
        fold = features_fold(args.src, settings, args.holdout_days)
        folds: Any = [
            Fold(s, fold.train, fold.eval_users, fold.truth, fold.history, fold.segments, fold.info)
            for s in seeds
        ]
        info |= {
            "protocol": f"temporal, last {args.holdout_days:g} days",
            "users": fold.train.shape[0],
            "items": fold.train.shape[1],
            "lines": int(fold.train.weights.nnz),
        }
    else:
        try:
            lines = load_baskets(args.dataset, args.src)
        except FileNotFoundError as exc:
            print(f"linli evaluate: error: cannot read {exc.filename or exc}", file=sys.stderr)
            return 2
        from training import tracking

        folds = basket_folds(lines, seeds, settings, args.protocol)
        info |= {
            "protocol": "72/8/20 users, future baskets of test users"
            if args.protocol == "users"
            else "last basket of every user",
            "users": int(lines[Col.USER_ID].nunique()),
            "items": int(lines[Col.ITEM_ID].nunique()),
            "lines": len(lines),
            "data_digest": tracking.frame_digest(lines),
        }
    board = run_leaderboard(
        args.dataset, folds, kinds, ks, args.write_recs, params, not args.no_progress, info
    )
    if not len(board.table):
        print("linli evaluate: error: every model failed", file=sys.stderr)
        for k, v in board.errors.items():
            print(f"  {k}: {v}", file=sys.stderr)
        return 1
    out = args.out or settings.work_dir / "leaderboard"
    paths = write_outputs(board, out, command)
    print_table(board)
    for name, pth in paths.items():
        print(f"{name}: {pth}")
    if args.write_recs is not None:
        print(f"recommendations: {args.write_recs}/<model>.json (seed {seeds[0]})")
    if not args.no_mlflow:
        notes.note("logging the leaderboard to MLflow")
        run_id = log_to_mlflow(board, paths, settings)
        print(f"mlflow: parent run {run_id} at {settings.mlflow_uri}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
