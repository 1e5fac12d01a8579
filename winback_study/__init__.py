"""winback-study: replicate Kumar, Bhagwat & Zhang (2015) on customer win-back.

Simulate a study population calibrated to the published figures, estimate the study's
models on it, and apply the same methods to your own lapsed customers.

Layers (each imports only from the layers above it in this list):

* ``design``, ``errors``, ``core/``: the study design, the error tree, formulas, the result
  convention, discounting, random streams, file output;
* ``data/``: the simulator, the study-table validator, the user-file mapping, descriptive
  tables (return rates, Kaplan-Meier), the published figures; ``plotting/``: the house style and every chart;
* ``models/``: the three equations (return, second-lifetime duration, second-lifetime
  margin), the selection correction and the sBG retention model;
* ``analysis/``: ROI, the offer experiment and its sensitivity, customer value, targeting;
* ``reporting/`` and ``cli``: the replication table, ``reproduce``, ``analyze``.
"""

from winback_study import plotting
from winback_study.analysis.customer_value import (
    expected_slv,
    slv_discount_sensitivity,
    value_routes,
    win_back_value,
    win_back_values,
    with_offer,
)
from winback_study.analysis.offer_experiment import (
    OfferExperimentResult,
    break_even_cost,
    offer_experiment,
    replicated_exhibit,
)
from winback_study.analysis.roi import arm_summary, incremental_roi, tailored_cost_mix
from winback_study.analysis.scoring import fit_scoring_models, score_customers
from winback_study.analysis.sensitivity import SensitivityResult, roi_sensitivity
from winback_study.analysis.targeting import (
    GainCurve,
    OfferScores,
    QiniCurve,
    budget_frontier,
    budget_policy,
    design_power,
    gain_curve,
    policy_frontier,
    policy_table,
    qini_curve,
    sample_size_per_arm,
    score_offers,
    top_fraction_response,
    uplift_by_segment,
)
from winback_study.core.provenance import version_stamp
from winback_study.core.results import SUMMARY_COLUMNS, FittedResult
from winback_study.core.value import (
    ANNUAL_DISCOUNT_RATE,
    annuity_factor,
    expected_lifetime_value,
    lifetime_value,
    monthly_rate,
    weibull_annuity,
)
from winback_study.data.describe import km_summary, return_rate_table
from winback_study.data.published import PUBLISHED, published_table
from winback_study.data.simulate import (
    StudyParams,
    simulate_study,
    study_params,
    true_return_coefficients,
)
from winback_study.data.study_table import load_study, validate_study
from winback_study.design import KUMAR_2015, StudyDesign, design_from_data, resolve_design
from winback_study.errors import (
    ConvergenceError,
    DataError,
    DesignError,
    ModelError,
    ReturnModelError,
    SBGBoundaryError,
    SecondLifetimeConvergenceError,
    SecondLifetimeError,
    SecondProfitError,
    StudyDataError,
    WinbackError,
)
from winback_study.models.base import RegressionResult
from winback_study.models.evaluation import ReturnModelEvaluation
from winback_study.models.joint import JointModelResult, fit_joint_model, true_joint_effects
from winback_study.models.portable import ScoringModels
from winback_study.models.return_patterns import (
    ReturnPatternsResult,
    fit_return_patterns,
    return_patterns,
)
from winback_study.models.return_probability import ReturnModel, fit_return_model
from winback_study.models.sbg import GeometricResult, SBGResult, fit_geometric, fit_sbg, sbg_clv
from winback_study.models.second_lifetime import (
    SecondLifetimeResult,
    fit_second_lifetime,
    true_second_lifetime_effects,
)
from winback_study.models.second_profit import (
    SecondProfitResult,
    fit_second_profit,
    true_second_profit_effects,
)
from winback_study.models.selection import fit_selection

__version__ = "0.2.0"

__all__ = [
    # design, errors, conventions
    "KUMAR_2015",
    "StudyDesign",
    "design_from_data",
    "resolve_design",
    "WinbackError",
    "DataError",
    "StudyDataError",
    "DesignError",
    "ModelError",
    "ReturnModelError",
    "SecondLifetimeError",
    "SecondLifetimeConvergenceError",
    "SecondProfitError",
    "SBGBoundaryError",
    "ConvergenceError",
    "FittedResult",
    "SUMMARY_COLUMNS",
    # value
    "ANNUAL_DISCOUNT_RATE",
    "annuity_factor",
    "expected_lifetime_value",
    "lifetime_value",
    "monthly_rate",
    "weibull_annuity",
    # data
    "PUBLISHED",
    "published_table",
    "StudyParams",
    "simulate_study",
    "study_params",
    "true_return_coefficients",
    "load_study",
    "validate_study",
    # models
    "RegressionResult",
    "ReturnModel",
    "ReturnModelEvaluation",
    "fit_return_model",
    "fit_selection",
    "SecondLifetimeResult",
    "fit_second_lifetime",
    "true_second_lifetime_effects",
    "SecondProfitResult",
    "fit_second_profit",
    "true_second_profit_effects",
    "JointModelResult",
    "fit_joint_model",
    "true_joint_effects",
    "ReturnPatternsResult",
    "fit_return_patterns",
    "return_patterns",
    "ScoringModels",
    "SBGResult",
    "GeometricResult",
    "fit_sbg",
    "fit_geometric",
    "sbg_clv",
    # analyses
    "return_rate_table",
    "km_summary",
    "expected_slv",
    "slv_discount_sensitivity",
    "value_routes",
    "win_back_value",
    "win_back_values",
    "with_offer",
    "OfferExperimentResult",
    "SensitivityResult",
    "arm_summary",
    "break_even_cost",
    "incremental_roi",
    "offer_experiment",
    "replicated_exhibit",
    "roi_sensitivity",
    "tailored_cost_mix",
    "GainCurve",
    "OfferScores",
    "QiniCurve",
    "budget_frontier",
    "budget_policy",
    "design_power",
    "gain_curve",
    "policy_frontier",
    "policy_table",
    "qini_curve",
    "sample_size_per_arm",
    "score_offers",
    "top_fraction_response",
    "uplift_by_segment",
    "fit_scoring_models",
    "score_customers",
    # presentation helpers
    "plotting",
    "version_stamp",
]
