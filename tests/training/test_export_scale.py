"""The export's vectorised parts equal their plain definitions; only input errors exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import scipy.sparse as sp

from features.errors import LinliInputError
from features.matrix import IdMap, Interactions
from training import export
from training.export import ExportVariant, item_neighbours, row_top_n, variant_arrays
from training.models.base import ModelConfig, Recommender


def _top_n_reference(dense: np.ndarray, present: np.ndarray, n: int) -> set[tuple[int, int]]:
    """(row, col) of the n largest present entries per row, ties to the lower column."""
    out = set()
    for r in range(dense.shape[0]):
        cols = np.flatnonzero(present[r])
        ranked = sorted(cols, key=lambda c: (-dense[r, c], c))[:n]
        out |= {(r, int(c)) for c in ranked}
    return out


def test_row_top_n_keeps_the_largest_with_ties_to_the_lower_column() -> None:
    rng = np.random.default_rng(3)
    dense = rng.integers(0, 4, size=(40, 30)).astype(np.float32)  # many ties
    m = sp.csr_matrix(dense)
    r, c, v = row_top_n(m, 5)
    assert set(zip(r.tolist(), c.tolist(), strict=True)) == _top_n_reference(dense, dense != 0, 5)
    np.testing.assert_array_equal(v, dense[r, c])


def test_item_neighbours_equal_the_dense_cosine_top_n() -> None:
    rng = np.random.default_rng(5)
    purchases = sp.csr_matrix(rng.random((300, 57)) < 0.08, dtype=np.float32) * 3
    x = (purchases > 0).astype(np.float32).toarray()
    inv = 1 / np.sqrt(np.maximum(x.sum(axis=0), 1)).astype(np.float32)
    inv[x.sum(axis=0) == 0] = 0
    co = (x.T @ x).astype(np.float32)
    np.fill_diagonal(co, 0)
    cos = co * inv[:, None] * inv[None, :]
    got = item_neighbours(purchases, n=4, step=10)  # blocks of 10 items
    coo = got.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == _top_n_reference(
        cos, cos != 0, 4
    )
    np.testing.assert_allclose(coo.data, cos[coo.row, coo.col], rtol=1e-6)
    assert got.nnz > 100


class _RandomConfig(ModelConfig):
    kind: Literal["test_random_scores"] = "test_random_scores"


class _RandomScores(Recommender):
    """Continuous random scores (no ties), no vectors: the export keeps its top-M."""

    config_class = _RandomConfig

    def _fit(self, data: Interactions) -> None:
        shape = data.purchases.shape
        self.s = np.random.default_rng(0).random(shape).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.s[users]


def test_top_m_is_the_same_in_any_batch_size_and_skips_unknown_items() -> None:
    n_users, n_items = 37, 23
    users = IdMap.from_values([f"u{i}" for i in range(n_users)])
    items = IdMap.from_values([f"i{j}" for j in range(n_items)])
    model_items = IdMap.from_values([f"i{j}" for j in range(n_items - 3)] + ["x0", "x1", "x2"])
    model = _RandomScores()  # fitted by hand: only its scores matter here
    model.s = np.random.default_rng(1).random((n_users, n_items)).astype(np.float32)
    model.n_users, model.n_items, model.fitted = n_users, n_items, True
    v = ExportVariant(model, users=None, items=model_items)
    small = variant_arrays(v, users, items, top_m=5, batch=4)["topm"]
    whole = variant_arrays(v, users, items, top_m=5)["topm"]
    assert (small != whole).nnz == 0
    # reference: the 5 best of the model's items the bundle carries, in bundle columns
    carried = model_items.index(items.ids)
    want = set()
    for u in range(n_users):
        best = sorted(np.flatnonzero(carried >= 0), key=lambda j: -model.s[u, carried[j]])[:5]
        want |= {(u, int(j)) for j in best}
    coo = small.tocoo()
    assert set(zip(coo.row.tolist(), coo.col.tolist(), strict=True)) == want
    np.testing.assert_allclose(coo.data, model.s[coo.row, carried[coo.col]])


def test_only_input_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LINLI_WORK_DIR", str(tmp_path))
    assert export.main(["--features", str(tmp_path), "--model-dir", "champion"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["linli export: error: --model-dir wants ALIAS=PATH, got 'champion'"]

    def bug(*_a: object, **_k: object) -> None:
        raise ValueError("a bug, not the user's input")

    monkeypatch.setattr(export, "registry_variants", bug)
    with pytest.raises(ValueError, match="a bug"):  # not reported as the user's mistake
        export.main(["--features", str(tmp_path)])

    def no_champion(*_a: object, **_k: object) -> None:
        raise LinliInputError("no version has alias 'champion'", hint="train one")

    monkeypatch.setattr(export, "registry_variants", no_champion)
    assert export.main(["--features", str(tmp_path)]) == 2
    assert "no version has alias 'champion' (train one)" in capsys.readouterr().err
