"""patsy's fast path for ``C(x)`` on a pandas categorical (pydata/patsy#97, never merged).

patsy codes a pandas ``Categorical`` column by its integer codes, but when the column is
wrapped in ``C(x, Treatment(...))`` (how the package writes every factor with a chosen
reference) it unboxes the data only *after* that check and then converts value by value, with
a per-item missing-value test: 0.5 s per million rows per factor, on every fit, every
prediction and every chunk of a counterfactual. :func:`install` puts the unboxing first, as
the pull request proposed: a boxed categorical whose categories are the expected levels is
coded by its codes (missing values are -1 in both paths, so the result is the same array);
anything else goes the original way, with its errors. patsy is in maintenance mode (1.0.x),
so the fix is applied here, once, when the models are imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["install", "installed"]

_STATE: dict[str, Any] = {}


def install() -> None:
    """Install the fast path in patsy (idempotent; a no-op if patsy is missing)."""
    if _STATE:
        return
    try:
        from patsy import build, categorical
    except ImportError:  # pragma: no cover - statsmodels needs patsy
        return
    original = categorical.categorical_to_int

    def categorical_to_int(data: Any, levels: tuple, NA_action: Any, origin: Any = None):
        if isinstance(data, categorical._CategoricalBox) and (
                data.levels is None or tuple(data.levels) == levels):
            inner = data.data
            if (categorical.safe_is_pandas_categorical(inner)
                    and tuple(categorical.pandas_Categorical_categories(inner)) == levels):
                return categorical.pandas_Categorical_codes(inner)
        return original(data, levels, NA_action, origin)

    categorical_to_int.__wrapped__ = original  # type: ignore[attr-defined]
    categorical.categorical_to_int = categorical_to_int
    build.categorical_to_int = categorical_to_int
    _STATE["original"] = original


def installed() -> bool:
    """Whether :func:`install` has run."""
    return bool(_STATE)
