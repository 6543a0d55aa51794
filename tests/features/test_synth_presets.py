"""Named synthetic worlds far from the default (`linli synth --preset NAME`) and their knobs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.identity import normalize_id_type, normalize_id_value
from features.schema import PURCHASE_EVENTS, Col, EventType
from features.synth import (
    PERSONA_KEYS,
    PERSONA_LIBRARY,
    PRESETS,
    SynthConfig,
    TruthCol,
    World,
    generate,
    main,
    preset_config,
)

SIZE = {"people": 600, "items": 300, "seed": 11}
MONTHS = 3  # unless the preset sets its own history length
# the default world must not move when knobs are added or the generator is reorganised:
# digest of every table of SynthConfig(people=200, months=2, items=200, seed=5)
DEFAULT_DIGEST = "165520ff5e1221aecc008a9308ee30f3102f3208f025f3be76961e4198f29bec"


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    """The default world and every preset at one small size and seed."""
    out = {"default": generate(preset_config(None, months=MONTHS, **SIZE))}
    for name, fields in PRESETS.items():
        months = {} if "months" in fields else {"months": MONTHS}
        out[name] = generate(preset_config(name, **months, **SIZE))
    return out


def _keys(id_type: pd.Series, id_value: pd.Series) -> pd.Series:
    """`type:value` keys in the feature job's own canonical form."""
    return normalize_id_type(id_type) + ":" + normalize_id_value(id_type, id_value)


def _persona_of_events(world: World) -> pd.Series:
    """True persona behind each event (every written id maps to a person in the truth)."""
    ids = world.truth["identifiers"]
    person = dict(
        zip(_keys(ids[Col.ID_TYPE], ids[TruthCol.NORMALIZED]), ids[TruthCol.PERSON_ID], strict=True)
    )
    persona = world.truth["people"].set_index(TruthCol.PERSON_ID)[TruthCol.PERSONA]
    ev = world.events
    return _keys(ev[Col.ID_TYPE], ev[Col.ID_VALUE]).map(person).map(persona)


def _basket_similarity(world: World) -> float:
    """Mean pairwise cosine similarity of the personas' subcategory purchase mixes."""
    ev = world.events
    persona = _persona_of_events(world)
    buys = ev[Col.EVENT_TYPE].isin(PURCHASE_EVENTS)
    sub = world.tables["items"].set_index(Col.ITEM_ID)[Col.SUBCATEGORY]
    mix = pd.crosstab(persona[buys], ev.loc[buys, Col.ITEM_ID].map(sub)).to_numpy(float)
    unit = mix / np.linalg.norm(mix, axis=1, keepdims=True)
    sim = unit @ unit.T
    return float(sim[np.triu_indices_from(sim, k=1)].mean())


def _keyword_share(world: World) -> float:
    """Share of searches holding one of their searcher's persona keywords."""
    ev = world.events
    persona = _persona_of_events(world)
    words = {p.key: p.keywords for p in PERSONA_LIBRARY}
    s = ev[Col.EVENT_TYPE] == EventType.SEARCH
    hits = [
        any(k in str(text) for k in words[p])
        for text, p in zip(ev.loc[s, Col.TEXT], persona[s], strict=True)
    ]
    return float(np.mean(hits))


def test_preset_names_and_overrides() -> None:
    assert set(PRESETS) == {"overlap", "many", "sparse", "noisy"}
    assert preset_config() == SynthConfig()
    assert preset_config("default", seed=3) == SynthConfig(seed=3)
    assert preset_config("sparse").months == 2
    assert preset_config("sparse", months=4).months == 4
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        preset_config("tiny")


def test_every_preset_has_the_true_persona_of_every_person(worlds: dict[str, World]) -> None:
    for name, world in worlds.items():
        people = world.truth["people"]
        assert len(people) == SIZE["people"], name
        keys = [p["key"] for p in world.personas["personas"]]
        assert people[TruthCol.PERSONA].notna().all(), name
        assert set(people[TruthCol.PERSONA]) <= set(keys), name
        assert world.personas["fit_matrix"]["rows"] == keys, name
        assert _persona_of_events(world).notna().all(), name


def test_many_has_ten_personas(worlds: dict[str, World]) -> None:
    assert worlds["default"].truth["people"][TruthCol.PERSONA].nunique() == len(PERSONA_KEYS)
    many = worlds["many"].truth["people"][TruthCol.PERSONA]
    assert many.nunique() == 10
    extra = many[~many.isin(PERSONA_KEYS)]
    assert len(extra) > 0.2 * len(many)
    # the extras behave like personas: their searches carry their own keywords
    assert _keyword_share(worlds["many"]) > 0.5


def test_overlap_makes_baskets_alike(worlds: dict[str, World]) -> None:
    base, overlap = _basket_similarity(worlds["default"]), _basket_similarity(worlds["overlap"])
    assert overlap > base + 0.15, (base, overlap)
    # motives still differ: the price-driven pay less per line than the premium families
    world = worlds["overlap"]
    ev = world.events
    persona = _persona_of_events(world)
    buys = ev[Col.EVENT_TYPE].isin(PURCHASE_EVENTS)
    price = world.tables["items"].set_index(Col.ITEM_ID)[Col.PRICE]
    by = ev.loc[buys, Col.ITEM_ID].map(price).groupby(persona[buys]).mean()
    assert by["price_sensitive"] < 0.8 * by["premium_family"]


def test_sparse_histories_are_short_and_thin(worlds: dict[str, World]) -> None:
    sparse, base = worlds["sparse"], worlds["default"]
    assert sparse.summary["window"][0] > base.summary["window"][0]
    assert sparse.summary["events_per_person"] < 0.3 * base.summary["events_per_person"]


def test_noisy_has_unlinkable_ids_and_keyword_free_text(worlds: dict[str, World]) -> None:
    noisy, base = worlds["noisy"], worlds["default"]
    links = len(noisy.tables["identity_links"]) / len(base.tables["identity_links"])
    assert links < 0.7
    assert noisy.summary["unlinked_ids"] > 0.2 * noisy.truth["people"][TruthCol.N_IDS].sum()
    assert _keyword_share(noisy) < 0.6 * _keyword_share(base)


def test_default_world_is_unchanged() -> None:
    """Content digest of a small default world, fixed before the knobs were added."""
    world = generate(SynthConfig(people=200, months=2, items=200, seed=5))
    h = hashlib.sha256()
    truth = [(f"truth/{k}", v) for k, v in world.truth.items()]
    for name, df in sorted([*world.tables.items(), *truth], key=lambda kv: kv[0]):
        h.update(name.encode())
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    h.update(json.dumps(world.personas, ensure_ascii=False, sort_keys=True).encode())
    assert h.hexdigest() == DEFAULT_DIGEST


def test_cli_preset_with_override(tmp_path: Path) -> None:
    out = tmp_path / "w"
    args = ["--preset", "sparse", "--people", "150", "--months", "1", "--seed", "2"]
    assert main([*args, "--items", "150", "--out", str(out), "--quiet"]) == 0
    cfg = json.loads((out / "truth" / "config.json").read_text(encoding="utf-8"))
    assert cfg["months"] == 1 and cfg["activity_scale"] == 0.3 and cfg["people"] == 150
    people = pd.read_parquet(out / "truth" / "people.parquet")
    assert people[TruthCol.PERSONA].notna().all()
    assert main(["--preset", "noisy", "--text-noise", "2", "--out", str(out)]) == 2
