"""The published figures this package replicates, in one place.

Every test, notebook and report that compares against the study reads from here.
Sources: Kumar, Bhagwat & Zhang (2015), *Journal of Marketing* 79(4) 34-55 ("JM 2015"),
and its managerial summary in *Harvard Business Review*, March 2016, pp. 22-23
("HBR 2016"). Fader & Hardie (2007) supplies the contractual-CLV anchor.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from winback_study.errors import DataError

__all__ = [
    "PublishedFigure",
    "ROLES",
    "PUBLISHED",
    "OFFER_EXHIBIT",
    "FADER_HARDIE_REGULAR",
    "published_table",
    "get",
]

HBR = "HBR 2016"
HBR_EXHIBIT = "HBR 2016 exhibit"
JM = "JM 2015"
JM_MSI = "JM 2015 (MSI summary)"
#: What a published figure is to the replication: a finding to reproduce, or an input of
#: the simulation's design (calibrated to the published number, so it cannot miss).
ROLES: tuple[str, ...] = ("finding", "input")


@dataclass(frozen=True)
class PublishedFigure:
    """One published fact.

    Attributes
    ----------
    id : str
        Identifier, ``P1`` .. ``P11``, with a suffix for exhibit cells (``P3.discount.roi``).
    metric : str
        What is measured, in words.
    value : float or None
        The published number (None for a qualitative finding).
    unit : str
        Unit of ``value`` (``customers``, ``%``, ``USD`` ...), or ``finding``.
    source : str
        Where it was published.
    tolerance : float or None
        Allowed distance of a replicated value: relative (``tolerance_kind='relative'``,
        a fraction of ``value``) or absolute in the unit of ``value``.
    tolerance_kind : str
        ``relative``, ``absolute``, ``upper_bound`` (the replicated value must not exceed
        ``value``; "up to 3%") or ``qualitative``.
    role : str
        ``finding`` (something the study found, which the replication must reproduce) or
        ``input`` (a fact of the study's design that the simulation is set to: the number of
        customers, the window, the number randomised, the offer costs). An input's
        replicated value equals the published one because it was typed into the
        simulation, so the replication table gives it the status ``input``, not ``match``.
    """

    id: str
    metric: str
    value: float | None
    unit: str
    source: str
    tolerance: float | None = None
    tolerance_kind: str = "qualitative"
    role: str = "finding"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise DataError(f"{self.id}: role must be one of {', '.join(ROLES)}, got {self.role!r}")

    @property
    def is_input(self) -> bool:
        """True for a design input of the simulation (see ``role``), not a finding."""
        return self.role == "input"

    def within(self, replicated: float) -> bool:
        """True when ``replicated`` is within the tolerance of the published value."""
        if self.tolerance_kind == "upper_bound" and self.value is not None:
            return replicated <= self.value
        if self.value is None or self.tolerance is None:
            raise DataError(f"{self.id} is qualitative; it has no numeric tolerance")
        if self.tolerance_kind == "relative":
            return abs(replicated - self.value) <= self.tolerance * abs(self.value)
        return abs(replicated - self.value) <= self.tolerance

    @property
    def tolerance_label(self) -> str:
        if self.tolerance_kind == "upper_bound":
            return "upper bound"
        if self.tolerance is None:
            return "direction"
        if self.tolerance_kind == "relative":
            return f"±{self.tolerance:.0%}"
        if self.unit == "%":
            return f"±{self.tolerance:g} pp"  # percentage points
        return f"±{self.tolerance:g} {self.unit}"


#: The offer exhibit of HBR 2016, per reacquired customer: cost in USD, success rate and ROI
#: in percent. Tailored: price leavers get the discount ($120), service leavers the upgrade
#: ($105).
OFFER_EXHIBIT = pd.DataFrame(
    {
        "offer": ["discount", "upgrade", "bundled", "tailored"],
        "description": [
            "$20 off the monthly bill for 6 months",
            "$35 movie channel free for 3 months",
            "discount and upgrade together",
            "price leavers get the discount, service leavers the upgrade",
        ],
        "cost_per_reacquired": [120.0, 105.0, 225.0, float("nan")],
        "success_rate_pct": [45.0, 41.0, 47.0, 45.0],
        "roi_pct": [668.0, 793.0, 302.0, 596.0],
    }
).set_index("offer")

#: Fader & Hardie (2007), "regular" cohort: survivors at the start of each year.
FADER_HARDIE_REGULAR = pd.Series(
    [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173],
    index=pd.RangeIndex(0, 13, name="year"),
    name="survivors",
)
#: Fader & Hardie's maximum-likelihood sBG fit on years 1-7 of the regular cohort.
FADER_HARDIE_REGULAR_FIT = {"alpha": 0.704, "beta": 1.182}

_ROWS: list[PublishedFigure] = [
    # design inputs: the simulation is set to these numbers (study size, window, arms)
    PublishedFigure("P1.customers", "Lapsed customers studied", 53_000, "customers", HBR, 0.0, "absolute", "input"),
    PublishedFigure("P1.window", "Observation window", 84, "months", HBR, 0.0, "absolute", "input"),
    PublishedFigure("P2", "Lapsed customers sent one of four win-back offers", 40_000, "customers", HBR, 0.0, "absolute", "input"),
]
for _offer, _row in OFFER_EXHIBIT.iterrows():
    _ROWS.append(
        PublishedFigure(
            f"P3.{_offer}.success", f"Win-back success rate, {_offer} offer",
            float(_row["success_rate_pct"]), "%", HBR_EXHIBIT, 1.5, "absolute",
        )
    )
    _ROWS.append(
        PublishedFigure(
            f"P3.{_offer}.roi", f"ROI per reacquired customer, {_offer} offer",
            float(_row["roi_pct"]), "%", HBR_EXHIBIT, 0.15, "relative",
        )
    )
    if _offer != "tailored":
        _ROWS.append(
            PublishedFigure(
                f"P3.{_offer}.cost", f"Offer cost per reacquired customer, {_offer}",
                float(_row["cost_per_reacquired"]), "USD", HBR_EXHIBIT, 0.0, "absolute",
                "input",  # the simulated offers cost what the exhibit says they cost
            )
        )
_ROWS += [
    PublishedFigure("P3.ranking", "ROI ranking of the arms: upgrade > discount > tailored > bundled", None, "finding", HBR_EXHIBIT),
    PublishedFigure("P4.clv_first", "Average CLV, first lifetime", 1262.0, "USD", HBR, 0.03, "relative"),
    PublishedFigure("P4.slv", "Average CLV, second lifetime (after reacquisition)", 1410.0, "USD", HBR, 0.03, "relative"),
    PublishedFigure("P5.referrals", "Referrals made in the first lifetime raise the chance of return", None, "finding", f"{JM}; {HBR}"),
    PublishedFigure("P5.complaints", "More complaints lower the chance of return", None, "finding", f"{JM}; {HBR}"),
    PublishedFigure("P5.resolved", "A resolved complaint (service recovery) raises the chance of return", None, "finding", f"{JM}; {HBR}"),
    PublishedFigure("P6", "Return rate: price leavers > service leavers > price-and-service leavers", None, "finding", f"{JM}; {HBR}"),
    PublishedFigure("P7.longer", "Second lifetimes are longer than first lifetimes on average", None, "finding", HBR),
    PublishedFigure("P7.price", "Price leavers have the longest second lifetimes", None, "finding", HBR),
    PublishedFigure("P8", "Service leavers return less, stay shorter, but spend more per month", None, "finding", JM_MSI),
    PublishedFigure("P9", "Second lifetime: upgrade longest, discount next, bundled shortest and least profitable", None, "finding", JM_MSI),
    PublishedFigure("P10", "Contacting those most likely to accept raises the win-back rate", None, "finding", HBR),
    PublishedFigure("P11", "Mobile operators lose up to 3% of subscribers a month", 3.0, "% per month", HBR, None, "upper_bound"),
]

#: Every published figure, keyed by id.
PUBLISHED: dict[str, PublishedFigure] = {f.id: f for f in _ROWS}


def get(figure_id: str) -> PublishedFigure:
    """Return the published figure ``figure_id`` (for example ``"P4.slv"``)."""
    try:
        return PUBLISHED[figure_id]
    except KeyError:
        raise DataError(
            f"no published figure {figure_id!r}; known ids: {', '.join(PUBLISHED)}"
        ) from None


def published_table() -> pd.DataFrame:
    """All published figures as a DataFrame, one row each, indexed by id (with its ``role``:
    ``finding`` or ``input``)."""
    rows = [
        {
            "id": f.id,
            "metric": f.metric,
            "published": f.value,
            "unit": f.unit,
            "tolerance": f.tolerance_label,
            "role": f.role,
            "source": f.source,
        }
        for f in _ROWS
    ]
    return pd.DataFrame(rows).set_index("id")
