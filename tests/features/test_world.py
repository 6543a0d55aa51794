"""The feature job on a synthetic world of 10,000 people, checked against its ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments.checks.corrupt import corrupt_dir
from features import store_layout as store
from features.build import run
from features.identity import id_keys
from features.settings import Settings
from features.synth import SynthConfig, TruthCol, generate, write_world

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_world(
        generate(SynthConfig(people=10_000, months=6, seed=11), progress=False), out, "parquet"
    )
    return out


@pytest.fixture(scope="module")
def built(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("features")
    run(world / "data", out, Settings(work_dir=out / "work"), progress=False)
    return out


@pytest.fixture(scope="module")
def person_of_user(world: Path, built: Path) -> pd.DataFrame:
    truth = pd.read_parquet(world / "truth" / "identifiers.parquet")
    truth["key"] = id_keys(truth["id_type"], truth["id_value"])
    ident = pd.read_parquet(built / store.IDENTITY)
    ident["key"] = id_keys(ident["id_type"], ident["id_value"])
    return truth.merge(ident[["key", "user_id"]], on="key", how="left")


def test_every_true_identifier_is_unified(person_of_user: pd.DataFrame) -> None:
    assert person_of_user["user_id"].notna().all()


def test_unified_users_equal_true_people(person_of_user: pd.DataFrame, world: Path) -> None:
    people = pd.read_parquet(world / "truth" / "people.parquet")
    users_per_person = person_of_user.groupby(TruthCol.PERSON_ID)["user_id"].nunique()
    persons_per_user = person_of_user.groupby("user_id")[TruthCol.PERSON_ID].nunique()
    assert (users_per_person == 1).all()
    assert (persons_per_user == 1).all()
    assert persons_per_user.size == len(people) == 10_000


def test_wecom_is_the_user_id_when_the_person_has_one(person_of_user: pd.DataFrame) -> None:
    wecom = person_of_user[person_of_user["id_type"] == "wecom"]
    assert (wecom["user_id"] == "wecom:" + wecom["id_value"]).all()


def test_every_allergy_note_is_a_tag(
    world: Path, built: Path, person_of_user: pd.DataFrame
) -> None:
    manual = pd.read_parquet(world / "data" / "manual_tags.parquet")
    allergies = manual[manual["tag"].str.startswith("allergy:")]
    assert len(allergies) > 0
    allergies = allergies.assign(key=id_keys(allergies["id_type"], allergies["id_value"]))
    want = allergies.merge(person_of_user[["key", "user_id"]].drop_duplicates(), on="key")[
        ["user_id", "tag"]
    ]
    assert len(want) == len(allergies)
    tags = pd.read_parquet(built / store.TAGS)
    have = set(zip(tags["user_id"], tags["tag"], strict=True))
    missing = [p for p in zip(want["user_id"], want["tag"], strict=True) if p not in have]
    assert missing == []


def test_allergic_people_never_bought_what_they_are_allergic_to(built: Path) -> None:
    cons = pd.read_parquet(built / store.CONSTRAINTS)
    bask = pd.read_parquet(built / store.BASKETS)
    hits = bask.merge(cons, on=["user_id", "item_id"])
    assert hits.empty


def test_broken_rows_are_rejected_with_reasons_and_counted(world: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    write_world(
        generate(SynthConfig(people=600, months=2, seed=5), progress=False), small, "parquet"
    )
    truth = corrupt_dir(small / "data", tmp_path / "broken", rate=0.01, seed=3)
    summary = run(
        tmp_path / "broken", tmp_path / "fs", Settings(work_dir=tmp_path / "w"), progress=False
    )
    for table, ways in truth.items():
        counts = summary["tables"][table]
        assert counts["read"] == counts["kept"] + counts["rejected"]
        rejects = pd.read_csv(store.rejects_path(tmp_path / "fs", table), dtype=str)
        broken = sum(len(rows) for rows in ways.values())
        assert counts["rejected"] == broken, table
        assert rejects["reason"].notna().all()
        sent = pd.read_csv(tmp_path / "broken" / f"{table}.csv", dtype=str, keep_default_na=False)
        positions = sorted(r for rows in ways.values() for r in rows)
        expected = sent.iloc[positions].reset_index(drop=True)
        got = rejects.drop(columns="reason").fillna("")[expected.columns]
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
