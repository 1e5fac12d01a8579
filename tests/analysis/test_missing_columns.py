"""Every public analysis function, given a frame without a column it needs, raises a
:class:`~winback_study.errors.WinbackError` that names the column (never a pandas
``KeyError``), so the command line and ``analyze`` report it in one line."""

import inspect

import numpy as np
import pytest

import winback_study.analysis.customer_value as customer_value
import winback_study.analysis.offer_experiment as offer_experiment
import winback_study.analysis.roi as roi
import winback_study.analysis.sensitivity as sensitivity
import winback_study.analysis.targeting.curves as curves
import winback_study.analysis.targeting.policies as policies
import winback_study.analysis.targeting.power as power
import winback_study.analysis.targeting.scores as scores
from winback_study.analysis.targeting import holdout_mask
from winback_study.errors import DataError, WinbackError

MODULES = (roi, offer_experiment, sensitivity, customer_value, scores, curves, policies, power)


def _scored(m):
    return scores.score_offers(m.full, m.model)


#: (function, column dropped from the frame, the call). ``m`` holds the full frame, the
#: stand-in models and whatever a call needs besides the frame.
CASES = [
    ("arm_summary", "slv", lambda df, m: roi.arm_summary(df)),
    ("arm_summary", "reacquired", lambda df, m: roi.arm_summary(df)),
    ("arm_summary", "offer", lambda df, m: roi.arm_summary(df)),
    ("customer_costs", "my_cost", lambda df, m: roi.customer_costs(df, "my_cost")),
    ("customer_values", "slv", lambda df, m: roi.customer_values(df, "slv")),
    ("tailored_cost_mix", "offer_received", lambda df, m: roi.tailored_cost_mix(df)),
    ("tailored_cost_mix", "reacquired", lambda df, m: roi.tailored_cost_mix(df)),
    ("offer_experiment", "reacquired",
     lambda df, m: offer_experiment.offer_experiment(df, n_boot=5)),
    ("offer_experiment", "offer", lambda df, m: offer_experiment.offer_experiment(df, n_boot=5)),
    ("offer_experiment", "slv", lambda df, m: offer_experiment.offer_experiment(df, n_boot=5)),
    ("bootstrap_roi", "slv", lambda df, m: offer_experiment.bootstrap_roi(df, n_boot=5)),
    ("bootstrap_roi", "offer", lambda df, m: offer_experiment.bootstrap_roi(df, n_boot=5)),
    ("replicated_exhibit", "reacquired", lambda df, m: offer_experiment.replicated_exhibit(df)),
    ("horizon_value", "second_monthly_margin", lambda df, m: sensitivity.horizon_value(df)),
    ("horizon_value", "second_tenure_months",
     lambda df, m: sensitivity.horizon_value(df, tenure_col="second_tenure_months")),
    ("roi_sensitivity", "second_monthly_margin",
     lambda df, m: sensitivity.roi_sensitivity(df, horizons=(None,))),
    ("roi_sensitivity", "reacquired", lambda df, m: sensitivity.roi_sensitivity(df)),
    ("with_offer", "defection_reason", lambda df, m: customer_value.with_offer(df, "tailored")),
    ("win_back_values", "defection_reason",
     lambda df, m: customer_value.win_back_values(df.head(50), m.life, m.life,
                                                  return_model=m.model)),
    ("value_routes", "clv_first", lambda df, m: customer_value.value_routes(df)),
    ("value_routes", "second_churned", lambda df, m: customer_value.value_routes(df)),
    ("counterfactual", "defection_reason", lambda df, m: scores.counterfactual(df, "tailored")),
    ("expected_values", "slv", lambda df, m: scores.expected_values(df, "discount")),
    ("expected_values", "defection_reason",
     lambda df, m: scores.expected_values(df, "discount")),
    ("score_offers", "slv", lambda df, m: scores.score_offers(df, m.model)),
    ("score_offers", "defection_reason", lambda df, m: scores.score_offers(df, m.model)),
    ("gain_curve", "score", lambda df, m: curves.gain_curve(df, "score", "discount")),
    ("gain_curve", "reacquired", lambda df, m: curves.gain_curve(df, m.score, "discount")),
    ("gain_curve", "slv", lambda df, m: curves.gain_curve(df, m.score, "discount")),
    ("top_fraction_response", "score", lambda df, m: curves.top_fraction_response(df, "score")),
    ("top_fraction_response", "offer",
     lambda df, m: curves.top_fraction_response(df, m.score)),
    ("uplift_by_segment", "defection_reason", lambda df, m: curves.uplift_by_segment(df)),
    ("uplift_by_segment", "reacquired", lambda df, m: curves.uplift_by_segment(df)),
    ("qini_curve", "score", lambda df, m: curves.qini_curve(df, "score", "discount")),
    ("qini_curve", "offer", lambda df, m: curves.qini_curve(df, m.score, "discount")),
    ("behaviour_segment", "referrals", lambda df, m: policies.behaviour_segment(df)),
    ("best_offer_by_segment", "complaints",
     lambda df, m: policies.best_offer_by_segment(_scored(m), df)),
    ("best_offer_by_segment", "defection_reason",
     lambda df, m: policies.best_offer_by_segment(_scored(m), df)),
    ("policy_table", "defection_reason", lambda df, m: policies.policy_table(_scored(m), df)),
    ("segment_margin_se", "referrals",
     lambda df, m: policies.segment_margin_se(
         df, m.train, lambda d: m.model,
         {"profit": policies.best_offer_by_segment(_scored(m), m.full)}, n_boot=2)),
]

#: Public functions taking a frame that need no column of their own, and why.
EXCLUDED = {
    "experiment_design": "reads the arms from the arm column when there is one; needs none",
    "expected_slv": "reads only what the fitted models read (their own column checks)",
    "slv_discount_sensitivity": "the models' columns; its own (reacquired, tenure) optional",
    "cross_fit_predict": "passes the frame to the caller's fit and model",
}


class _Inputs:
    def __init__(self, full, model, life):
        self.full, self.model, self.life = full, model, life
        self.score = np.linspace(0, 1, len(full))
        self.train = holdout_mask(len(full), 0.5, seed=1)


@pytest.fixture(scope="module")
def inputs(small_population, by_offer, known_lifetime):
    full = small_population.assign(score=np.linspace(0, 1, len(small_population)),
                                   my_cost=50.0)
    return _Inputs(full, by_offer, known_lifetime)


@pytest.mark.parametrize(("function", "column", "call"), CASES,
                         ids=[f"{f}-{c}" for f, c, _ in CASES])
def test_a_missing_column_is_a_winback_error_naming_it(function, column, call, inputs):
    call(inputs.full, inputs)  # the full frame works
    with pytest.raises(WinbackError) as info:
        call(inputs.full.drop(columns=column), inputs)
    err = info.value
    assert f"'{column}'" in str(err), str(err)
    if isinstance(err, DataError) and err.column is not None:
        assert err.column == column


def test_every_public_function_taking_a_frame_is_checked():
    taking_df = {name for m in MODULES for name in m.__all__
                 if inspect.isfunction(f := getattr(m, name))
                 and "df" in inspect.signature(f).parameters}
    covered = {f for f, _, _ in CASES}
    assert taking_df - covered - set(EXCLUDED) == set(), "add a case or an exclusion"
    assert not (covered | set(EXCLUDED)) - taking_df - {"replicated_exhibit"}
