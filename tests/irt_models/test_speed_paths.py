"""The faster paths of the engine give what the plain ones give."""

from __future__ import annotations

import numpy as np
import pytest

from irt_models import estep
from irt_models.blas import blas_thread_counts, blas_threads
from irt_models.data import label_codes
from irt_models.information import choose_method


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["b", "a", "c", "a", "b", "b"]),
        np.array([5, 3, 5, 9, 3]),
        np.array([], dtype=str),
        np.array(["", "é", "e", "", "item 2", "item 10", "é"]),
        np.array([b"b", b"a", b"b"]),
        np.random.default_rng(3).choice(np.array([f"item_{k}" for k in range(300)]), size=20_000),
    ],
)
def test_label_codes_are_np_unique(labels):
    expected = np.unique(labels, return_inverse=True)
    got = label_codes(labels)
    assert got[0].dtype == expected[0].dtype
    assert got[0].tolist() == expected[0].tolist()
    assert got[1].tolist() == expected[1].tolist()


def test_blas_threads_restores_the_count():
    before = blas_thread_counts()
    with blas_threads(1):
        assert all(n == 1 for n in blas_thread_counts())
    assert blas_thread_counts() == before
    with blas_threads(0):
        assert blas_thread_counts() == before


def test_sparse_information_when_persons_touch_few_parameters():
    # a skill at M: 77,760 persons, 320 parameters, about 40 touched by each
    assert choose_method(77_760, 320, 77_760 * 40.0**2) == "sparse"
    # a complete test: every person touches every parameter
    assert choose_method(20_000, 400, 20_000 * 400.0**2) == "dense"
    assert choose_method(20_000, 400, None) == "dense"


def test_dense_and_sparse_blocks_give_the_same_estep(monkeypatch):
    rng = np.random.default_rng(3)
    n_persons, n_rows, q = 500, 40, 11
    person = np.repeat(np.arange(n_persons), 6)
    row = rng.integers(0, n_rows, len(person))
    log_table = np.log(rng.uniform(0.05, 0.95, (n_rows, q)))
    log_prior = np.log(np.full(q, 1.0 / q))
    results = []
    for density in (0.01, 1.0):
        monkeypatch.setattr(estep, "DENSE_MIN_DENSITY", density)
        design = estep.Design(person, row, n_persons, n_rows, q, n_jobs=2)
        assert design.blocks[0].dense == (density < 0.15)
        results.append(estep.estep(design, log_table, log_prior))
    (ll0, counts0, mass0), (ll1, counts1, mass1) = results
    assert ll0 == pytest.approx(ll1, rel=1e-12)
    np.testing.assert_allclose(counts0, counts1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(mass0, mass1, rtol=1e-10)
