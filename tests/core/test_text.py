"""``text_values`` and ``text_codes``: what ``astype(str)`` gives, per category."""

import numpy as np
import pandas as pd
import pytest

from winback_study.core.text import text_codes, text_values

COLUMNS = {
    "categorical": pd.Series(pd.Categorical(["a", "b", None, "a"], categories=["b", "a", "z"])),
    "categorical numbers": pd.Series(pd.Categorical([1, 2, None])),
    "text with gaps": pd.Series(["x", np.nan, "y", "x", None], dtype=object),
    "floats": pd.Series([1.0, 2.0, np.nan]),
    "integers": pd.Series([3, 1, 3]),
    "booleans": pd.Series([True, False]),
    "empty categorical": pd.Series(pd.Categorical([], categories=["a"])),
}


@pytest.mark.parametrize("name", list(COLUMNS))
def test_the_text_astype_str_gives(name):
    s = COLUMNS[name]
    want = s.astype(str).to_numpy()
    got = text_values(s)
    assert got.dtype == object and list(got) == list(want)
    codes, labels = text_codes(s)
    assert list(labels[codes]) == list(want)
    assert len(set(labels)) == len(labels)  # each distinct value once
    assert set(labels) == set(want)  # the values present only (not unused categories)
