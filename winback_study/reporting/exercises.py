"""The notebooks' exercise answers, in the one line their tests read.

Each numbered notebook stores the result of every worked solution in a variable
``answer_N_k``; its last solution cell prints :func:`answers_line` of its namespace, and
``tests/reporting/test_exercises.py`` recomputes each answer with the library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

__all__ = ["answers_line"]


def answers_line(namespace: Mapping[str, Any]) -> str:
    """``answers {...}``: every ``answer_*`` of ``namespace`` (a notebook's ``globals()``),
    sorted by name, as one JSON line (a DataFrame as ``to_dict(orient="split")``)."""
    answers = {k: v.to_dict(orient="split") if isinstance(v, pd.DataFrame) else v
               for k, v in sorted(namespace.items()) if k.startswith("answer_")}
    return "answers " + json.dumps(answers, default=float)
