"""Fault injection: break a share of the rows of every table in each way SCHEMA.md names.

`python -m experiments.checks.corrupt --data DIR --out DIR --rate 0.01 --seed 7` writes a
copy of the data directory (as CSV, so any broken value can be written) and
`OUT_truth.json` listing, per table, the row positions broken and how. Used to
check that the feature job rejects exactly those rows, with a reason, and no others.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from features.load import load_table
from features.schema import TABLES, Col, EventType, TableSpec

Breaker = Callable[[pd.DataFrame, np.ndarray], None]


def _blank(col: str) -> Breaker:
    def f(df: pd.DataFrame, rows: np.ndarray) -> None:
        df.loc[rows, col] = ""

    return f


def _set(col: str, value: str) -> Breaker:
    def f(df: pd.DataFrame, rows: np.ndarray) -> None:
        df.loc[rows, col] = value

    return f


def ways(spec: TableSpec, df: pd.DataFrame) -> dict[str, tuple[Breaker, pd.Series]]:
    """The ways a row of this table can break the contract -> (breaker, rows it applies to)."""
    every = pd.Series(True, index=df.index)
    out: dict[str, tuple[Breaker, pd.Series]] = {}
    for col in spec.required_columns:
        out[f"missing {col}"] = (_blank(col), every)
    for c in spec.columns:
        if c.name not in df.columns:
            continue
        has = df[c.name].astype("string").fillna("").str.strip() != ""
        if c.kind == "timestamp":
            out[f"unparseable {c.name}"] = (
                _set(c.name, "2026-13-45T99:00"),
                has if not c.required else every,
            )
        if c.kind == "number":
            out[f"unparseable {c.name}"] = (_set(c.name, "twelve"), has)
            if c.nonnegative:
                out[f"negative {c.name}"] = (_set(c.name, "-3"), has)
    if spec.name == "events":
        out["unknown event_type"] = (_set(Col.EVENT_TYPE, "teleport"), every)
        is_order = df[Col.EVENT_TYPE].isin([EventType.ORDER.value, EventType.JIELONG.value])
        out["order line without order_id"] = (_blank(Col.ORDER_ID), is_order)
    return out


def corrupt_table(
    spec: TableSpec, df: pd.DataFrame, rate: float, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """A copy of `df` with about `rate` of its rows broken per way (disjoint rows); returns (copy, way -> rows)."""
    out = df.astype("string").copy()
    taken = np.zeros(len(df), dtype=bool)
    truth: dict[str, list[int]] = {}
    for name, (breaker, applies) in ways(spec, out).items():
        pool = np.flatnonzero(applies.to_numpy() & ~taken)
        n = min(len(pool), max(1, int(round(rate * len(df)))))
        if n == 0:
            continue
        rows = np.sort(rng.choice(pool, size=n, replace=False))
        breaker(out, rows)
        taken[rows] = True
        truth[name] = rows.tolist()
    return out, truth


def corrupt_dir(
    data: Path, out: Path, rate: float = 0.01, seed: int = 7
) -> dict[str, dict[str, list[int]]]:
    """Write a broken copy of every table of `data` to `out`; returns table -> way -> row positions."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    truth: dict[str, dict[str, list[int]]] = {}
    for name, spec in TABLES.items():
        loaded = load_table(data, spec)
        if loaded is None:
            continue
        clean = loaded[0].clean.copy()
        for c in spec.columns:  # back to contract text so the copy reads like an input file
            if c.name in clean.columns and c.kind == "timestamp":
                clean[c.name] = clean[c.name].map(lambda t: t.isoformat() if pd.notna(t) else "")
        broken, truth[name] = corrupt_table(spec, clean, rate, rng)
        broken.to_csv(out / f"{name}.csv", index=False)
    return truth


def main(argv: list[str] | None = None) -> int:
    """CLI: break a data directory for a robustness drill."""
    p = argparse.ArgumentParser(prog="python -m experiments.checks.corrupt", description=__doc__)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--rate", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    truth = corrupt_dir(a.data, a.out, a.rate, a.seed)
    path = a.out.with_name(a.out.name + "_truth.json")
    path.write_text(json.dumps(truth, indent=1), encoding="utf-8")
    for table, w in truth.items():
        print(f"{table:<15} broke {sum(len(v) for v in w.values()):>7,} rows in {len(w)} ways")
    print(f"truth: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
