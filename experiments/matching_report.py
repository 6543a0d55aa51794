"""One table of the matching brain's quality against naive baselines, on every world preset and real dataset.

    python -m experiments.matching_report [--presets default,overlap,many,sparse,noisy]
        [--datasets tafeng,instacart,taobao] [--people 3000] [--seed 0] [--out work/matching_report]

Rows (each shows ours, the baseline, and ours / baseline):

- ``audience p@120`` / ``audience p@1000``: the theme audience as a prediction on a temporal
  split vs the naive list (users by past purchases of the theme's items), mean over themes
  (:mod:`experiments.audience_eval`; k is ``min(k, users // 5)`` on small data, shown as k=);
- ``group hit@10``: group ranking (the serving default mix) vs each naive group baseline
  (group history + popularity; popularity) — :func:`experiments.group_eval.evaluate_groups`;
- ``segment ARI``: segments vs naive k-means with the true k (tf-idf of item events + search
  words, SVD) — :func:`experiments.segment_eval.evaluate_segments` (worlds only: real data
  has no true personas); the note gives the supervised reference (a classifier told 80% of
  the personas, :mod:`experiments.segment_ceiling`) and the 1.05x target;
- ``per-user recall@10``: the blend vs the best per-user baseline (GP-TopFreq, P-TopFreq,
  TIFU-KNN) on one seeded split (the leaderboard's evaluation functions).

Worlds are generated with ``features.synth.preset_config`` and built once under ``--work``.
``--out DIR`` writes ``DIR/matching_report.md`` and ``.json``.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from features.cli_parser import LinliParser

PRESETS = ("default", "overlap", "many", "sparse", "noisy")
DATASETS = ("tafeng", "instacart", "taobao")
CHECKS = ("group", "segment", "audience", "leaderboard")
LEADERBOARD_BASELINES = ("gp_topfreq", "p_topfreq", "tifuknn")
TARGET = 1.05


@dataclass
class Row:
    """One line of the report."""

    case: str
    check: str
    ours: float
    baseline: float
    baseline_name: str
    note: str = ""

    @property
    def ratio(self) -> float:
        if not (math.isfinite(self.ours) and math.isfinite(self.baseline)) or self.baseline <= 0:
            return float("nan")
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def _pending(case: str, check: str, why: str) -> Row:
    return Row(case, check, float("nan"), float("nan"), "", why)


# ---- worlds ----------------------------------------------------------------------------------


def world(preset: str, people: int, seed: int, work: Path) -> Path:
    """ROOT of a preset world (ROOT/data, ROOT/truth, ROOT/features), generated once."""
    from features.build import run as build_features
    from features.settings import Settings
    from features.synth import generate, preset_config, write_world

    root = work / f"{preset}-p{people}-s{seed}"
    if (root / "features" / "summary.json").exists():
        return root
    cfg = preset_config(preset, people=people, seed=seed)
    write_world(generate(cfg), root)
    build_features(
        root / "data", root / "features", Settings(work_dir=root / "work"), progress=False
    )
    return root


# ---- the checks ------------------------------------------------------------------------------


def audience_rows(kind: str, name: str, root: Path, seed: int, src: Path) -> list[Row]:
    """Mean precision@120 and @1000 over themes, ours vs the naive list."""
    from experiments import audience_eval as ae
    from training.audience import AudienceConfig

    if kind == "world":
        case = ae.load_case(root / "features", name, [], 30.0, "")
        case.themes = ae.synthetic_themes(case)
    else:
        case = ae.real_case(name, src, root)
    s = ae.summarize(ae.evaluate_audience(case, cfg=AudienceConfig(seed=seed)))
    rows = []
    for k in ae.KS:
        note = f"k={s[f'k{k}']}, {s['themes']} themes, {s['buyers_mean']:.0f} buyers/theme"
        if case.note:
            note += f"; {case.note}"
        rows.append(
            Row(name, f"audience p@{k}", s[f"ours@{k}"], s[f"naive@{k}"], "naive list", note)
        )
    return rows


def segment_rows(name: str, root: Path, seed: int) -> list[Row]:
    """ARI against the true personas: our segments vs naive k-means with the true k."""
    from experiments.segment_eval import evaluate_segments

    r = evaluate_segments(root, seed)
    if r.get("ari") is None:
        return [_pending(name, "segment ARI", "no true personas")]
    note = f"k={r['k']} (true {r['k_true']}), names unique: {r['names_unique']}"
    note += f"; supervised reference {r['ari_ceiling']:.3f}, 1.05x = {1.05 * r['ari_naive']:.3f}"
    return [Row(name, "segment ARI", float(r["ari"]), float(r["ari_naive"]), "naive k-means", note)]


def group_rows(kind: str, name: str, root: Path, seed: int, src: Path) -> list[Row]:
    """Group hit rate@10 (the serving default mix) vs both naive group baselines."""
    from experiments.group_eval import evaluate_groups
    from serving.group_rebuy import DEFAULT_MIX

    if kind == "world":
        got = evaluate_groups(stores={name: root / "features"}, seed=seed, mix=DEFAULT_MIX)
    elif name in ("tafeng", "instacart"):
        got = evaluate_groups(real={name: src / name}, seed=seed, mix=DEFAULT_MIX)
    else:
        return [_pending(name, "group hit@10", "no group-shaped cases for this dataset")]
    r = got[0]
    note = f"{r['cases']} cases, {r['groups']} groups, serving default mix"
    return [
        Row(name, "group hit@10", r["ours_hit"], r["history_pop_hit"], "history + popular", note),
        Row(name, "group hit@10", r["ours_hit"], r["popularity_hit"], "popularity", note),
    ]


def leaderboard_rows(kind: str, name: str, root: Path, seed: int, src: Path) -> list[Row]:
    """recall@10 of the blend vs the best per-user baseline on one seeded split."""
    from training.evaluation.folds import basket_folds, features_fold, load_baskets
    from training.evaluation.leaderboard import run_leaderboard
    from training.settings import load_settings

    settings = load_settings(work_dir=root / "work")
    if kind == "world":
        folds = [features_fold(root / "features", settings, seed=seed)]
    elif name in ("tafeng", "instacart"):
        folds = list(basket_folds(load_baskets(name, src / name), [seed], settings))
    else:
        return [_pending(name, "per-user recall@10", "no basket protocol for this dataset")]
    kinds = ["blend", *LEADERBOARD_BASELINES]
    board = run_leaderboard(name, folds, kinds, ks=(10,), progress=False)
    col = "recall_at_10"
    recall = board.table[col]
    base = recall.drop("blend", errors="ignore")
    if "blend" not in recall.index or base.empty:
        return [_pending(name, "per-user recall@10", f"failed: {board.errors}")]
    best = str(base.idxmax())
    return [
        Row(name, "per-user recall@10", float(recall["blend"]), float(base[best]), best, "1 seed")
    ]


# ---- the report ------------------------------------------------------------------------------


def run_checks(
    kind: str,
    name: str,
    root: Path,
    seed: int,
    src: Path,
    checks: Sequence[str],
    say: Callable[[str], None],
) -> list[Row]:
    """Every requested check on one world or dataset; a failing check becomes a row saying so."""
    rows: list[Row] = []
    for check in checks:  # four checks
        t0 = time.perf_counter()
        try:
            if check == "audience":
                got = audience_rows(kind, name, root, seed, src)
            elif check == "leaderboard":
                got = leaderboard_rows(kind, name, root, seed, src)
            elif check == "segment" and kind != "world":
                got = [_pending(name, "segment ARI", "real data has no true personas")]
            elif check == "segment":
                got = segment_rows(name, root, seed)
            else:
                got = group_rows(kind, name, root, seed, src)
        except Exception as exc:  # one broken check must not sink the report
            traceback.print_exc()
            got = [_pending(name, check, f"error: {type(exc).__name__}: {exc}"[:200])]
        rows += got
        for r in got:
            say(
                f"{name:<10} {r.check:<22} ours {r.ours:.4f} base {r.baseline:.4f} "
                f"ratio {r.ratio:.3f}  ({time.perf_counter() - t0:.0f}s) {r.note}"
            )
    return rows


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if math.isfinite(x) else "—"


def to_markdown(rows: Sequence[Row], command: str) -> str:
    """The report as one markdown table (ratio < 1.05 marked)."""
    lines = [
        f"`{command}`",
        "",
        "| case | check | ours | baseline | ours / baseline | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = " (short)" if math.isfinite(r.ratio) and r.ratio < TARGET else ""
        base = f"{_fmt(r.baseline)} ({r.baseline_name})" if r.baseline_name else _fmt(r.baseline)
        lines.append(
            f"| {r.case} | {r.check} | {_fmt(r.ours)} | {base} | {_fmt(r.ratio)}{mark} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """CLI: build the worlds, run every check, print and write the table."""
    p = LinliParser(prog="python -m experiments.matching_report", description=__doc__)
    p.add_argument("--presets", default=",".join(PRESETS), help="comma list ('' for none)")
    p.add_argument("--datasets", default=",".join(DATASETS), help="comma list ('' for none)")
    p.add_argument("--checks", default=",".join(CHECKS), help="comma list of " + ",".join(CHECKS))
    p.add_argument("--people", type=int, default=3000, help="people per world")
    p.add_argument("--seed", type=int, default=0, help="seed of the worlds, splits and models")
    p.add_argument(
        "--src",
        type=Path,
        default=None,
        help="folder of the real datasets (default: ../shared/datasets)",
    )
    p.add_argument(
        "--work", type=Path, default=Path("work/matching_report"), help="where worlds are built"
    )
    p.add_argument("--out", type=Path, default=None, help="folder of matching_report.md / .json")
    a = p.parse_args(argv)
    if a.src is None:
        from experiments.audience_eval import SRC

        a.src = SRC
    presets = [x for x in a.presets.split(",") if x]
    datasets = [x for x in a.datasets.split(",") if x]
    checks = [x for x in a.checks.split(",") if x]
    unknown = (set(presets) - set(PRESETS)) | (set(datasets) - set(DATASETS))
    unknown |= set(checks) - set(CHECKS)
    if unknown:
        p.error(f"unknown preset / dataset / check: {', '.join(sorted(unknown))}")

    def say(s: str) -> None:
        print(s, flush=True)

    rows: list[Row] = []
    for preset in presets:
        say(f"world {preset}: {a.people} people, seed {a.seed}")
        root = world(preset, a.people, a.seed, a.work / "worlds")
        rows += run_checks("world", preset, root, a.seed, a.src, checks, say)
    for name in datasets:
        say(f"dataset {name}")
        rows += run_checks("dataset", name, a.work / "real", a.seed, a.src, checks, say)
    command = "python -m experiments.matching_report " + " ".join(argv or sys.argv[1:])
    md = to_markdown(rows, command.strip())
    print(md)
    if a.out:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "matching_report.md").write_text(md, encoding="utf-8")
        (a.out / "matching_report.json").write_text(
            json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=1, default=str),
            encoding="utf-8",
        )
        say(f"-> {a.out / 'matching_report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
