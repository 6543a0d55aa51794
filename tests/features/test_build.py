"""The feature job end to end on the tiny data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features import store_layout as store
from features.build import run
from features.matrix import Interactions
from features.settings import Settings
from features.validate import SchemaError


@pytest.fixture
def built(tiny_data: Path, settings: Settings, tmp_path: Path) -> Path:
    out = tmp_path / "fs"
    run(tiny_data, out, settings, progress=False)
    return out


def test_summary_counts_every_row(built: Path) -> None:
    s = json.loads((built / store.SUMMARY).read_text())
    for c in s["tables"].values():
        assert c["read"] == c["kept"] + c["rejected"]
    assert s["tables"]["events"]["read"] == 10
    assert s["tables"]["events"]["rejected"] == 1  # the repeated e2


def test_repeated_event_id_is_one_event(built: Path) -> None:
    ev = pd.read_parquet(built / store.EVENTS)
    assert ev["event_id"].is_unique
    rej = pd.read_csv(store.rejects_path(built, "events"))
    assert rej["reason"].str.startswith("repeated event_id").all()


def test_linked_identifiers_become_one_user_with_wecom_id(built: Path) -> None:
    ident = pd.read_parquet(built / store.IDENTITY)
    alice = ident[ident["id_value"].isin(["o-alice", "13800000001", "w-alice"])]
    assert set(alice["user_id"]) == {"wecom:w-alice"}
    s = json.loads((built / store.SUMMARY).read_text())
    assert s["users_after_unification"] == 3


def test_manual_allergy_becomes_tag_and_constraint(built: Path) -> None:
    tags = pd.read_parquet(built / store.TAGS)
    carol = tags[tags["user_id"] == "wecom:w-carol"]
    assert ("allergy:mango", "manual") in set(zip(carol["tag"], carol["source"], strict=True))
    cons = pd.read_parquet(built / store.CONSTRAINTS)
    assert set(cons.loc[cons["user_id"] == "wecom:w-carol", "item_id"]) == {"mango", "puree"}


def test_search_text_gives_interest_tag(built: Path) -> None:
    tags = pd.read_parquet(built / store.TAGS)
    assert "interest:fitness" in set(tags.loc[tags["user_id"] == "wecom:w-alice", "tag"])
    assert "interest:baby" in set(tags.loc[tags["user_id"] == "wecom:w-carol", "tag"])


def test_matrix_round_trips(built: Path) -> None:
    m = Interactions.load(built / store.MATRIX_DIR)
    assert m.shape == (3, 5)
    a = m.users.index(["wecom:w-alice"])[0]
    c = m.items.index(["chicken"])[0]
    assert m.purchases[a, c] == 2  # the order and the 接龙
    assert m.weights[a, c] > m.weights[a, m.items.index(["avocado"])[0]]


def test_rerun_keeps_user_ids(built: Path, tiny_data: Path, settings: Settings) -> None:
    before = pd.read_parquet(built / store.IDENTITY)
    run(tiny_data, built, settings, progress=False)
    after = pd.read_parquet(built / store.IDENTITY)
    pd.testing.assert_frame_equal(before, after)


def test_missing_required_column_names_file_and_column(
    tiny_data: Path, settings: Settings, tmp_path: Path
) -> None:
    ev = pd.read_csv(tiny_data / "events.csv").drop(columns=["event_type"])
    ev.to_csv(tiny_data / "events.csv", index=False)
    with pytest.raises(SchemaError, match=r"events\.csv.*event_type"):
        run(tiny_data, tmp_path / "fs2", settings, progress=False)


def test_missing_events_table_stops_the_job(tmp_path: Path, settings: Settings) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SchemaError, match="required table 'events'"):
        run(tmp_path / "empty", tmp_path / "fs3", settings, progress=False)
