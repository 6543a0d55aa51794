"""What the report reads: the feature store, the segments and the MLflow registry (I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from features import store_layout as store
from features.schema import Col
from training.settings import Settings


# -- inputs (I/O) -------------------------------------------------------------------------------------
@dataclass
class ReportData:
    """What the report reads, loaded once."""

    events: pd.DataFrame
    baskets: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame
    lives: pd.DataFrame
    members: pd.DataFrame
    groups: pd.DataFrame
    segment_of: pd.Series  # user_id -> segment name
    segment_source: str
    summary: dict[str, Any] = field(default_factory=dict)


def _read(features: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    p = features / name
    if not p.exists():
        return pd.DataFrame(columns=columns or [])
    if columns:
        import pyarrow.parquet as pq

        have = set(pq.read_schema(p).names)
        columns = [c for c in columns if c in have]
    return pd.read_parquet(p, columns=columns)


def segments_for(
    features: Path, matching: Path | None, users: pd.DataFrame
) -> tuple[pd.Series, str]:
    """user_id -> segment name: discovered segments when found, else the value tier."""
    for folder in [matching, features.resolve().parent / "matching"]:
        if folder is not None and (folder / "segments.parquet").exists():
            seg = pd.read_parquet(folder / "segments.parquet")
            col = Col.SEGMENT_NAME if Col.SEGMENT_NAME in seg.columns else Col.SEGMENT_ID
            s = pd.Series(seg[col].astype(str).to_numpy(), index=seg[Col.USER_ID].astype(str))
            return s[~s.index.duplicated()], f"discovered segments ({folder / 'segments.parquet'})"
    tiers = users.get("value_tier", pd.Series("(none)", index=users.index)).astype(str)
    s = pd.Series(("tier " + tiers).to_numpy(), index=users[Col.USER_ID].astype(str))
    return s, "value tier (no segments.parquet; run `linli segments`)"


def load_report_data(features: Path | str, matching: Path | None = None) -> ReportData:
    """Read the feature store tables the report needs."""
    features = Path(features)
    if not (features / store.EVENTS).exists():
        raise FileNotFoundError(f"no feature store at {features} (run `linli features build`)")
    ev_cols = [
        Col.TS,
        Col.EVENT_TYPE,
        Col.USER_ID,
        Col.ITEM_ID,
        Col.LIVE_ID,
        Col.GROUP_ID,
        Col.AMOUNT,
        Col.ORDER_ID,
    ]
    events = _read(features, store.EVENTS, ev_cols)
    users = _read(features, store.USERS)
    seg, source = segments_for(features, matching, users)
    summary = (
        json.loads((features / store.SUMMARY).read_text())
        if (features / store.SUMMARY).exists()
        else {}
    )
    return ReportData(
        events=events,
        baskets=_read(features, store.BASKETS),
        items=_read(features, store.ITEMS),
        users=users,
        lives=_read(features, store.LIVE_SESSIONS),
        members=_read(features, store.GROUP_MEMBERS),
        groups=_read(features, store.GROUPS),
        segment_of=seg,
        segment_source=source,
        summary=summary,
    )


def model_health(settings: Settings) -> dict[str, Any]:
    """Registry versions, the champion's run, the latest retrain and A/B runs (empty without MLflow)."""
    from training import tracking

    out: dict[str, Any] = {}
    try:
        table = tracking.versions(settings)
    except Exception as exc:  # no store / no registered model: the section says so
        return {"error": f"{type(exc).__name__}: {exc}"}
    out["versions"] = table
    champ = tracking.alias_version("champion", settings)
    out["champion"] = champ
    if champ is not None:
        row = table[table["version"].astype(str) == champ]
        if len(row) and row.iloc[0]["run_id"]:
            out["champion_run"] = tracking.run_data(row.iloc[0]["run_id"], settings)
            out["champion_created"] = str(row.iloc[0]["created"])
            out["champion_kind"] = row.iloc[0]["kind"]
    for kind in ("retrain", "ab", "online-ab"):
        try:
            runs = tracking.search_runs(f"tags.`{tracking.TAG_RUN_TYPE}` = '{kind}'", settings, 5)
        except Exception:  # older stores without the tag
            runs = pd.DataFrame()
        out[f"runs_{kind}"] = runs
    return out
