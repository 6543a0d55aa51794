"""The leaderboard: folds from basket frames, models x seeds, outputs, recommendations, MLflow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import evaluate as E
from features.schema import Col
from training.evaluation import folds as F
from training.evaluation import leaderboard as L
from training.evaluation.split import BASKET
from training.models import REGISTRY
from training.settings import Settings

KINDS = ["popularity", "p_topfreq"]


@pytest.fixture(autouse=True)
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The two simplest baselines, registered even before the models package lists them."""
    monkeypatch.setitem(
        REGISTRY, "popularity", REGISTRY.get("popularity", "training.models.popularity:Popularity")
    )
    monkeypatch.setitem(
        REGISTRY, "p_topfreq", REGISTRY.get("p_topfreq", "training.models.repeat:PTopFreq")
    )


def basket_lines(n_users: int = 60, n_items: int = 15, seed: int = 0) -> pd.DataFrame:
    """Users who rebuy a few favourites (the regularity next-basket models should find)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        fav = rng.choice(n_items, 3, replace=False)
        for b in range(int(rng.integers(3, 7))):
            items = {int(fav[b % 3]), int(fav[(b + 1) % 3]), int(rng.integers(n_items))}
            rows += [(str(u), b, str(i)) for i in items]
    return pd.DataFrame(rows, columns=[Col.USER_ID, BASKET, Col.ITEM_ID])


def write_tafeng(root: Path, lines: pd.DataFrame) -> Path:
    """The Reality-Check JSON layout ([-1] padding, last basket in the future file)."""
    root.mkdir(parents=True)
    hist, fut, merged = {}, {}, {}
    for u, g in lines.groupby(Col.USER_ID, sort=False):
        baskets = [[int(i) for i in b[Col.ITEM_ID]] for _, b in g.groupby(BASKET)]
        hist[u] = [[-1], *baskets[:-1], [-1]]
        fut[u] = [[-1], baskets[-1], [-1]]
        merged[u] = baskets
    for name, obj in (("history", hist), ("future", fut), ("merged", merged)):
        (root / f"tafeng_{name}.json").write_text(json.dumps(obj))
    return root


def write_instacart(root: Path, lines: pd.DataFrame) -> Path:
    """Instacart CSVs: one order per basket, three days apart."""
    root.mkdir(parents=True)
    orders = lines[[Col.USER_ID, BASKET]].drop_duplicates().reset_index(drop=True)
    orders["order_id"] = orders[Col.USER_ID] + "-" + orders[BASKET].astype(str)
    pd.DataFrame(
        {
            "order_id": orders["order_id"],
            "user_id": orders[Col.USER_ID],
            "order_number": orders[BASKET] + 1,
            "order_dow": 0,
            "order_hour_of_day": 10,
            "days_since_prior_order": np.where(orders[BASKET] == 0, np.nan, 3.0),
        }
    ).to_csv(root / "orders.csv", index=False)
    op = lines.assign(order_id=lines[Col.USER_ID] + "-" + lines[BASKET].astype(str))
    pd.DataFrame(
        {
            "order_id": op["order_id"],
            "product_id": op[Col.ITEM_ID],
            "add_to_cart_order": 1,
            "reordered": 0,
        }
    ).to_csv(root / "order_products.csv", index=False)
    items = sorted(lines[Col.ITEM_ID].unique(), key=int)
    pd.DataFrame(
        {
            "product_id": items,
            "product_name": [f"p{i}" for i in items],
            "aisle_id": 1,
            "department_id": 1,
        }
    ).to_csv(root / "products.csv", index=False)
    pd.DataFrame({"aisle_id": [1], "aisle": ["fresh fruits"]}).to_csv(
        root / "aisles.csv", index=False
    )
    pd.DataFrame({"department_id": [1], "department": ["produce"]}).to_csv(
        root / "departments.csv", index=False
    )
    return root


def test_fold_never_shows_test_futures() -> None:
    lines = basket_lines()
    fold = next(F.basket_folds(lines, [1], Settings()))
    assert fold.truth.shape == (len(fold.eval_users), fold.train.shape[1])
    # the fit matrix holds no purchase from a test user's last basket that is not in their history
    last = lines[F.BASKET] == lines.groupby(Col.USER_ID)[F.BASKET].transform("max")
    for row, u in enumerate(fold.eval_ids[:10]):
        hist = set(lines.loc[(lines[Col.USER_ID] == u) & ~last, Col.ITEM_ID])
        seen = set(fold.train.items.ids[fold.train.purchases[fold.eval_users[row]].indices])
        assert seen == hist
        assert set(fold.train.items.ids[fold.truth[row].indices]) == set(
            lines.loc[(lines[Col.USER_ID] == u) & last, Col.ITEM_ID]
        )


def test_leaderboard_models_x_seeds(tmp_path: Path) -> None:
    lines = basket_lines()
    folds = F.basket_folds(lines, [0, 1], Settings())
    board = L.run_leaderboard(
        "toy", folds, KINDS, (5, 10), tmp_path / "recs", progress=False, info={"seeds": 2}
    )
    assert set(board.table.index) == set(KINDS) and (board.table["seeds"] == 2).all()
    assert len(board.per_seed) == 4
    for col in ("recall_at_5", "ndcg_at_10", "ndcg_paper_at_10", "hit_rate_at_5", "coverage_at_5",
                "novelty_at_5", "repeat_recall_at_5", "explore_recall_at_5", "fit_seconds", "recall_at_5_std"):  # fmt: skip
        assert col in board.table.columns
    # favourites are rebought: personal frequency beats global popularity here
    assert (
        board.table.loc["p_topfreq", "recall_at_10"] > board.table.loc["popularity", "recall_at_10"]
    )
    assert board.table.index[0] == "p_topfreq"  # sorted by recall at the first k
    assert set(board.segments["model"]) == set(KINDS)

    recs = json.loads((tmp_path / "recs" / "popularity.json").read_text())
    split = json.loads((tmp_path / "recs" / "split.json").read_text())
    assert split["seed"] == 0 and sorted(recs) == sorted(split["users"])
    assert all(len(v) == min(L.RECS_K, 15) for v in recs.values())
    assert set().union(*recs.values()) <= set(lines[Col.ITEM_ID])

    paths = E.write_outputs(board, tmp_path / "out", "linli evaluate ...")
    md = paths["markdown"].read_text()
    assert "| Model | Recall@5 | Recall@10 |" in md and "p_topfreq" in md and "±" in md
    assert pd.read_csv(paths["csv"])["model"].tolist() == list(board.table.index)


def test_a_failing_model_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "broken", "training.models.popularity:NoSuchClass")
    board = L.run_leaderboard(
        "toy",
        F.basket_folds(basket_lines(), [0], Settings()),
        ["broken", "popularity"],
        (5,),
        progress=False,
    )
    assert "broken" in board.errors and list(board.table.index) == ["popularity"]


def test_load_tafeng_and_instacart_files(tmp_path: Path) -> None:
    lines = basket_lines(20)
    t = F.load_baskets("tafeng", write_tafeng(tmp_path / "tafeng", lines))
    i = F.load_baskets("instacart", write_instacart(tmp_path / "instacart", lines))
    key = [Col.USER_ID, BASKET, Col.ITEM_ID]
    expected = lines.drop_duplicates().sort_values(key).reset_index(drop=True)
    for got in (t, i):
        got = got.sort_values(key).reset_index(drop=True)
        assert got[key].astype(str).equals(expected[key].astype(str))


def _mlflow_db(factory: pytest.TempPathFactory) -> Path:
    """An initialised, empty MLflow SQLite file shared by the session (creating one takes seconds)."""
    import mlflow

    db = factory.getbasetemp() / "mlflow-template" / "mlflow.db"
    if not db.exists():
        db.parent.mkdir(exist_ok=True)
        mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.mark.slow
def test_cli_tafeng_writes_everything_and_logs_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import mlflow

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(_mlflow_db(tmp_path_factory), work / "mlflow.db")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("LINLI_WORK_DIR", str(work))
    monkeypatch.chdir(tmp_path)
    src = write_tafeng(tmp_path / "tafeng", basket_lines(40))
    argv = ["--dataset", "tafeng", "--src", str(src), "--models", ",".join(KINDS), "--seeds", "2",
            "--k", "5,10", "--write-recs", str(tmp_path / "recs"), "--no-progress"]  # fmt: skip
    assert E.main(argv) == 0
    board = work / "leaderboard"
    assert (board / "tafeng.md").exists() and (board / "tafeng_seeds.csv").exists()
    assert (tmp_path / "recs" / "p_topfreq.json").exists()
    assert not (tmp_path / "mlruns").exists()

    runs = mlflow.search_runs(experiment_names=[Settings().tracking.experiment + "-evaluation"])
    parent = runs[runs["tags.linli.run_type"] == "leaderboard"]
    children = runs[runs["tags.linli.run_type"] == "leaderboard-model"]
    assert len(parent) == 1 and len(children) == 2
    assert set(children["tags.mlflow.parentRunId"]) == set(parent["run_id"])
    assert set(children["tags.mlflow.runName"]) == set(KINDS)
    for m in (
        "recall_at_10",
        "ndcg_at_10",
        "ndcg_paper_at_10",
        "hit_rate_at_5",
        "recall_at_10_std",
    ):
        assert children[f"metrics.{m}"].notna().all()
    assert E.main(["--dataset", "tafeng", "--src", str(src), "--models", "nope"]) == 2


def test_cli_features_temporal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from features.build import run as build_features

    rows = []
    start = pd.Timestamp("2026-03-01T09:00:00+08:00")
    for _, r in basket_lines(30).iterrows():
        ts = start + pd.Timedelta(days=7 * int(r[BASKET]) + int(r[Col.USER_ID]) % 3)
        u, b, i = r[Col.USER_ID], r[BASKET], r[Col.ITEM_ID]
        rows.append(
            (f"e{u}-{b}-{i}", ts.isoformat(), "order", "wecom", f"w{u}", f"i{i}", f"o{u}-{b}")
        )
    data = tmp_path / "data"
    data.mkdir()
    cols = ["event_id", "ts", "event_type", "id_type", "id_value", "item_id", "order_id"]
    pd.DataFrame(rows, columns=cols).to_csv(data / "events.csv", index=False)
    build_features(data, tmp_path / "store", Settings(work_dir=tmp_path / "w"), progress=False)
    monkeypatch.setenv("LINLI_WORK_DIR", str(tmp_path / "w"))
    for split in ("temporal", "next-basket"):
        argv = ["--dataset", "features", "--src", str(tmp_path / "store"), "--models", "popularity",
                "--seeds", "1", "--split", split, "--holdout-days", "10", "--no-mlflow", "--no-progress",
                "--out", str(tmp_path / split)]  # fmt: skip
        assert E.main(argv) == 0
        table = pd.read_csv(tmp_path / split / "features.csv")
        assert table.loc[0, "model"] == "popularity" and 0 < table.loc[0, "recall_at_10"] <= 1
