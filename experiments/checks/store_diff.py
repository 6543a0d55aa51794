"""Compare two feature stores written by `linli features build` (e.g. by two engines).

`python -m experiments.checks.store_diff STORE_A STORE_B` prints every difference, one line
each, and exits 1 when there is any: identity and merges, suspicious identifiers, events'
user ids, users, tags, constraints, baskets, rejects with their reasons, summary counts, and
the matrices (equal up to float tolerance).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from features import store_layout as store
from features.matrix import Interactions

# tables compared as sets of rows (order-free), with the columns that identify a row
TABLE_KEYS: dict[str, list[str]] = {
    store.IDENTITY: ["id_type", "id_value"],
    store.TAGS: ["user_id", "tag", "source"],
    store.CONSTRAINTS: ["user_id", "item_id", "tag"],
    store.USERS: ["user_id"],
    store.ITEMS: ["item_id"],
    store.EVENTS: ["event_id"],
}
SUMMARY_SKIP = {"timings_s", "out_dir", "rejects_files", "engine", "event_store", "data_dir"}
RTOL = 1e-4


def _frame_diff(a: pd.DataFrame, b: pd.DataFrame, keys: list[str], name: str) -> list[str]:
    if set(a.columns) != set(b.columns):
        return [f"{name}: columns differ: {list(a.columns)} vs {list(b.columns)}"]
    b = b[list(a.columns)]
    if len(a) != len(b):
        return [f"{name}: {len(a)} rows vs {len(b)}"]
    a = a.sort_values(keys, kind="stable").reset_index(drop=True)
    b = b.sort_values(keys, kind="stable").reset_index(drop=True)
    out = []
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            ok = np.isclose(x.to_numpy(float), y.to_numpy(float), rtol=RTOL, equal_nan=True)
        else:
            ok = (x.astype("string").fillna("\0") == y.astype("string").fillna("\0")).to_numpy()
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            out.append(
                f"{name}: column {c}: {int((~ok).sum())} rows differ, e.g. {x.iloc[i]!r} vs {y.iloc[i]!r}"
            )
    return out


def _matrix_diff(a: sp.csr_matrix | None, b: sp.csr_matrix | None, name: str) -> list[str]:
    if a is None or b is None:
        return [] if a is None and b is None else [f"matrix {name}: present in one store only"]
    if a.shape != b.shape:
        return [f"matrix {name}: shape {a.shape} vs {b.shape}"]
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    if a.nnz != b.nnz or not (
        np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    ):
        return [f"matrix {name}: non-zero patterns differ ({a.nnz} vs {b.nnz})"]
    if not np.allclose(a.data, b.data, rtol=RTOL, atol=1e-6):
        worst = float(np.max(np.abs(a.data - b.data)))
        return [f"matrix {name}: values differ (max abs difference {worst:g})"]
    return []


def _summary_diff(a: dict[str, Any], b: dict[str, Any], path: str = "summary") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k in SUMMARY_SKIP:
            continue
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _summary_diff(x, y, f"{path}.{k}")
        elif x != y and not (k == "files" and path.startswith("summary.tables")):
            out.append(f"{path}.{k}: {x!r} vs {y!r}")
    return out


def diff_stores(a: Path, b: Path) -> list[str]:
    """Every difference between the feature stores in `a` and `b` (empty when they match)."""
    out: list[str] = []
    for name, keys in TABLE_KEYS.items():
        out += _frame_diff(pd.read_parquet(a / name), pd.read_parquet(b / name), keys, name)
    for name in (store.MERGES, store.BASKETS):
        x, y = pd.read_parquet(a / name), pd.read_parquet(b / name)
        x, y = (
            x.drop(columns=["logged_at"], errors="ignore"),
            y.drop(columns=["logged_at"], errors="ignore"),
        )
        out += _frame_diff(x, y, list(x.columns), name)
    for name in (store.SUSPICIOUS,):
        pa_, pb_ = a / name, b / name
        if pa_.exists() != pb_.exists():
            out.append(f"{name}: written by one store only")
        elif pa_.exists():
            out += _frame_diff(pd.read_csv(pa_), pd.read_csv(pb_), ["id_key"], name)
    rej_a = sorted(p.name for p in (a / store.REJECTS_DIR).glob("*.csv"))
    rej_b = sorted(p.name for p in (b / store.REJECTS_DIR).glob("*.csv"))
    if rej_a != rej_b:
        out.append(f"rejects: files {rej_a} vs {rej_b}")
    for f in set(rej_a) & set(rej_b):
        x = pd.read_csv(a / store.REJECTS_DIR / f, dtype=str)
        y = pd.read_csv(b / store.REJECTS_DIR / f, dtype=str)
        out += _frame_diff(x, y, list(x.columns), f"rejects/{f}")
    sa = json.loads((a / store.SUMMARY).read_text(encoding="utf-8"))
    sb = json.loads((b / store.SUMMARY).read_text(encoding="utf-8"))
    out += _summary_diff(sa, sb)
    ma, mb = Interactions.load(a / store.MATRIX_DIR), Interactions.load(b / store.MATRIX_DIR)
    if list(ma.users.ids) != list(mb.users.ids) or list(ma.items.ids) != list(mb.items.ids):
        out.append("matrix: id maps differ")
    for name in (
        "weights",
        "purchases",
        "last_purchase_age",
        "user_features",
        "item_features",
        "user_groups",
    ):
        out += _matrix_diff(getattr(ma, name), getattr(mb, name), name)
    if ma.snapshot != mb.snapshot:
        out.append(f"matrix: snapshot {ma.snapshot} vs {mb.snapshot}")
    if (ma.baskets is None) != (mb.baskets is None):
        out.append("matrix baskets: present in one store only")
    elif ma.baskets is not None and mb.baskets is not None:
        out += _frame_diff(ma.baskets, mb.baskets, ["user", "basket", "item"], "matrix/baskets")
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: print the differences between two feature stores; exit 1 when there are any."""
    ap = argparse.ArgumentParser(
        prog="python -m experiments.checks.store_diff", description=__doc__
    )
    ap.add_argument("a", type=Path, help="one feature store directory")
    ap.add_argument("b", type=Path, help="the other feature store directory")
    args = ap.parse_args(argv)
    diffs = diff_stores(args.a, args.b)
    for d in diffs:
        print(d)
    print(f"{len(diffs)} difference(s) between {args.a} and {args.b}")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
