"""One settings object assembled layer by layer: features -> serving -> training (the whole)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features import settings as feature_settings
from serving import settings as serving_settings
from training import settings as training_settings


def test_each_layer_adds_its_own_section() -> None:
    f, s, t = feature_settings.Settings(), serving_settings.Settings(), training_settings.Settings()
    assert {"work_dir", "seed", "features", "store"} == set(type(f).model_fields)
    assert set(type(s).model_fields) - set(type(f).model_fields) == {"serving"}
    assert set(type(t).model_fields) - set(type(s).model_fields) == {"tracking"}
    assert isinstance(t, serving_settings.Settings) and isinstance(s, feature_settings.Settings)
    assert t.store_url == s.store_url == f.store_url


def test_one_naming_scheme_for_every_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINLI_SEED", "7")
    monkeypatch.setenv("LINLI_FEATURES__HALF_LIFE_DAYS", "30")
    monkeypatch.setenv("LINLI_SERVING__WORKERS", "3")
    monkeypatch.setenv("LINLI_SERVING__ACCESS_LOG", "0")
    monkeypatch.setenv("LINLI_TRACKING__EXPERIMENT", "exp-x")
    t = training_settings.load_settings()
    assert (t.seed, t.features.half_life_days, t.serving.workers) == (7, 30.0, 3)
    assert t.serving.access_log is False and t.tracking.experiment == "exp-x"
    s = serving_settings.load_settings()
    assert (s.seed, s.serving.workers, s.serving.access_log) == (7, 3, False)


def test_the_older_serving_names_still_work_and_lose_to_the_scheme(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LINLI_SERVING_ACCESS_LOG", "0")
    monkeypatch.setenv("LINLI_SERVING_METRICS", "0")
    s = serving_settings.load_settings()
    assert s.serving.access_log is False and s.serving.metrics is False
    monkeypatch.setenv("LINLI_SERVING__METRICS", "1")
    assert serving_settings.load_settings().serving.metrics is True


def test_a_config_file_with_every_section_loads_at_every_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "linli.yaml"
    cfg.write_text(
        "seed: 5\nfeatures: {half_life_days: 10}\nserving: {workers: 2}\n"
        "tracking: {experiment: from-file}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LINLI_CONFIG", str(cfg))
    assert feature_settings.load_settings().features.half_life_days == 10.0
    assert serving_settings.load_settings().serving.workers == 2
    t = training_settings.load_settings(seed=9)
    assert (t.seed, t.tracking.experiment) == (9, "from-file")
