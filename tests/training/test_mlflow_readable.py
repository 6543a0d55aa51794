"""MLflow that reads at a glance: one experiment per kind of job, run names with model, version
and alias, champion / challenger as run tags and version descriptions (real SQLite store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.build import run as build_features
from training import mlflow_layout as layout
from training.settings import Settings


def test_layout_names() -> None:
    assert layout.experiment_name("linli", "ab") == "linli-ab"
    assert layout.experiment_kind("tune-trial") == "tuning"
    assert layout.experiment_kind("report") == "reports"
    assert layout.experiment_kind(None) == "training"
    assert layout.version_label("blend", 3, ["challenger", "champion"]) == (
        "blend v3 @champion @challenger"
    )
    assert layout.version_label("als", None) == "als"
    assert layout.role_of(["x", "challenger"]) == "challenger"
    with pytest.raises(ValueError, match="unknown experiment kind"):
        layout.experiment_name("linli", "misc")


def test_runs_land_in_their_experiments_and_alias_moves_relabel(
    tiny_data: Path, tracked: Settings
) -> None:
    import mlflow

    from training import promotion, tracking
    from training.train import train

    features = tracked.work_dir / "features"
    build_features(tiny_data, features, tracked, progress=False)
    v1 = train("popularity", features, {}, tracked, alias="champion", holdout="none")
    v2 = train("p_topfreq", features, {}, tracked, alias="challenger", holdout="none")
    assert (v1.version, v2.version) == ("1", "2")
    for run_type in ("tune", "leaderboard", "matching", "ab", "online-ab", "report"):
        with tracking.run(f"a {run_type} run", tracked, tags={tracking.TAG_RUN_TYPE: run_type}):
            pass

    client = mlflow.MlflowClient()
    base = tracked.tracking.experiment
    by_exp: dict[str, set[str]] = {}
    for exp in client.search_experiments():
        runs = client.search_runs([exp.experiment_id])
        by_exp[exp.name] = {r.data.tags.get(tracking.TAG_RUN_TYPE, "") for r in runs}
    assert by_exp[f"{base}-training"] == {"training"}
    assert by_exp[f"{base}-tuning"] == {"tune"}
    assert by_exp[f"{base}-evaluation"] == {"leaderboard"}
    assert by_exp[f"{base}-matching"] == {"matching"}
    assert by_exp[f"{base}-ab"] == {"ab", "online-ab"}
    assert by_exp[f"{base}-reports"] == {"report"}
    assert not by_exp.get(base)  # nothing left in a catch-all experiment
    found = tracking.search_runs(f"tags.`{tracking.TAG_RUN_TYPE}` = 'report'", tracked)
    assert len(found) == 1  # consumers search every Linli experiment

    def run_of(outcome: object) -> tuple[str, dict[str, str]]:
        r = client.get_run(outcome.run_id)  # type: ignore[attr-defined]
        return r.info.run_name, r.data.tags

    assert run_of(v1)[0] == "popularity v1 @champion"
    name2, tags2 = run_of(v2)
    assert name2 == "p_topfreq v2 @challenger" and tags2[tracking.TAG_ROLE] == "challenger"
    model = tracked.tracking.registered_model
    assert "challenger since" in client.get_model_version(model, "2").description

    promotion.finish({"version": "2"}, tracked)  # what a retrain does when v2 wins
    name1, tags1 = run_of(v1)
    name2, tags2 = run_of(v2)
    assert name1 == "popularity v1" and tags1[tracking.TAG_ROLE] == ""
    assert name2 == "p_topfreq v2 @champion" and tags2[tracking.TAG_ROLE] == "champion"
    assert tags2[tracking.TAG_VERSION] == "2" and tags2[tracking.TAG_ALIASES] == "champion"
    d1 = client.get_model_version(model, "1").description
    d2 = client.get_model_version(model, "2").description
    assert "was champion until" in d1 and "replaced by v2" in d1
    assert d2.startswith("p_topfreq v2 @champion") and "champion since" in d2
    assert "replaced v1" in d2
