"""The patsy fast path gives the same design matrices, the same errors, and is faster."""

import numpy as np
import pandas as pd
import patsy
import pytest

from winback_study.core import patsy_fastpath


def _data(n=50_000, seed=0):
    rng = np.random.default_rng(seed)
    x = pd.Categorical(rng.choice(["a", "b", "c"], n), categories=["a", "b", "c"])
    x[::97] = np.nan  # missing values coded -1 on both paths
    return pd.DataFrame({"x": x, "z": rng.normal(size=n)})


def _slow(formula, df, **kw):
    from patsy import build, categorical

    fast = categorical.categorical_to_int
    try:
        build.categorical_to_int = categorical.categorical_to_int = fast.__wrapped__
        return patsy.dmatrix(formula, df, **kw)
    finally:
        build.categorical_to_int = categorical.categorical_to_int = fast


@pytest.mark.parametrize("formula", ["C(x, Treatment('b')) + z", "C(x) : z", "x + z"])
def test_same_matrices_as_patsy_itself(formula):
    patsy_fastpath.install()
    df = _data()
    fast = patsy.dmatrix(formula, df, NA_action="drop", return_type="dataframe")
    slow = _slow(formula, df, NA_action="drop", return_type="dataframe")
    pd.testing.assert_frame_equal(fast, slow)
    assert len(fast) < len(df)  # the missing rows were dropped, on both paths


def test_unseen_levels_still_raise_patsys_error():
    patsy_fastpath.install()
    df = _data(1_000)
    info = patsy.dmatrix("C(x, Treatment('a'))", df).design_info
    other = df.assign(x=pd.Categorical(df["x"].astype(object).fillna("a").replace("c", "d")))
    with pytest.raises(patsy.PatsyError):
        patsy.build_design_matrices([info], other)


def test_a_boxed_categorical_is_not_coded_value_by_value(monkeypatch):
    """The slow path tests every value for missingness; the fast path never does."""
    patsy_fastpath.install()
    df = _data(1_000)

    def per_item(self, value):
        raise AssertionError("coded value by value")

    monkeypatch.setattr(patsy.missing.NAAction, "is_categorical_NA", per_item)
    patsy.dmatrix("C(x, Treatment('b'))", df)  # the fast path
    with pytest.raises(AssertionError, match="value by value"):
        _slow("C(x, Treatment('b'))", df)  # patsy's own path
