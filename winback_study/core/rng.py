"""Random streams for analyses that must never replay the simulator's draws."""

from __future__ import annotations

import numpy as np

__all__ = ["SeedLike", "independent_rng"]

SeedLike = int | np.random.Generator | None


def independent_rng(seed: SeedLike) -> np.random.Generator:
    """A generator for resampling or splitting that never replays the simulator's draws.

    ``simulate_study(seed=s)`` draws from ``default_rng(s)``; an analysis seeded with the
    same ``s`` would reuse those very numbers (a random half split with
    ``default_rng(s).random(n) < 0.5`` picks customers by their simulated defection
    reason). An integer seed is therefore turned into an independent child stream
    (``SeedSequence(seed).spawn(1)[0]``); a Generator is used as given.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
