"""The one recommender contract every Linli model implements (fit, score, recommend, vectors, save/load).

Models fit on a :class:`features.matrix.Interactions` and address users and
items by their dense indices in it. `recommend` is written once here: masks
(already bought, hard constraints, candidate whitelist) are applied to the
scores a model produces, then the top k are taken.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict

from features.matrix import Interactions

CONFIG_FILE = "config.json"
STATE_FILE = "model.pkl"


class ModelConfig(BaseModel):
    """Base of every model's typed config; `kind` names the model class in the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str


class Recommender(ABC):
    """Fit on interactions, score items for users, recommend top-k with exclusions."""

    config_class: ClassVar[type[ModelConfig]]

    def __init__(self, config: ModelConfig | None = None, **overrides: Any) -> None:
        if config is None:
            config = self.config_class(**overrides)
        elif overrides:
            config = config.model_copy(update=overrides)
        self.config = config
        self.n_users = 0
        self.n_items = 0
        self.fitted = False

    # -- to implement ------------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: Interactions) -> None:
        """Learn from the interactions (n_users/n_items already set)."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Dense float32 scores (len(users), n_items); higher is better."""

    # -- public contract ---------------------------------------------------------------
    def fit(self, data: Interactions) -> Self:
        """Learn from `data`; returns self."""
        self.n_users, self.n_items = data.shape
        self._fit(data)
        self.fitted = True
        return self

    def score(self, users: np.ndarray | list[int]) -> np.ndarray:
        """Scores of every item for each user index."""
        self._check_fitted()
        u = np.asarray(users, dtype=np.int64)
        if u.size and (u.min() < 0 or u.max() >= self.n_users):
            raise IndexError(f"user index out of range 0..{self.n_users - 1}")
        return np.asarray(self._score(u), dtype=np.float32)

    def recommend(
        self,
        users: np.ndarray | list[int],
        k: int = 10,
        exclude: sp.csr_matrix | None = None,
        candidates: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores per user, best first.

        `exclude` is a users x items matrix (rows aligned with `users`, or with all
        users when it has n_users rows) whose non-zeros are never returned (already
        bought, allergies); `candidates` restricts the result to those item indices.
        Rows with fewer than k allowed items are padded with index -1 and score -inf.
        """
        u = np.asarray(users, dtype=np.int64)
        scores = self.score(u)
        return top_k(scores, k, _rows_for(exclude, u, self.n_users), candidates)

    def user_vectors(self) -> np.ndarray | None:
        """User embedding matrix, when the model has one."""
        return None

    def item_vectors(self) -> np.ndarray | None:
        """Item embedding matrix, when the model has one."""
        return None

    def save(self, path: Path | str) -> None:
        """Write config (json) and state (pickle) into a folder."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG_FILE).write_text(self.config.model_dump_json(indent=1), encoding="utf-8")
        with (path / STATE_FILE).open("wb") as fh:
            pickle.dump(self.__getstate__(), fh, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def state_digest(path: Path | str) -> str:
        """sha256 of the pickled state file of a :meth:`save` folder (recorded in the registry)."""
        return hashlib.sha256((Path(path) / STATE_FILE).read_bytes()).hexdigest()

    @classmethod
    def load(cls, path: Path | str, expect_sha256: str | None = None) -> Recommender:
        """Rebuild a fitted model written by :meth:`save` (any model kind).

        With `expect_sha256` (the digest the registry recorded at logging time) the state file
        is checked before it is unpickled: a file changed in the artifact store is refused, so
        write access to the artifacts alone does not run code in the loading process.
        """
        from training.models import model_class  # the registry of kinds

        path = Path(path)
        cfg = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        klass = model_class(cfg["kind"])
        model = klass.__new__(klass)
        blob = (path / STATE_FILE).read_bytes()
        if expect_sha256 is not None and hashlib.sha256(blob).hexdigest() != expect_sha256:
            raise ValueError(
                f"{path / STATE_FILE}: sha256 differs from the one recorded in the registry; "
                "refusing to load it (the artifact was changed after logging)"
            )
        model.__setstate__(pickle.loads(blob))  # noqa: S301 - verified above when recorded
        model.config = klass.config_class(**cfg)
        return model

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class FactorModel(Recommender):
    """A recommender whose scores are dot products: user_factors[users] @ item_factors.T.

    Subclasses set both float32 matrices in `_fit`; serving ranks with the same vectors.
    """

    user_factors: np.ndarray
    item_factors: np.ndarray

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def user_vectors(self) -> np.ndarray | None:
        """User factors (rows follow the user index)."""
        return self.user_factors

    def item_vectors(self) -> np.ndarray | None:
        """Item factors (rows follow the item index)."""
        return self.item_factors


def _rows_for(
    exclude: sp.csr_matrix | None, users: np.ndarray, n_users: int
) -> sp.csr_matrix | None:
    if exclude is None:
        return None
    exclude = sp.csr_matrix(exclude)
    if exclude.shape[0] == len(users):
        return exclude
    if exclude.shape[0] == n_users:
        return exclude[users]
    raise ValueError(f"exclude has {exclude.shape[0]} rows; expected {len(users)} or {n_users}")


def top_k(
    scores: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (indices, scores) per row after masking excluded and non-candidate items."""
    if k < 1:
        raise ValueError("k must be at least 1")
    s = np.array(scores, dtype=np.float32, copy=True)
    n_rows, n_items = s.shape
    if candidates is not None:
        allowed = np.zeros(n_items, dtype=bool)
        allowed[np.asarray(candidates, dtype=np.int64)] = True
        s[:, ~allowed] = -np.inf
    if exclude is not None and exclude.nnz:
        coo = exclude.tocoo()
        s[coo.row, coo.col] = -np.inf
    kk = min(k, n_items)
    part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
    part_scores = np.take_along_axis(s, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(part_scores, order, axis=1)
    idx = np.where(np.isneginf(val), -1, idx)
    if kk < k:
        idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return idx.astype(np.int64), val.astype(np.float32)
