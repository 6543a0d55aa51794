"""Every fitted value in MLflow: the registered blend's logged `fitted.*` params match the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from loop_world import loop_world

from training.settings import Settings


@pytest.mark.slow
def test_reloaded_blend_agrees_with_its_logged_params(
    tracked: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from training import tracking
    from training.train import train

    features = loop_world(tmp_path_factory.getbasetemp()) / "features"
    out = train("blend", features, settings=tracked, alias="champion")
    loaded = tracking.load_recommender(alias="champion", settings=tracked)
    params = tracking.run_data(loaded.run_id, tracked)["params"]
    model = loaded.model
    assert params["weight"] == "None"  # the config leaves the mix to the fit ...
    fitted = {k.removeprefix("fitted."): v for k, v in params.items() if k.startswith("fitted.")}
    assert float(fitted["weight"]) == pytest.approx(model.weight_)  # ... and the fit is logged
    assert float(fitted["base_share"]) == pytest.approx(model.base_share_)
    half = fitted["half_life_days"]
    assert (half == "None") if model.half_life_ is None else float(half) == pytest.approx(model.half_life_)  # fmt: skip
    assert fitted["chosen_by"] == "inner holdout"
    assert int(fitted["n_users"]) == model.n_users and int(fitted["n_items"]) == model.n_items
    assert out.version == loaded.version
    assert Path(features).exists()
