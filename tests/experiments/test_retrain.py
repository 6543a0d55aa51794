"""The retraining job: the decision rule, fingerprints, and month 1 -> month 2 with failures and a live server."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from loop_world import empty_mlflow, end_runs, loop_world

from experiments import retrain as R
from serving import pointer
from training.settings import Settings

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def table(diff: float, ci: tuple[float, float], guard: float) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "segment": "all",
                "metric": "ndcg_at_10",
                "champion": 0.2,
                "challenger": 0.2 + diff,
                "diff": diff,
                "ci_low": ci[0],
                "ci_high": ci[1],
            },
            {
                "segment": "all",
                "metric": "recall_at_10",
                "champion": 0.3,
                "challenger": 0.3 + guard,
                "diff": guard,
                "ci_low": guard - 0.01,
                "ci_high": guard + 0.01,
            },
            {
                "segment": "tier:gold",
                "metric": "ndcg_at_10",
                "champion": 0.2,
                "challenger": 0.0,
                "diff": -0.2,
                "ci_low": -0.3,
                "ci_high": -0.1,
            },
        ]
    )


def test_decide_promotes_only_a_winner_that_keeps_the_guard() -> None:
    cfg = R.RetrainConfig(margin=0.005, guard_tolerance=0.002)
    assert R.decide(table(0.01, (0.004, 0.016), 0.0), cfg).promote
    d = R.decide(table(0.004, (0.001, 0.007), 0.0), cfg)
    assert not d.promote and "margin 0.005" in d.reason
    d = R.decide(table(0.01, (0.004, 0.016), -0.003), cfg)
    assert not d.promote and "guard recall_at_10 drops -0.0030" in d.reason
    strict = cfg.model_copy(update={"require_significant": True})
    assert not R.decide(table(0.01, (-0.001, 0.02), 0.0), strict).promote
    assert R.decide(
        table(0.01, (-0.001, 0.02), -0.05), cfg.model_copy(update={"guard": None})
    ).promote


def test_fingerprint_and_key_follow_the_data_and_the_config(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.csv").write_text("x\n1\n")
    one = R.data_fingerprint(tmp_path)
    assert one == R.data_fingerprint(tmp_path)
    (tmp_path / "events" / "b.csv").write_text("x\n2\n")
    two = R.data_fingerprint(tmp_path)
    assert two["digest"] != one["digest"] and len(two["files"]) == 2
    cfg = R.RetrainConfig()
    assert R.run_key(two["digest"], cfg) == R.run_key(two["digest"], R.RetrainConfig())
    assert R.run_key(two["digest"], cfg) != R.run_key(
        two["digest"], cfg.model_copy(update={"margin": 0.01})
    )


# -- the two-month story -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Month 1 -> champion v1 -> bundle -> a running server; month 2's files ready to arrive."""
    from experiments.demos.retrain_demo import month_cut, split_world
    from features.build import run as build_features
    from serving.cli import free_port, server_env, start_server, stop_server
    from training import tracking
    from training.export import export_bundle, registry_variants
    from training.train import train

    base = tmp_path_factory.getbasetemp()
    world = loop_world(base)
    work = tmp_path_factory.mktemp("retrain") / "work"
    work.mkdir()
    import shutil

    shutil.copy(empty_mlflow(base), work / "mlflow.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("LINLI_ADMIN_TOKEN", "retrain-test-token")
        settings = Settings(work_dir=work)
        data = work.parent / "data"
        later = split_world(world / "data", data, month_cut(world / "data" / "events.parquet"))
        month1 = work / "features"
        build_features(data, month1, settings, progress=False, use_store=False)
        champ = train(
            "p_topfreq",
            month1,
            {},
            settings,
            alias="champion",
            holdout="temporal",
            run_name="month-1 champion",
        )
        bundle = work / "bundle"
        export_bundle(month1, bundle, registry_variants(settings, ("champion",)))
        port = free_port()
        env = server_env(
            bundle,
            work,
            workers=1,
            access_log=False,
            extra={"LINLI_ADMIN_TOKEN": "retrain-test-token"},
        )
        proc = start_server(port, env, work / "server.log", timeout=150)
        try:
            users = (
                pd.read_parquet(month1 / "users.parquet")["user_id"].astype(str).head(50).tolist()
            )
            yield {
                "settings": settings,
                "data": data,
                "later": later,
                "bundle": bundle,
                "url": f"http://127.0.0.1:{port}",
                "users": users,
                "v1": champ.version,
                "tracking": tracking,
            }
        finally:
            stop_server(proc)
            end_runs()


def served_version(s: dict[str, Any]) -> str:
    r = httpx.post(f"{s['url']}/rank/user", json={"user": s["users"][0], "k": 5}, timeout=30)
    assert r.status_code == 200, r.text
    return str(r.json()["model_version"])


def bundle_version(s: dict[str, Any]) -> str:
    return R.bundle_versions(s["bundle"])["champion"]


def test_month_two_failure_leaves_the_champion_then_promotion_reaches_the_server(
    story: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from experiments import ab
    from experiments.demos.retrain_demo import arrive

    s, tracking = story, story["tracking"]
    settings: Settings = s["settings"]
    monkeypatch.setenv("LINLI_ADMIN_TOKEN", "retrain-test-token")
    v1 = s["v1"]
    assert served_version(s) == v1 == bundle_version(s) == "1"
    arrive(s["later"], s["data"])  # month 2 lands as new files

    # 1. a failure mid-way (the evaluation), then one in the promotion itself (after the alias moved)
    def broken(*a: Any, **k: Any) -> Any:
        raise OSError("simulated: disk full")

    for step, target in (("evaluate", (ab, "run_ab")), ("promote", (pointer, "adopt"))):
        with monkeypatch.context() as m:
            m.setattr(*target, broken)
            with pytest.raises(R.RetrainError) as err:
                R.retrain(
                    s["data"],
                    settings,
                    R.RetrainConfig(n_boot=200),
                    s["bundle"],
                    reload_url=s["url"],
                )
        assert err.value.step == step and err.value.champion == v1
        assert tracking.alias_version("champion", settings) == v1
        assert bundle_version(s) == v1 and served_version(s) == v1  # still serving v1
        failed = tracking.search_runs(f"tags.`linli.retrain.failed_step` = '{step}'", settings)
        assert len(failed) == 1 and failed.iloc[0]["status"] == "FAILED"

    # 2. the real run: promotes, swaps the bundle, reloads the server under traffic
    stop, codes, versions = threading.Event(), [], set()

    def hammer() -> None:
        with httpx.Client(base_url=s["url"], timeout=30) as c:
            while not stop.is_set():
                r = c.post("/rank/user", json={"user": s["users"][len(codes) % 50], "k": 5})
                codes.append(r.status_code)
                if r.status_code == 200:
                    versions.add(str(r.json()["model_version"]))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        out = R.retrain(
            s["data"], settings, R.RetrainConfig(n_boot=200), s["bundle"], reload_url=s["url"]
        )
        deadline = time.monotonic() + 30
        while served_version(s) != out.champion_after and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        t.join()
    assert out.decision == "promoted", out.reason
    new = out.champion_after
    assert new not in (None, v1) and tracking.alias_version("champion", settings) == new
    assert bundle_version(s) == new and served_version(s) == new
    assert codes and set(codes) == {200} and {v1, new} <= versions  # no request dropped
    steps = {r.name: r.status for r in out.steps}
    assert steps == {
        "features": "ok",
        "evaluate": "ok",
        "decide": "ok",
        "register": "ok",
        "promote": "ok",
        "reload": "ok",
    }
    run = mlflow.get_run(out.run_id)  # the run, its nested A/B and training runs are in MLflow
    assert run.data.tags["linli.retrain.decision"] == "promoted" and run.info.status == "FINISHED"
    children = tracking.search_runs(f"tags.`mlflow.parentRunId` = '{out.run_id}'", settings)
    assert {"ab", "training"} <= set(children["tags.linli.run_type"])
    steps_doc = json.loads(
        Path(settings.work_dir / "retrain" / "runs" / f"{out.run_id}.json").read_text()
    )
    assert [x["name"] for x in steps_doc["steps"]][:3] == ["features", "evaluate", "decide"]

    # 3. the same data again: nothing to do
    again = R.retrain(s["data"], settings, R.RetrainConfig(n_boot=200), s["bundle"])
    assert again.decision == "skipped" and again.run_id == out.run_id

    # 4. a deliberately weak challenger is refused with the reason; nothing moves
    weak = R.retrain(
        s["data"], settings, R.RetrainConfig(model="popularity", n_boot=200), s["bundle"]
    )
    assert weak.decision == "refused" and "does not beat the champion" in weak.reason
    assert tracking.alias_version("champion", settings) == new == bundle_version(s)
    assert os.environ.get("LINLI_ADMIN_TOKEN") == "retrain-test-token"
