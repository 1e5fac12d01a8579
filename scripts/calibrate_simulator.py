"""Re-derive the calibrated defaults of :class:`winback_study.StudyParams`.

The simulator's structural parameters (effect signs and sizes of behaviour, reason,
loyalty) are set by hand in ``winback_study/data/simulate.py``. Nine numbers are then *solved* so that
the expected aggregates of a large simulated population hit the published targets:

=============================  ==================================================
parameter                      target
=============================  ==================================================
``return_intercept``           no-offer return rate = ``--baseline`` (a choice: 16%)
``return_offer`` (3 offers)    response rate of the discount, upgrade, bundled arms
``return_offer_matches_reason`` response rate of the tailored arm
``first_margin_scale``         mean first-lifetime CLV = $1,262
``second_offer`` (2 offers)    ROI of the discount and upgrade arms (bundled: a fixed
                               gap below discount, ``BUNDLED_DURATION_GAP``)
``second_margin_intercept``    mean SLV of the reacquired = $1,410
=============================  ==================================================

The tailored and bundled ROIs are *not* targets: they follow from the others and are
checked against their published values.
Common random numbers (one seed, ``--customers`` rows) keep the least-squares solve smooth. Run: ``.venv/bin/python scripts/calibrate_simulator.py``.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import norm

from winback_study import StudyParams, arm_summary, simulate_study
from winback_study.data.published import OFFER_EXHIBIT, get

OFFERS3 = ("discount", "upgrade", "bundled")
#: The bundled offer's second lifetimes are set this much shorter (log months) than the
#: discount's instead of being solved from the bundled ROI: solved exactly, the published
#: ROIs leave bundled and discount second lifetimes within ~2% of each other, too close for
#: P9 (bundled shortest) to show at the study's 10,000 per arm. The bundled ROI then lands
#: below its published 302% (inside the 15% tolerance); the report shows by how much.
BUNDLED_DURATION_GAP = 0.14


def _unpack(x: np.ndarray, base: StudyParams) -> StudyParams:
    return base.with_(
        return_intercept=float(x[0]),
        return_offer={"none": 0.0, **{o: float(v) for o, v in zip(OFFERS3, x[1:4], strict=True)}},
        return_offer_matches_reason=float(x[4]),
        first_margin_scale=float(np.exp(x[5])),
        second_offer={
            "none": 0.0, "discount": float(x[6]), "upgrade": float(x[7]),
            "bundled": float(x[6]) - BUNDLED_DURATION_GAP,
        },
        second_margin_intercept=float(x[8]),
    )


def _pack(p: StudyParams) -> np.ndarray:
    return np.array(
        [p.return_intercept, *(p.return_offer[o] for o in OFFERS3), p.return_offer_matches_reason,
         np.log(p.first_margin_scale), p.second_offer["discount"], p.second_offer["upgrade"],
         p.second_margin_intercept]
    )


def residuals(x: np.ndarray, base: StudyParams, customers: int, baseline: float,
              seed: int) -> np.ndarray:
    """Scaled distance of each aggregate from its target (zero at the solution)."""
    df = simulate_study(customers, seed=seed, params=_unpack(x, base))
    arms = arm_summary(df)
    b = arms["baseline_rate"].iloc[0]
    r = arms["response_rate"]
    target_r = OFFER_EXHIBIT["success_rate_pct"] / 100
    target_roi = OFFER_EXHIBIT["roi_pct"] / 100
    slv_mean = df.loc[df["reacquired"] == 1, "slv"].mean()
    res = [norm.ppf(b) - norm.ppf(baseline)]
    res += [norm.ppf(r[o]) - norm.ppf(target_r[o]) for o in (*OFFERS3, "tailored")]
    res += [np.log(df["clv_first"].mean() / get("P4.clv_first").value)]
    res += [np.log(slv_mean / get("P4.slv").value)]
    res += [(arms.loc[o, "roi"] - target_roi[o]) / (1 + target_roi[o]) for o in OFFERS3[:2]]
    return np.array(res)


def solve(customers: int, baseline: float, seed: int) -> StudyParams:
    base = StudyParams()
    fit = least_squares(
        residuals, _pack(base), args=(base, customers, baseline, seed),
        diff_step=1e-2, xtol=1e-9, ftol=1e-10, gtol=1e-10, verbose=1,
    )
    p = _unpack(fit.x, base)
    df = simulate_study(customers, seed=seed + 1, params=p)
    print("\nCheck on a fresh seed:")
    print(arm_summary(df).round(4).to_string())
    back = df[df["reacquired"] == 1]
    print(back.groupby("offer", observed=True)[["second_tenure_months", "second_monthly_margin"]].mean())
    print(f"mean clv_first {df['clv_first'].mean():.1f}  mean slv "
          f"{df.loc[df['reacquired'] == 1, 'slv'].mean():.1f}")
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=4_240_000)
    ap.add_argument("--baseline", type=float, default=0.16)
    ap.add_argument("--seed", type=int, default=987654321)
    args = ap.parse_args()
    p = solve(args.customers, args.baseline, args.seed)
    print("\nCalibrated values (paste into StudyParams):")
    for name in (
        "return_intercept", "return_offer", "return_offer_matches_reason",
        "first_margin_scale", "second_offer", "second_margin_intercept",
    ):
        v = getattr(p, name)
        v = {k: round(float(x), 4) for k, x in v.items()} if isinstance(v, dict) else round(float(v), 4)
        print(f"  {name} = {v}")


if __name__ == "__main__":
    main()
