"""`kill -9` of `linli retrain` at every step of a promotion, then a server start and the next run.

Each attempt is a real `linli retrain` process that sends itself SIGKILL right after one step
(features, evaluate, register, export, intent record, adopting the plain bundle folder,
the pointer flip, the alias move). After each kill:

- a server starting now (:class:`serving.runtime.Runtime`, what every worker runs at start)
  is ready and serves the old champion or the new one, never none, never half of one;
- once a promotion's pointer flipped, no later state serves the old version again;
- the next run's recovery leaves the registry alias equal to the served bundle's version.

Finally an uninterrupted run promotes, and the same command again is "already done" (alias
and bundle agree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loop_world import empty_mlflow, end_runs, loop_world

from experiments import retrain as R
from serving import pointer
from serving.runtime import Runtime
from training import promotion
from training.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RUNNER = textwrap.dedent(
    """
    import os, signal, sys
    from serving import pointer
    from experiments import retrain as R
    from training import promotion, tracking
    where, name = sys.argv[1].split(".")
    mod = {"R": R, "pointer": pointer, "tracking": tracking, "promotion": promotion}[where]
    orig = getattr(mod, name)
    def killed_after(*a, **k):
        out = orig(*a, **k)
        if name != "set_alias" or a[0] == "champion":
            os.kill(os.getpid(), signal.SIGKILL)
        return out
    setattr(mod, name, killed_after)
    sys.exit(R.main(sys.argv[2:]))
    """
)
# (name of the step, function after which the process kills itself)
KILL_POINTS = [
    ("features", "R.build_features"),
    ("evaluate", "R._evaluate"),
    ("register", "R._register"),
    ("export", "promotion.export_version"),
    ("intent", "pointer.write_intent"),
    ("adopt", "pointer.adopt"),
    ("flip", "pointer.point"),
    ("alias", "tracking.set_alias"),
]


def served(settings: Settings) -> str:
    """What a server starting now serves (it reconciles the pointer first)."""
    rt = Runtime(settings)
    try:
        assert rt.engine.ready, rt.engine.error
        assert rt.engine.bundle is not None
        return str(rt.engine.bundle.manifest["variants"]["champion"]["version"])
    finally:
        rt.close()


def test_kill_9_at_every_step_never_loses_or_reverts_the_champion(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from experiments.demos.retrain_demo import arrive, month_cut, split_world
    from features.build import run as build_features
    from training import tracking
    from training.export import export_bundle, registry_variants
    from training.train import train

    base = tmp_path_factory.getbasetemp()
    world = loop_world(base)
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(empty_mlflow(base), work / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LINLI_WORK_DIR", str(work))
    monkeypatch.delenv("LINLI_SERVING__BUNDLE_DIR", raising=False)
    monkeypatch.setenv("LINLI_SERVING__INGEST__VALIDATOR_PROCESS", "false")
    settings = Settings(work_dir=work)
    data = tmp_path / "data"
    later = split_world(world / "data", data, month_cut(world / "data" / "events.parquet"))
    build_features(data, work / "features", settings, progress=False, use_store=False)
    v1 = train(
        "p_topfreq", work / "features", {}, settings, alias="champion", run_name="m1"
    ).version
    bundle = work / "bundle"
    export_bundle(work / "features", bundle, registry_variants(settings, ("champion",)))
    end_runs()
    arrive(later, data)
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    args = ["--data", str(data), "--bundle", str(bundle), "--margin", "0", "--n-boot", "50"]
    env = {**os.environ, "LINLI_WORK_DIR": str(work), "OPENBLAS_NUM_THREADS": "1"}

    history = [v1]
    for step, target in KILL_POINTS:
        done = subprocess.run(
            [sys.executable, str(script), target, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == -9, (
            f"{step}: not killed ({done.returncode}) {done.stderr[-2000:]}"
        )
        now = served(settings)  # a restarted server
        assert int(now) >= int(history[-1]), f"{step}: reverted v{history[-1]} -> v{now}"
        promotion.reconcile(bundle, settings)  # what the next run does first
        alias = tracking.alias_version("champion", settings)
        assert alias == now == R.bundle_versions(bundle)["champion"], (step, alias, now)
        assert pointer.read_intent(bundle) is None
        if now != history[-1]:
            history.append(now)
    assert len(history) == 3, history  # the flip and the alias kills each left a promotion

    out = R.retrain(data, settings, R.RetrainConfig(margin=0.0, n_boot=50), bundle)
    assert out.decision == "promoted" and out.champion_before == history[-1]
    assert served(settings) == tracking.alias_version("champion", settings) == out.champion_after
    again = R.retrain(data, settings, R.RetrainConfig(margin=0.0, n_boot=50), bundle)
    assert again.decision == "skipped"
    # "already done" holds only while the alias and the bundle agree
    served_dir = pointer.target(bundle)
    assert served_dir is not None
    pointer.point(bundle, f"bundle-v{history[-1]}")  # the bundle now disagrees with the alias
    assert R._already_done(again.key, out.champion_after, bundle, True, settings) is None
    pointer.point(bundle, served_dir)
    assert R._already_done(again.key, out.champion_after, bundle, True, settings) is not None
    assert bundle.is_symlink() and len(list(work.glob("bundle-v*"))) <= 3
    end_runs()
