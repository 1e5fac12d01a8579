"""Version stamp: the package and key dependency versions, for notebooks and reports."""

from __future__ import annotations

import platform
from importlib import metadata

import pandas as pd

__all__ = ["KEY_PACKAGES", "version_stamp", "version_table"]

KEY_PACKAGES: tuple[str, ...] = (
    "winback-study", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib",
    "seaborn", "pandera",
)


def version_table() -> pd.DataFrame:
    """Python and key package versions as a two-column DataFrame."""
    rows = [("python", platform.python_version())]
    for name in KEY_PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["package", "version"])


def version_stamp() -> str:
    """One line naming Python and every key package version, e.g. for a notebook's end."""
    return "; ".join(f"{p} {v}" for p, v in version_table().itertuples(index=False))
