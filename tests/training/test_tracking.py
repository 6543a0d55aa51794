"""MLflow tracking, registry aliases, the train and tune jobs, on a real temporary SQLite store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import run as build_features
from training.models import REGISTRY
from training.settings import Settings

N_USERS, N_ITEMS, N_ORDERS = 24, 12, 4


def write_world(root: Path) -> Path:
    """A SCHEMA data dir: users with 4 dated orders of 3 items each, a few views."""
    rng = np.random.default_rng(7)
    rows = []
    start = pd.Timestamp("2026-03-01T09:00:00+08:00")
    for u in range(N_USERS):
        fav = rng.choice(N_ITEMS, 4, replace=False)
        for o in range(N_ORDERS):
            ts = start + pd.Timedelta(days=10 * o + u % 5)
            items = set(rng.choice(fav, 2, replace=False)) | {int(rng.integers(N_ITEMS))}
            for i in items:
                rows.append((f"e{u}-{o}-{i}", ts, "order", "wecom", f"w{u}", f"i{i}", f"o{u}-{o}"))
            rows.append(
                (
                    f"v{u}-{o}",
                    ts - pd.Timedelta(hours=1),
                    "view",
                    "wecom",
                    f"w{u}",
                    f"i{fav[0]}",
                    "",
                )
            )
    cols = ["event_id", "ts", "event_type", "id_type", "id_value", "item_id", "order_id"]
    data = root / "data"
    data.mkdir(parents=True)
    ev = pd.DataFrame(rows, columns=cols)
    ev["ts"] = ev["ts"].map(lambda t: t.isoformat())
    ev.to_csv(data / "events.csv", index=False)
    return data


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A feature store built by the real feature job."""
    root = tmp_path_factory.mktemp("world")
    store = root / "store"
    build_features(write_world(root), store, Settings(work_dir=root / "w"), progress=False)
    return store


def empty_mlflow_db(factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow SQLite file shared by the session (creating one takes seconds)."""
    import mlflow

    db = factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not db.exists():
        db.parent.mkdir(exist_ok=True)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template store, copied by each test."""
    return empty_mlflow_db(tmp_path_factory)


@pytest.fixture
def tracked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> Settings:
    """Settings whose MLflow store is a fresh SQLite file under tmp_path (cwd = tmp_path)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "work").mkdir()
    shutil.copy(empty_store, tmp_path / "work" / "mlflow.db")
    monkeypatch.setenv("LINLI_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(
        REGISTRY, "popularity", REGISTRY.get("popularity", "training.models.popularity:Popularity")
    )
    yield Settings(work_dir=tmp_path / "work")
    import mlflow

    while mlflow.active_run():
        mlflow.end_run()


def test_log_register_alias_and_load(world: Path, tracked: Settings, tmp_path: Path) -> None:
    import mlflow

    from training import tracking
    from training.models import build_model
    from training.train import load_matrix

    data = load_matrix(world)
    model = build_model("popularity").fit(data)
    with tracking.run("unit", tracked) as run_id:
        rec = tracking.log_training(
            model, data, world / "matrix", {"recall_at_10": 0.5}, 0.01, tracked, alias="challenger"
        )
    assert rec.run_id == run_id and rec.logged.version == "1"
    assert tracking.alias_version("challenger", tracked) == "1"
    assert tracking.alias_version("champion", tracked) is None
    tracking.set_alias("champion", 1, tracked)
    assert tracking.alias_version("champion", tracked) == "1"

    r = mlflow.MlflowClient().get_run(run_id)
    assert r.data.params["kind"] == "popularity"
    assert r.data.params["data.digest"] == tracking.matrix_digest(data)
    assert int(r.data.params["data.users"]) == data.shape[0]
    assert r.data.metrics["recall_at_10"] == 0.5 and "fit_seconds" in r.data.metrics
    assert (
        r.inputs.dataset_inputs and r.inputs.dataset_inputs[0].dataset.digest == rec.data["digest"]
    )
    # artifacts live under the work dir, never ./mlruns
    assert (tracked.work_dir / tracking.ARTIFACT_DIR).is_dir()
    assert not (tmp_path / "mlruns").exists()

    loaded = tracking.load_recommender(alias="champion", settings=tracked)
    users = np.arange(data.shape[0])
    assert np.array_equal(loaded.model.recommend(users, 5)[0], model.recommend(users, 5)[0])
    assert loaded.users is not None and list(loaded.users.ids) == list(data.users.ids)
    frame = tracking.predict_frame(
        loaded.model,
        loaded.users,
        loaded.items,
        pd.DataFrame({"user_id": ["wecom:w1", "nobody"]}),
        3,
    )
    assert frame["user_id"].unique().tolist() == ["wecom:w1"] and len(frame) == 3

    table = tracking.versions(tracked)
    assert table.loc[0, "aliases"] == "challenger,champion" and table.loc[0, "kind"] == "popularity"


def test_pyfunc_predict(world: Path, tracked: Settings) -> None:
    import mlflow.pyfunc

    from training import tracking
    from training.models import build_model
    from training.train import load_matrix

    data = load_matrix(world)
    model = build_model("popularity").fit(data)
    with tracking.run("pyfunc", tracked):
        logged = tracking.log_recommender(model, data, tracked, register=False)
    assert logged.version is None
    pf = mlflow.pyfunc.load_model(logged.model_uri)
    out = pf.predict(pd.DataFrame({"user_id": ["wecom:w0", "wecom:w2"]}), params={"k": 4})
    assert len(out) == 8 and set(out["item_id"]) <= set(data.items.ids)


def test_train_cli_registers_and_alias_cli(
    world: Path, tracked: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import mlflow

    from training import tracking
    from training.train import main

    assert main(["--model", "popularity", "--features", str(world), "--alias", "challenger"]) == 0
    out = capsys.readouterr().out
    assert "registered version 1, alias challenger" in out
    assert tracking.main(["set", "--version", "1", "--alias", "champion"]) == 0
    assert tracking.alias_version("champion", tracked) == "1"
    assert tracking.main(["show"]) == 0
    assert "champion" in capsys.readouterr().out
    assert tracking.main(["set", "--version", "99", "--alias", "champion"]) == 2

    runs = mlflow.search_runs(experiment_names=[tracked.tracking.experiment + "-training"])
    row = runs.iloc[0]
    for k in (5, 10, 20):  # holdout metrics at every k, named like every other run
        assert np.isfinite(row[f"metrics.recall_at_{k}"]) and np.isfinite(
            row[f"metrics.ndcg_at_{k}"]
        )
    assert row["params.holdout"] == "next-basket"
    found = tracking.search_runs(f"tags.`{tracking.TAG_RUN_TYPE}` = 'training'", tracked)
    assert found["run_id"].tolist() == [row["run_id"]]
    assert tracking.run_data(row["run_id"], tracked)["params"]["kind"] == "popularity"
    with pytest.raises(SystemExit) as unknown:  # argparse names the kinds
        main(["--model", "nope", "--features", str(world)])
    assert unknown.value.code == 2


def test_train_temporal_holdout(world: Path, tracked: Settings) -> None:
    from training.train import train

    out = train(
        "popularity", world, {}, tracked, holdout="temporal", holdout_days=12, register=False
    )
    assert out.holdout["split"] == "temporal" and out.holdout["eval_users"] > 0
    assert out.version is None and 0 <= out.metrics["recall_at_10"] <= 1


def test_tune_nested_runs_resume_and_register(world: Path, tracked: Settings) -> None:
    import mlflow

    from experiments.tune import tune

    s1 = tune("popularity", 2, tracked, features=world, study_name="pop", alias="challenger")
    assert s1["trials_total"] == 2 and s1["version"] == "1"
    s2 = tune("popularity", 1, tracked, features=world, study_name="pop", register=False)
    assert s2["trials_total"] == 3  # resumed from the SQLite study
    runs = mlflow.search_runs(experiment_names=[tracked.tracking.experiment + "-tuning"])
    trials = runs[runs["tags.linli.run_type"] == "tune-trial"]
    assert len(trials) == 3
    parents = set(runs.loc[runs["tags.linli.run_type"] == "tune", "run_id"])
    assert set(trials["tags.mlflow.parentRunId"]) <= parents
    assert trials["metrics.ndcg_at_10"].notna().all()
    assert (tracked.work_dir / "optuna.db").exists()
