"""winback-study: replicate Kumar, Bhagwat & Zhang (2015) on customer win-back.

Simulate a study population calibrated to the published figures, estimate the study's
models on it, and apply the same methods to your own lapsed customers.
"""

from . import figures, offer_experiment, provenance, return_probability
from .customer_value import ANNUAL_DISCOUNT_RATE, annuity_factor, lifetime_value, monthly_rate
from .offer_experiment import arm_summary, incremental_roi
from .provenance import version_stamp
from .published import PUBLISHED, published_table
from .return_probability import ReturnModel, ReturnModelError, fit_return_model, return_rate_table
from .sbg import SBGResult, fit_sbg, sbg_clv
from .study_population import StudyParams, simulate_study, study_params, true_return_coefficients
from .study_table import StudyDataError, load_study, validate_study

# isort: split
# Second lifetime, second-lifetime margin, selection correction, value routes (issue 7).
from . import second_lifetime, second_profit, selection
from .customer_value import (
    expected_lifetime_value,
    expected_slv,
    slv_discount_sensitivity,
    value_routes,
    win_back_value,
    win_back_values,
    with_offer,
)
from .sbg import GeometricResult, fit_geometric
from .second_lifetime import (
    SecondLifetimeError,
    fit_second_lifetime,
    km_summary,
    true_second_lifetime_effects,
)
from .second_profit import fit_second_profit, true_second_profit_effects
from .selection import fit_selection

__version__ = "0.1.0"

__all__ = [
    "figures",
    "offer_experiment",
    "provenance",
    "return_probability",
    "ANNUAL_DISCOUNT_RATE",
    "PUBLISHED",
    "SBGResult",
    "StudyDataError",
    "StudyParams",
    "annuity_factor",
    "arm_summary",
    "incremental_roi",
    "fit_sbg",
    "lifetime_value",
    "load_study",
    "monthly_rate",
    "published_table",
    "simulate_study",
    "study_params",
    "return_rate_table",
    "sbg_clv",
    "true_return_coefficients",
    "validate_study",
    "version_stamp",
    "ReturnModel",
    "ReturnModelError",
    "fit_return_model",
    "second_lifetime",
    "second_profit",
    "selection",
    "expected_lifetime_value",
    "expected_slv",
    "slv_discount_sensitivity",
    "value_routes",
    "win_back_value",
    "win_back_values",
    "with_offer",
    "GeometricResult",
    "fit_geometric",
    "fit_second_lifetime",
    "SecondLifetimeError",
    "fit_second_profit",
    "fit_selection",
    "km_summary",
    "true_second_lifetime_effects",
    "true_second_profit_effects",
]

# the offer experiment and targeting (issue 4); ``offer_experiment`` stays the module, which
# is callable: ``wb.offer_experiment(df)`` runs :func:`offer_experiment.offer_experiment`
from . import targeting  # noqa: E402
from .offer_experiment import (  # noqa: E402
    OfferExperimentResult,
    SensitivityResult,
    break_even_cost,
    replicated_exhibit,
    roi_sensitivity,
)
from .targeting import (  # noqa: E402
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

__all__ += [
    "targeting",
    "OfferExperimentResult",
    "SensitivityResult",
    "break_even_cost",
    "replicated_exhibit",
    "roi_sensitivity",
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
]
