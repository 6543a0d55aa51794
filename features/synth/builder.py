"""`generate`: a whole world drawn step by step from one config (pure and deterministic)."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.progress import Steps
from features.schema import TABLES, Col
from features.synth.build_truth import TruthSteps
from features.synth.cast import (
    personas_document,
)
from features.synth.config import (
    SynthConfig,
    TruthCol,
    World,
)
from features.synth.constants import (
    EVENT_TYPES,
    STRING_DTYPE,
)


class _Builder(TruthSteps):
    """Builds a World step by step (see `generate`): every step module, in pipeline order."""


def _release_memory() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise; matters for 200k-people runs)."""
    pa.default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        with suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def generate(config: SynthConfig, progress: bool = False) -> World:
    """Draw a whole world (SCHEMA tables + ground truth) from the config; pure and deterministic."""
    b = _Builder(config)
    steps: list[tuple[str, Callable[[], Any]]] = []
    out: dict[str, Any] = {}

    def put(name: str, fn: Callable[[], Any]) -> None:
        steps.append((name, lambda: out.__setitem__(name, fn())))

    put("calendar", b.calendar)
    put("catalogue", b.catalogue)
    put("distributions", b.distributions)
    put("texts", b.texts)
    put("people", b.people)
    put("identifiers", b.identifiers)
    put("identity_links", b.identity_links)
    put("groups", b.groups)
    put("group_tables", b.groups_tables)
    put("sessions", b.sessions)
    put("live_tables", b.lives_tables)
    put("invitations", b.invitations)
    put("orders", b.orders)
    put("browse", b.browse)
    put("search", b.search)
    put("messages", b.messages)
    put("shares", b.shares)
    put("manual_tags", b.manual_tags)
    put("events", b.events)
    put("truth_people", b.truth_people)
    put("truth_identifiers", b.truth_identifiers)
    put("truth_lives", b.truth_lives)
    put("truth_groups", b.truth_groups)
    with Steps("linli synth", len(steps), enabled=progress, min_seconds=1.0) as bar:
        bar.note(f"drawing {config.people:,} people over {config.months} months")
        for name, fn in steps:
            with bar.step(name):
                fn()
    groups_df, members_df = out["group_tables"]
    lives_df, hosts_df = out["live_tables"]
    tables = {
        "events": out["events"],
        "identity_links": out["identity_links"],
        "items": _items_table(b),
        "groups": groups_df,
        "group_members": members_df,
        "live_sessions": lives_df,
        "hosts": hosts_df,
        "manual_tags": out["manual_tags"],
    }
    tables = {TABLES[k].name: _astype_schema(k, v) for k, v in tables.items()}
    live_truth, lives_truth = out["truth_lives"]
    truth = {
        "people": out["truth_people"],
        "identifiers": out["truth_identifiers"],
        "live_truth": live_truth,
        "lives": lives_truth,
        "groups": out["truth_groups"],
    }
    summary = _summary(config, tables, truth, b)
    return World(
        config=config,
        tables=tables,
        truth=truth,
        personas=personas_document(b.cast),
        summary=summary,
    )


def _items_table(b: _Builder) -> pd.DataFrame:
    """The SCHEMA items table of the drawn catalogue."""
    items = b.items
    return pd.DataFrame(
        {
            Col.ITEM_ID: items[Col.ITEM_ID].to_numpy(dtype=object),
            Col.NAME: items[Col.NAME].to_numpy(dtype=object),
            Col.CATEGORY: items[Col.CATEGORY].to_numpy(dtype=object),
            Col.PRICE: b.item_price,
            Col.SUBCATEGORY: items[Col.SUBCATEGORY].to_numpy(dtype=object),
            Col.ATTRIBUTES: items["attrs"].replace("", None).to_numpy(dtype=object),
            Col.SEASON: items[Col.SEASON].replace("", None).to_numpy(dtype=object),
        }
    )


def _astype_schema(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Column order of SCHEMA.md; strings as pandas `str`, quantity Int64, other numbers float."""
    spec = TABLES[name]
    out = df[list(spec.column_names)]  # copy-on-write: no data is copied here
    for c in spec.columns:
        if c.kind == "number":
            dtype: Any = pd.Int64Dtype() if c.name == Col.QUANTITY else np.dtype(np.float64)
        elif isinstance(out[c.name].dtype, pd.CategoricalDtype):
            continue
        else:
            dtype = STRING_DTYPE
        if out[c.name].dtype != dtype:
            out[c.name] = out[c.name].astype(dtype)
    return out


def _rate(mask: pd.Series, col: pd.Series) -> float | None:
    return round(float(col[mask].mean()), 3) if mask.any() else None


def _summary(
    cfg: SynthConfig, tables: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame], b: _Builder
) -> dict[str, Any]:
    people = truth["people"]
    lt = truth["live_truth"]
    matched = lt[TruthCol.FIT] >= 0.9
    n_events = len(tables["events"])
    return {
        "config": cfg.logged(),
        "window": [b.start.date().isoformat(), b.end_day.date().isoformat()],
        "holidays_in_window": b.holidays,
        "rows": {k: int(len(v)) for k, v in tables.items()},
        "truth_rows": {k: int(len(v)) for k, v in truth.items()},
        "events_per_person": round(n_events / max(cfg.people, 1), 1),
        "event_types": {t: int(c) for t, c in zip(EVENT_TYPES, b.type_counts, strict=True)},
        "persona_counts": people[TruthCol.PERSONA]
        .value_counts()
        .sort_index()
        .astype(int)
        .to_dict(),
        **b.basket_stats,
        "lives": int(len(truth["lives"])),
        "live_view_rate_matched": _rate(matched, lt[TruthCol.VIEWED]),
        "live_jielong_rate_matched": _rate(matched, lt[TruthCol.JOINED]),
        "live_view_rate_other": _rate(~matched, lt[TruthCol.VIEWED]),
        "live_jielong_rate_other": _rate(~matched, lt[TruthCol.JOINED]),
        **({"unlinked_ids": int(b.unlinked.sum())} if cfg.unlinked_share > 0 else {}),
    }


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
