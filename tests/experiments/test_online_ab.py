"""Online A/B: attribution, delta-method statistics, and serve -> exposures -> later events -> report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from loop_world import loop_world

from experiments import online_ab as O
from training.settings import Settings

pytestmark = pytest.mark.timeout(180)
T0 = pd.Timestamp("2026-11-01T10:00:00Z")


def exposure(rid: str, user: str, variant: str, items: list[str], hours: float = 0.0) -> dict:
    return {
        "request_id": rid,
        "ts": (T0 + pd.Timedelta(hours=hours)).isoformat(),
        "endpoint": "rank_user",
        "user_id": user,
        "variant": variant,
        "model_version": "1" if variant == "champion" else "2",
        "items": items,
    }


def event(user: str, item: str, kind: str, hours: float, amount: float | None = None) -> dict:
    return {
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "ts": T0 + pd.Timedelta(hours=hours),
        "amount": amount,
    }


def test_attribution_is_last_touch_within_the_window_and_on_shown_items() -> None:
    ex = pd.DataFrame(
        [
            exposure("r1", "u1", "champion", ["a", "b"], 0),
            exposure("r2", "u1", "champion", ["b", "c"], 5),
            exposure("r3", "u2", "challenger", ["a"], 0),
            {**exposure("r4", None, "champion", ["a"]), "endpoint": "rank_group"},  # type: ignore[arg-type]
        ]
    )
    ev = pd.DataFrame(
        [
            event("u1", "a", "click", 1),  # r1
            event("u1", "b", "order", 6, 30.0),  # r2 (latest exposure showing b)
            event("u1", "c", "order", 200, 99.0),  # outside the 72 h window
            event("u1", "z", "order", 6, 50.0),  # never shown
            event("u2", "a", "click", -1),  # before the exposure
            event("u2", "a", "jielong", 2, 12.5),  # r3
        ]
    )
    per = O.attribute(ex, ev, window_hours=72).set_index("variant", append=True)
    assert len(per) == 3  # the group list has no person
    rows = per.reset_index().set_index("exposure")
    assert rows.loc[0, ["clicked", "converted", "revenue"]].tolist() == [True, False, 0.0]
    assert rows.loc[1, ["clicked", "converted", "revenue"]].tolist() == [False, True, 30.0]
    assert rows.loc[2, ["clicked", "converted", "revenue"]].tolist() == [False, True, 12.5]


def test_delta_method_equals_binomial_variance_with_one_exposure_per_user() -> None:
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 0], float)
    r, var = O.ratio_delta(y, np.ones_like(y))
    assert r == pytest.approx(0.4) and var == pytest.approx(y.var(ddof=1) / len(y))


def test_analyse_flags_a_sample_ratio_mismatch() -> None:
    per = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(400)],
            "variant": ["champion"] * 300 + ["challenger"] * 100,
            "clicked": np.arange(400) % 3 == 0,
            "converted": np.arange(400) % 5 == 0,
            "revenue": np.where(np.arange(400) % 5 == 0, 20.0, 0.0),
        }
    )
    res = O.analyse(per, n_boot=200, challenger_share=0.5)
    assert res.info["srm_p_value"] < 1e-6
    assert set(res.diffs["metric"]) == set(O.METRICS)
    ok = O.analyse(per, n_boot=200, challenger_share=0.25)
    assert ok.info["srm_p_value"] > 0.05


# -- end to end: the real server, its exposure log, simulated later events ---------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Champion p_topfreq vs a popularity-only challenger served 50/50 over HTTP to warm users."""
    from serving.cli import free_port, server_env, start_server, stop_server
    from training.evaluation.folds import features_fold
    from training.export import ExportVariant, export_bundle
    from training.models import build_model

    root = loop_world(tmp_path_factory.getbasetemp())
    feats = root / "features"
    tmp = tmp_path_factory.mktemp("online")
    fold = features_fold(feats, Settings(work_dir=tmp / "work"), holdout_days=21)
    variants = {
        name: ExportVariant(
            build_model(kind).fit(fold.train), {"version": v}, fold.train.users, fold.train.items
        )
        for name, kind, v in (("champion", "p_topfreq", "1"), ("challenger", "popularity", "2"))
    }
    bundle = export_bundle(feats, tmp / "bundle", variants)
    env = server_env(
        bundle,
        tmp / "work",
        workers=1,
        access_log=False,
        extra={
            "LINLI_SERVING__EXPERIMENT__ENABLED": "true",
            "LINLI_SERVING__EXPERIMENT__CHALLENGER_SHARE": "0.5",
            "LINLI_SERVING__EXPERIMENT__SALT": "online-test",
        },
    )
    port = free_port()
    proc = start_server(port, env, tmp / "server.log", timeout=150)
    answers = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
            for u in fold.eval_ids:
                r = c.post("/rank/user", json={"user": str(u), "k": 10})
                assert r.status_code == 200, r.text
                answers.append(r.json()["variant"])
    finally:
        stop_server(proc)
    truth = fold.truth.tocoo()  # what each person really bought after the cut = what they want
    relevant = pd.DataFrame(
        {
            "user_id": fold.eval_ids[truth.row].astype(str),
            "item_id": fold.train.items.ids[truth.col].astype(str),
        }
    )
    prices = pd.read_parquet(feats / "items.parquet").set_index("item_id")["price"]
    yield {
        "exposures": tmp / "work" / "exposures",
        "relevant": relevant,
        "prices": prices,
        "answers": answers,
        "features": feats,
    }


@pytest.mark.slow
def test_worse_challenger_is_detected_with_the_right_sign(
    served: dict, tracked: Settings, tmp_path: Path
) -> None:
    from serving.exposures import read_exposures

    ex = read_exposures(served["exposures"])
    assert len(ex) == len(served["answers"]) and set(ex["variant"]) == {"champion", "challenger"}
    events = O.simulate_responses(ex, served["relevant"], served["prices"], seed=3)
    path = tmp_path / "later_events.parquet"
    events.drop(columns=["user_id"]).to_parquet(
        path
    )  # raw SCHEMA events: ids resolved via identity
    res = O.run_analysis(
        served["exposures"],
        O.load_events(path, served["features"]),
        72,
        n_boot=500,
        challenger_share=0.5,
    )
    assert res.info["exposures_analysed"] == len(ex) and res.info["users_in_both_variants"] == 0
    assert res.info["srm_p_value"] > 0.001
    for metric in ("ctr", "conversion"):  # detected: negative, CI below 0
        d = res.diff(metric)
        assert d["diff"] < 0 and d["ci_high"] < 0 and d["p_value"] < 0.05, (metric, d.to_dict())
        assert d["boot_ci_low"] < d["diff"] < d["boot_ci_high"] < 0
    rev = res.diff("revenue_per_exposure")  # noisier (prices vary): right sign, CI reported
    assert rev["diff"] < 0 and rev["ci_low"] < rev["diff"] < rev["ci_high"]
    v = res.variants.set_index("variant")
    assert (
        v.loc["champion", "ctr_ci_low"]
        < v.loc["champion", "ctr"]
        < v.loc["champion", "ctr_ci_high"]
    )
    run_id = O.log_result(res, tmp_path / "out", tracked)
    import mlflow

    r = mlflow.get_run(run_id)
    assert r.data.tags["linli.run_type"] == "online-ab"
    assert r.data.tags["linli.ab.winner"] == "champion"  # popularity converts less
    assert r.data.metrics["verdict.winner"] == -1.0 and r.data.metrics["verdict.ci_high"] < 0
    assert r.data.metrics["diff.conversion.ci_high"] < 0
    assert r.data.metrics["champion.exposures"] + r.data.metrics["challenger.exposures"] == len(ex)


@pytest.mark.slow
def test_cli_reads_the_exposure_folder_and_an_events_file(
    served: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from serving.exposures import read_exposures

    events = O.simulate_responses(
        read_exposures(served["exposures"]), served["relevant"], served["prices"], seed=4
    )
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    code = O.main(
        [
            "--exposures",
            str(served["exposures"]),
            "--events",
            str(path),
            "--no-mlflow",
            "--out",
            str(tmp_path / "o"),
            "--n-boot",
            "200",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "challenger - champion conversion" in out and "95% CI" in out
    assert (tmp_path / "o" / "online_ab.png").exists() and (
        tmp_path / "o" / "online_diffs.csv"
    ).exists()
