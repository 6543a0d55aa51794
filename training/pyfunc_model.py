"""The MLflow pyfunc face of a Linli Recommender: wrapper class, signature, requirements.

Used by :mod:`training.tracking` to log models; ``predict_frame`` is the pure top-k of a
frame of user ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.matrix import IdMap
from features.schema import Col

if TYPE_CHECKING:
    from training.models.base import Recommender

RECOMMENDER_ARTIFACT = "recommender"
USERS_ARTIFACT = "users"
ITEMS_ARTIFACT = "items"


def pyfunc_class() -> type:
    """The PythonModel wrapper (built lazily so mlflow loads only when used)."""
    import mlflow.pyfunc

    class LinliRecommender(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        """pyfunc face of a Linli Recommender: rows of ``user_id`` (and ``k``) -> ranked items."""

        def load_context(self, context: Any) -> None:
            from training.models.base import Recommender

            self.model = Recommender.load(context.artifacts[RECOMMENDER_ARTIFACT])
            self.users = read_ids(context.artifacts.get(USERS_ARTIFACT), Col.USER_ID)
            self.items = read_ids(context.artifacts.get(ITEMS_ARTIFACT), Col.ITEM_ID)

        def predict(
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> pd.DataFrame:
            k = int((params or {}).get("k", 10))
            return predict_frame(self.model, self.users, self.items, model_input, k)

    return LinliRecommender


def read_ids(path: str | None, column: str) -> IdMap | None:
    if not path or not Path(path).exists():
        return None
    return IdMap(np.asarray(pd.read_parquet(path)[column], dtype=object))


def predict_frame(
    model: Recommender,
    users: IdMap | None,
    items: IdMap | None,
    frame: pd.DataFrame,
    k: int = 10,
) -> pd.DataFrame:
    """Top-k for each ``user_id`` (or ``user_index``) row: user_id, rank, item_id, score."""
    if Col.USER_ID in frame.columns and users is not None:
        idx = users.index(frame[Col.USER_ID])
        labels = frame[Col.USER_ID].astype("string").to_numpy()
    else:
        idx = frame["user_index"].to_numpy(dtype=np.int64)
        labels = idx.astype(str)
    known = idx >= 0
    rows: list[pd.DataFrame] = []
    if known.any():
        rec, score = model.recommend(idx[known], k=k)
        n = rec.shape[1]
        if items is not None:
            item_ids = np.asarray(items.ids[np.maximum(rec, 0)], dtype=object)
            item_ids[rec < 0] = None
        else:
            item_ids = rec.astype(str).astype(object)
            item_ids[rec < 0] = None
        rows.append(
            pd.DataFrame(
                {
                    Col.USER_ID: np.repeat(labels[known], n),
                    "rank": np.tile(np.arange(1, n + 1), int(known.sum())),
                    Col.ITEM_ID: item_ids.ravel(),
                    Col.SCORE: score.ravel(),
                }
            )
        )
    out = (
        pd.concat(rows, ignore_index=True)
        if rows
        else pd.DataFrame(columns=[Col.USER_ID, "rank", Col.ITEM_ID, Col.SCORE])
    )
    return out[out[Col.ITEM_ID].notna()].reset_index(drop=True)


def signature() -> Any:
    """Input ``user_id`` (string), output ranked rows, param ``k``."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", Col.USER_ID)]),
        outputs=Schema(
            [
                ColSpec("string", Col.USER_ID),
                ColSpec("long", "rank"),
                ColSpec("string", Col.ITEM_ID),
                ColSpec("float", Col.SCORE),
            ]
        ),
        params=ParamSchema([ParamSpec("k", "long", 10)]),
    )


def pip_requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for dist in ("mlflow", "numpy", "pandas", "scipy", "pydantic", "implicit", "rectools-lightfm"):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:
            continue
    return reqs
