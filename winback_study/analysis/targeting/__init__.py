"""Whom to win back, with what: targeting lapsed customers by expected win-back profit.

One module per question, every public name importable from here:

* :mod:`~winback_study.analysis.targeting.scores`: what each customer would do under each
  offer (:func:`score_offers` -> :class:`OfferScores`, :func:`counterfactual`,
  :func:`expected_values`, :func:`rank_customers`), out-of-fold predictions
  (:func:`cross_fit_predict`) and random splits (:func:`holdout_mask`);
* :mod:`~winback_study.analysis.targeting.curves`: what targeting achieved on the
  experiment (:func:`gain_curve`, :func:`qini_curve`, :func:`top_fraction_response`,
  :func:`uplift_by_segment`);
* :mod:`~winback_study.analysis.targeting.policies`: policies valued under the model (the
  best offer per segment and its noise, budgets, the share-profit frontier, the standard
  policies side by side, the published arms on the same map);
* :mod:`~winback_study.analysis.targeting.power`: sample size and power for a new test.

Arms, costs and the no-offer arm come from a :class:`~winback_study.design.StudyDesign`
(``design=``; the study's :data:`~winback_study.design.KUMAR_2015` for the study's data).

Examples
--------
>>> import winback_study as wb
>>> from winback_study.analysis.targeting import score_offers, policy_table
>>> df = wb.simulate_study(4_000, seed=1, n_per_arm=500)
>>> scores = score_offers(df, wb.fit_return_model(df, link="probit"))
>>> "no offers" in policy_table(scores, df).index
True
"""

from winback_study.analysis.targeting.curves import (
    DEFAULT_FRACTIONS,
    GainCurve,
    QiniCurve,
    gain_curve,
    qini_curve,
    top_fraction_response,
    uplift_by_segment,
)
from winback_study.analysis.targeting.policies import (
    behaviour_segment,
    best_offer_by_segment,
    budget_frontier,
    budget_policy,
    evaluate_policy,
    policy_frontier,
    policy_table,
    published_arm_points,
    segment_margin_se,
)
from winback_study.analysis.targeting.power import (
    design_power,
    sample_size_per_arm,
    sample_size_table,
)
from winback_study.analysis.targeting.scores import (
    OfferScores,
    ProbabilityModel,
    counterfactual,
    cross_fit_predict,
    expected_values,
    holdout_mask,
    rank_customers,
    score_offers,
)

__all__ = [
    # scores
    "ProbabilityModel",
    "counterfactual",
    "expected_values",
    "OfferScores",
    "score_offers",
    "rank_customers",
    "cross_fit_predict",
    "holdout_mask",
    # curves
    "DEFAULT_FRACTIONS",
    "GainCurve",
    "gain_curve",
    "top_fraction_response",
    "uplift_by_segment",
    "QiniCurve",
    "qini_curve",
    # policies
    "behaviour_segment",
    "best_offer_by_segment",
    "segment_margin_se",
    "evaluate_policy",
    "policy_table",
    "policy_frontier",
    "budget_policy",
    "budget_frontier",
    "published_arm_points",
    # power
    "sample_size_per_arm",
    "design_power",
    "sample_size_table",
]
