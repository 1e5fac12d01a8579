"""A column's values as text, a categorical column converted per category, not per row.

``series.astype(str)`` on a categorical column converts every row to a Python string: over
a second and 10 million string objects for a 10-million-row column of five offer labels.
:func:`text_codes` takes a categorical's codes and converts its categories only;
:func:`text_values` gives the array ``astype(str)`` gives, by a take. Other columns are
converted by pandas as before (text columns already hold strings: that is quick).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["text_codes", "text_values"]


def text_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, labels)``: each row's position in ``labels``, the distinct values present
    as text (what ``values.astype(str).unique()`` holds, in another order).

    ``labels[codes]`` equals ``values.astype(str).to_numpy()`` element by element (a
    missing value of a categorical is ``"nan"``, as there); ``labels`` is an object array.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = np.asarray(values.cat.codes, dtype=np.int64) + 1  # 0: missing
        text = np.concatenate([np.array(["nan"], dtype=object), pd.Series(
            values.cat.categories).astype(str).to_numpy(dtype=object)])
        present = np.flatnonzero(np.bincount(codes, minlength=len(text)))
        compact = np.zeros(len(text), dtype=np.int64)  # category -> position among present
        compact[present] = np.arange(len(present))
        return compact[codes], text[present]
    codes, uniques = pd.factorize(values.astype(str))
    return codes, np.asarray(uniques, dtype=object)


def text_values(values: pd.Series) -> np.ndarray:
    """``values.astype(str).to_numpy()``, a categorical converted once per category."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, labels = text_codes(values)
        return labels[codes]
    return values.astype(str).to_numpy()
