"""The study design: which win-back offers exist, what they cost and how they are assigned.

A :class:`StudyDesign` is the vocabulary every part of the package reads instead of
hard-coding the study's offer names:

* ``offers``: the concrete offers a customer can receive, each with its **cost per
  acceptor** (USD, paid only by customers who come back), the control (no-offer) arm
  included at cost 0;
* ``control``: the no-offer arm, the baseline of incremental ROI and the reference level
  of the offer factor;
* ``rules``: arms that give different customers different offers, by defection reason
  (the study's ``tailored`` arm: price leavers get the discount, service leavers the
  upgrade ...);
* ``reasons`` (optional) with the first as the reference level, and ``matching``: the offer
  that addresses each reason (``offer_matches_reason``).

:data:`KUMAR_2015` is the study's design and the default everywhere. :meth:`StudyDesign.assign`
is the one counterfactual: the same customers as if every one had been sent a given arm;
every caller (values, targeting, the return model's predictions) goes through it.

Examples
--------
>>> from winback_study.design import KUMAR_2015, StudyDesign
>>> KUMAR_2015.arms
('none', 'discount', 'upgrade', 'bundled', 'tailored')
>>> mine = StudyDesign(offers={"none": 0, "free_month": 30, "points": 12})
>>> mine.treatment_arms
('free_month', 'points')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from winback_study.core.checks import flagged_rows
from winback_study.errors import DesignError, rows_text

__all__ = ["StudyDesign", "KUMAR_2015", "resolve_design", "design_from_data", "design_of"]

#: Column names of the study table that a design writes (see ``data/README.md``).
ARM_COLUMN = "offer"
RECEIVED_COLUMN = "offer_received"
MATCH_COLUMN = "offer_matches_reason"
COST_COLUMN = "offer_cost"
REASON_COLUMN = "defection_reason"


def _frozen(mapping: Mapping[Any, Any]) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class StudyDesign:
    """A win-back experiment's arms, their costs and the rule that assigns them.

    Parameters
    ----------
    offers : mapping of str to float
        Concrete offer -> cost per acceptor in USD, the control arm included (cost 0), in
        display order (the control is moved first).
    control : str
        The no-offer arm.
    rules : mapping of str to mapping, optional
        Arms that assign an offer by defection reason: ``{"tailored": {"price":
        "discount", ...}}``. Every reason of ``reasons`` must be covered.
    reasons : sequence of str, optional
        Defection reasons, the reference level first. Empty when the data have none.
    matching : mapping of str to str, optional
        Reason -> the offer that addresses it (``offer_matches_reason = 1``).
    name : str
        Label used in reports.
    """

    offers: Mapping[str, float]
    control: str = "none"
    rules: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    matching: Mapping[str, str] = field(default_factory=dict)
    name: str = "custom design"

    def __post_init__(self) -> None:
        if not isinstance(self.control, str) or not self.control:
            raise DesignError(f"control must be the name of the no-offer arm, got {self.control!r}")
        if not isinstance(self.offers, Mapping):
            raise DesignError("offers must map each arm to its cost per accepting customer, "
                              "e.g. {'none': 0, 'free_month': 30}")
        if isinstance(self.reasons, str) or not isinstance(self.reasons, Iterable):
            raise DesignError(f"reasons must be a sequence of reason names, got {self.reasons!r}")
        offers = {str(k): v for k, v in dict(self.offers).items()}
        if self.control not in offers:
            offers = {self.control: 0.0, **offers}
        bad = {k: v for k, v in offers.items()
               if isinstance(v, (bool, np.bool_))
               or not isinstance(v, (int, float, np.integer, np.floating))
               or not np.isfinite(float(v)) or float(v) < 0}
        if bad:
            raise DesignError(f"offer costs must be finite numbers >= 0 (USD per acceptor); "
                              f"got {bad}")
        if float(offers[self.control]) != 0:
            raise DesignError(f"the control arm {self.control!r} gives no offer, so it costs "
                              f"nothing; got {offers[self.control]!r}")
        ordered = {self.control: float(offers.pop(self.control)),
                   **{k: float(v) for k, v in offers.items()}}
        if len(ordered) < 2:
            raise DesignError("a design needs at least one offer besides the control arm "
                              f"{self.control!r}")
        reasons = tuple(str(r) for r in self.reasons)
        if len(set(reasons)) != len(reasons):
            raise DesignError(f"reasons must be distinct, got {list(reasons)}")
        rules = {str(a): {str(r): str(o) for r, o in dict(rule).items()}
                 for a, rule in dict(self.rules).items()}
        for arm, rule in rules.items():
            if arm in ordered:
                raise DesignError(f"rule arm {arm!r} has the name of an offer; rename one")
            unknown = sorted(set(rule.values()) - set(ordered))
            if unknown:
                raise DesignError(f"rule arm {arm!r} gives offer(s) {unknown} that have no cost "
                                  f"in offers (known: {list(ordered)})")
            if reasons and set(reasons) - set(rule):
                raise DesignError(
                    f"rule arm {arm!r} says nothing for reason(s) "
                    f"{sorted(set(reasons) - set(rule))}; give every reason an offer")
            if not reasons:
                raise DesignError(f"rule arm {arm!r} assigns by reason, so the design needs "
                                  "reasons=(...)")
        matching = {str(r): str(o) for r, o in dict(self.matching).items()}
        if matching and not reasons:
            raise DesignError("matching says which offer addresses each reason, so the design "
                              "needs reasons=(...)")
        unknown = sorted(set(matching.values()) - set(ordered))
        if unknown:
            raise DesignError(f"matching names offer(s) {unknown} not in offers")
        if reasons and set(matching) - set(reasons):
            raise DesignError(f"matching names reason(s) {sorted(set(matching) - set(reasons))} "
                              f"not in reasons {list(reasons)}")
        object.__setattr__(self, "offers", _frozen(ordered))
        object.__setattr__(self, "rules", _frozen({a: _frozen(r) for a, r in rules.items()}))
        object.__setattr__(self, "reasons", reasons)
        object.__setattr__(self, "matching", _frozen(matching))

    def _key(self) -> tuple:
        return (tuple(self.offers.items()), self.control,
                tuple((a, tuple(r.items())) for a, r in self.rules.items()), self.reasons,
                tuple(self.matching.items()), self.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StudyDesign) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    # ------------------------------------------------------------------ vocabulary
    @property
    def received_offers(self) -> tuple[str, ...]:
        """Concrete offers (``offer_received`` levels), control first."""
        return tuple(self.offers)

    @property
    def arms(self) -> tuple[str, ...]:
        """Experiment arms (``offer`` levels): control, the offers, then the rule arms."""
        return (*self.offers, *self.rules)

    @property
    def treatment_arms(self) -> tuple[str, ...]:
        """Every arm except the control, in display order."""
        return self.arms[1:]

    @property
    def targetable_offers(self) -> tuple[str, ...]:
        """Concrete offers except the control."""
        return self.received_offers[1:]

    @property
    def reference_reason(self) -> str | None:
        """Reference level of the reason factor (the first reason), or None."""
        return self.reasons[0] if self.reasons else None

    @property
    def costs(self) -> dict[str, float]:
        """Offer -> cost per acceptor, USD."""
        return dict(self.offers)

    def factor_levels(self) -> dict[str, tuple[str, ...]]:
        """The design's factor columns and their levels, reference level first."""
        out = {ARM_COLUMN: self.arms, RECEIVED_COLUMN: self.received_offers}
        if self.reasons:
            out[REASON_COLUMN] = self.reasons
        return out

    def with_costs(self, costs: Mapping[str, float] | None) -> StudyDesign:
        """A copy with some offers' costs changed (``{"upgrade": 150}``)."""
        if not costs:
            return self
        unknown = sorted(set(costs) - set(self.offers))
        if unknown:
            raise DesignError(f"no offer named {unknown} in the design (offers: "
                              f"{list(self.offers)}); costs are keyed by offer received")
        changed = {str(k): v for k, v in costs.items() if float(v) != self.offers[str(k)]}
        if not changed:
            return self
        label = ", ".join(f"{k} ${float(v):,.0f}" for k, v in changed.items())
        return replace(self, offers={**self.offers, **changed},
                       name=f"{self.name}, costs changed ({label})")

    def with_(self, **changes: Any) -> StudyDesign:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def cost_of(self, arm: str) -> float | dict[str, float]:
        """Cost per acceptor of an offer, or of each reason's offer for a rule arm."""
        self._check_arm(arm)
        if arm in self.rules:
            return {r: self.offers[o] for r, o in self.rules[arm].items()}
        return self.offers[arm]

    def _check_arm(self, arm: str) -> None:
        if arm not in self.arms:
            raise DesignError(f"arm must be one of {list(self.arms)} ({self.name}); got {arm!r}")

    # ------------------------------------------------------------------ assignment
    def received_for(self, arm: str, reasons: pd.Series | None = None,
                     n: int | None = None) -> np.ndarray:
        """The concrete offer each customer receives under ``arm``.

        Parameters
        ----------
        arm : str
            An arm of the design.
        reasons : pandas.Series, optional
            Defection reason per customer; needed for a rule arm.
        n : int, optional
            Number of customers when ``reasons`` is not given (an offer arm).

        Returns
        -------
        numpy.ndarray of str
            One offer per customer.

        Raises
        ------
        DesignError
            An unknown arm, a rule arm without reasons, or reasons the rule does not cover
            (the message names them and the rows).
        """
        self._check_arm(arm)
        if arm not in self.rules:
            if reasons is None and n is None:
                raise DesignError("received_for needs the customers: pass reasons= or n=")
            return np.full(len(reasons) if reasons is not None else int(n), arm, dtype=object)
        if reasons is None:
            raise DesignError(f"arm {arm!r} assigns offers by reason: the data need a "
                              f"{REASON_COLUMN!r} column", column=REASON_COLUMN,
                              problem="missing_column")
        rule = self.rules[arm]
        text = reasons.astype(object).to_numpy()
        out = pd.Series(text).map(dict(rule)).to_numpy(dtype=object)
        gap = pd.isna(out)
        if gap.any():
            seen = sorted({str(v) for v in text[gap]})
            raise DesignError(
                f"column {REASON_COLUMN!r}: reason(s) {seen} have no offer under the "
                f"{arm!r} rule (it covers {list(rule)}); {rows_text(*flagged_rows(gap, reasons.index))}. "
                "Add them to the design's rules or recode the reasons",
                column=REASON_COLUMN, rows=flagged_rows(gap, reasons.index)[0],
                n_rows=int(gap.sum()), problem="reason_not_in_rule")
        return out

    def matches(self, received: np.ndarray, reasons: pd.Series | None) -> np.ndarray:
        """1 where the offer received is the one that addresses the customer's reason."""
        if reasons is None or not self.matching:
            return np.zeros(len(received), dtype=np.int8)
        wanted = reasons.astype(object).map(dict(self.matching)).to_numpy(dtype=object)
        return (np.asarray(received, dtype=object) == wanted).astype(np.int8)

    def assign(self, df: pd.DataFrame, arm: str) -> pd.DataFrame:
        """The same customers as if every one had been sent ``arm`` (a counterfactual).

        Sets ``offer``, ``offer_received`` (a rule arm: by defection reason),
        ``offer_matches_reason`` and ``offer_cost`` (the design's costs) consistently;
        every other column is unchanged. ``df`` is not modified.

        Parameters
        ----------
        df : pandas.DataFrame
            Customers; a rule arm needs ``defection_reason``.
        arm : str
            The arm to assign.

        Returns
        -------
        pandas.DataFrame
            A modified copy.
        """
        columns = self.arm_columns(df, arm)
        return df.assign(**columns)

    def arm_columns(self, df: pd.DataFrame, arm: str) -> dict[str, Any]:
        """The four columns :meth:`assign` sets under ``arm`` (same parameters), without
        copying ``df``.

        Returns
        -------
        dict
            ``offer`` and ``offer_received`` (categoricals in the design's order),
            ``offer_matches_reason`` (0/1) and ``offer_cost`` (USD), one value per row.
        """
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        self._check_arm(arm)
        reasons = df[REASON_COLUMN] if REASON_COLUMN in df.columns else None
        if reasons is None and arm in self.rules:
            raise DesignError(f"arm {arm!r} assigns offers by reason: the data need a "
                              f"{REASON_COLUMN!r} column", column=REASON_COLUMN,
                              problem="missing_column")
        n = len(df)
        received_levels = list(self.received_offers)
        if reasons is None:
            per, match, codes = np.array([arm], dtype=object), np.zeros(1, np.int8), None
        else:
            # the rule and the matching of each distinct reason, taken row by row by code
            # (not a string per row: millions of customers have a handful of reasons)
            codes, distinct = pd.factorize(reasons)
            if (codes < 0).any() and arm in self.rules:
                self.received_for(arm, reasons)  # raises, naming the rows without a reason
            distinct = pd.Series(np.asarray(distinct, dtype=object))
            try:
                per = self.received_for(arm, distinct, n=len(distinct))
            except DesignError:
                self.received_for(arm, reasons)  # the same error, naming the data's rows
                raise
            match = self.matches(per, distinct)
            # code -1 (a missing reason, an offer arm): the arm's offer, no match
            per = np.append(per, arm).astype(object)
            match = np.append(match, 0).astype(np.int8)
        rcode = pd.Index(received_levels).get_indexer(per.astype(str))
        cost = pd.Series(per).map(dict(self.offers)).to_numpy(dtype=float)
        take = np.zeros(n, dtype=np.intp) if codes is None else np.where(codes < 0, len(per) - 1,
                                                                         codes)
        small = np.int8 if max(len(received_levels), len(self.arms)) < 127 else np.int32
        return {
            ARM_COLUMN: pd.Categorical.from_codes(
                np.full(n, list(self.arms).index(arm), dtype=small), categories=list(self.arms)),
            RECEIVED_COLUMN: pd.Categorical.from_codes(rcode.astype(small)[take],
                                                       categories=received_levels),
            MATCH_COLUMN: match[take],
            COST_COLUMN: cost[take],
        }

    def implied_columns(self, df: pd.DataFrame) -> dict[str, Any]:
        """The columns :meth:`complete` adds to ``df``, without copying ``df``.

        Returns
        -------
        dict
            Column name -> one value per row, for those of ``offer_received``,
            ``offer_matches_reason`` and ``offer_cost`` that ``df`` lacks (none without an
            ``offer`` column).

        Raises
        ------
        DesignError
            As :meth:`complete`.
        """
        if ARM_COLUMN not in df.columns:
            return {}
        keys = [c for c in (ARM_COLUMN, RECEIVED_COLUMN, REASON_COLUMN) if c in df.columns]
        # the design's implications depend on the arm, the offer and the reason only: work
        # them out once per distinct combination, then take them row by row
        codes = [pd.factorize(df[c])[0].astype(np.int64) + 1 for c in keys]
        combined = codes[0]
        for c in codes[1:]:
            combined = combined * (int(c.max(initial=0)) + 1) + c
        inverse, distinct = pd.factorize(combined)
        first = np.zeros(len(distinct), dtype=np.int64)
        first[inverse[::-1]] = np.arange(len(df) - 1, -1, -1)  # first row of each
        small = df.iloc[first][keys].reset_index(drop=True)
        try:
            self.check_data(small)
            changes = self._implied(small)
        except DesignError:
            # the same error, naming the data's own rows
            self.check_data(df)
            self._implied(df[keys])
            raise
        changes = {k: v for k, v in changes.items() if k not in df.columns}
        for name, values in list(changes.items()):
            if isinstance(values, pd.Categorical):
                changes[name] = pd.Categorical.from_codes(values.codes[inverse],
                                                          categories=values.categories)
            else:
                changes[name] = np.asarray(values)[inverse]
        return changes

    def _implied(self, df: pd.DataFrame) -> dict[str, Any]:
        """The columns :meth:`complete` adds, for the rows of ``df`` (row by row)."""
        arm = df[ARM_COLUMN].astype(object)
        reasons = df[REASON_COLUMN] if REASON_COLUMN in df.columns else None
        changes: dict[str, Any] = {}
        if RECEIVED_COLUMN in df.columns:
            received = df[RECEIVED_COLUMN].astype(object).to_numpy()
        else:
            received = arm.to_numpy(dtype=object).copy()
            for name in self.rules:
                mask = (arm == name).to_numpy()
                if mask.any():
                    if reasons is None:
                        raise DesignError(
                            f"arm {name!r} assigns offers by reason: the data need a "
                            f"{REASON_COLUMN!r} column", column=REASON_COLUMN,
                            problem="missing_column")
                    received[mask] = self.received_for(name, reasons[mask])
            changes[RECEIVED_COLUMN] = pd.Categorical(received,
                                                      categories=list(self.received_offers))
        if MATCH_COLUMN not in df.columns and self.matching and reasons is not None:
            changes[MATCH_COLUMN] = self.matches(received, reasons)
        if COST_COLUMN not in df.columns:
            changes[COST_COLUMN] = pd.Series(received).map(dict(self.offers)).to_numpy(float)
        return changes

    def check_data(self, df: pd.DataFrame, column: str = ARM_COLUMN) -> None:
        """Raise :class:`DesignError` if ``df[column]`` holds arms the design does not know."""
        if column not in df.columns:
            return
        known = self.arms if column == ARM_COLUMN else self.received_offers
        values = df[column].astype(object)
        bad = values.notna().to_numpy() & ~values.isin(known).to_numpy()
        if bad.any():
            seen = sorted({str(v) for v in values[bad]})
            raise DesignError(
                f"column {column!r}: value(s) {seen} are not arms of the design "
                f"({self.name}: {list(known)}); {rows_text(*flagged_rows(bad, df.index))}. Pass "
                "design=StudyDesign(offers={...}) describing your arms, or "
                "design=design_from_data(df)",
                column=column, rows=flagged_rows(bad, df.index)[0], n_rows=int(bad.sum()),
                problem="unknown_arm")

    def complete(self, df: pd.DataFrame) -> pd.DataFrame:
        """Fill in what the design implies from each customer's observed arm.

        Adds, where ``df`` lacks them: ``offer_received`` (a rule arm: the offer the rule
        gives the customer's reason), ``offer_matches_reason`` (when the design has
        matching offers and ``df`` has reasons) and ``offer_cost`` (the design's cost of
        the offer received). Columns already present are kept as they are. ``df`` is not
        modified; the result carries the design in ``attrs["design"]``.

        Raises
        ------
        DesignError
            An arm the design does not know, or a reason a rule arm does not cover
            (naming the column and the rows).
        """
        out = df.assign(**self.implied_columns(df))
        out.attrs["design"] = self.to_json()
        return out

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON-ready); :meth:`from_dict` rebuilds the design."""
        return {"offers": dict(self.offers), "control": self.control,
                "rules": {a: dict(r) for a, r in self.rules.items()},
                "reasons": list(self.reasons), "matching": dict(self.matching),
                "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StudyDesign:
        """Rebuild a design from :meth:`to_dict` output."""
        known = {"offers", "control", "rules", "reasons", "matching", "name"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise DesignError(f"unknown StudyDesign field(s): {', '.join(unknown)}")
        return cls(**{**d, "reasons": tuple(d.get("reasons", ()))})

    def to_json(self) -> str:
        """The design as JSON text (how a frame carries it in ``attrs["design"]``)."""
        return json.dumps(self.to_dict())  # insertion order: the arms' display order

    @classmethod
    def from_json(cls, text: str) -> StudyDesign:
        """Rebuild a design from :meth:`to_json` text."""
        return cls.from_dict(json.loads(text))

    def describe(self) -> pd.DataFrame:
        """One row per arm: what it gives and what it costs per acceptor."""
        rows = []
        for arm in self.arms:
            if arm in self.rules:
                rule = self.rules[arm]
                gives = "; ".join(f"{r}: {o}" for r, o in rule.items())
                cost = "; ".join(f"{r}: ${self.offers[o]:,.0f}" for r, o in rule.items())
            else:
                gives, cost = ("nothing" if arm == self.control else arm,
                               f"${self.offers[arm]:,.0f}")
            rows.append({"arm": arm, "gives": gives, "cost_per_acceptor": cost,
                         "control": arm == self.control})
        return pd.DataFrame(rows).set_index("arm")


#: The study's design: HBR exhibit costs per reacquired customer ($20 x 6 months, $35 x 3
#: months, both), the tailored arm by reason, price leavers the reference reason.
KUMAR_2015 = StudyDesign(
    offers={"none": 0.0, "discount": 120.0, "upgrade": 105.0, "bundled": 225.0},
    control="none",
    rules={"tailored": {"price": "discount", "service": "upgrade", "both": "bundled",
                        "other": "discount"}},
    reasons=("price", "service", "both", "other"),
    matching={"price": "discount", "service": "upgrade", "both": "bundled"},
    name="Kumar, Bhagwat & Zhang (2015)",
)


def _levels(s: pd.Series) -> list[str]:
    if isinstance(s.dtype, pd.CategoricalDtype):
        present = set(s.dropna().astype(object).unique())
        return [str(c) for c in s.cat.categories if c in present]
    return sorted(str(v) for v in s.dropna().astype(object).unique())


def design_from_data(df: pd.DataFrame, *, control: str | None = None,
                     costs: Mapping[str, float] | None = None,
                     name: str = "design read from the data") -> StudyDesign:
    """A design with the arms found in ``df`` (no rule arms).

    Costs come from ``costs``, else the mean ``offer_cost`` of each arm's returners
    (``offer_cost`` column), else :class:`DesignError` naming the arms without a cost.

    Parameters
    ----------
    df : pandas.DataFrame
        Customers with an ``offer`` (or ``offer_received``) column.
    control : str, optional
        The no-offer arm; default ``none`` if present, else :class:`DesignError`.
    costs : mapping, optional
        Offer -> cost per acceptor (USD).
    name : str
        Label used in reports.
    """
    col = RECEIVED_COLUMN if RECEIVED_COLUMN in df.columns else ARM_COLUMN
    if col not in df.columns:
        raise DesignError(f"the data have no {ARM_COLUMN!r} column to read the arms from")
    arms = _levels(df[col])
    if control is None:
        if "none" not in arms:
            raise DesignError(f"column {col!r} has no 'none' arm; say which arm is the control "
                              f"(its levels: {arms})")
        control = "none"
    given = dict(costs or {})
    if COST_COLUMN in df.columns:
        # the cost is paid by those who accept: average it over the returners when known
        paid = df[df["reacquired"] == 1] if "reacquired" in df.columns else df
        paid = paid if len(paid) else df
        observed = paid.groupby(paid[col].astype(object))[COST_COLUMN].mean()
        for arm in arms:
            if arm not in given and arm in observed.index and np.isfinite(observed[arm]):
                given[arm] = float(observed[arm])
    given.setdefault(control, 0.0)
    missing = [a for a in arms if a not in given]
    if missing:
        raise DesignError(f"no cost for arm(s) {missing}: give costs={{...}} or an "
                          f"{COST_COLUMN!r} column")
    reasons = tuple(_levels(df[REASON_COLUMN])) if REASON_COLUMN in df.columns else ()
    return StudyDesign(offers={a: given[a] for a in arms}, control=control, reasons=reasons,
                       name=name)


def design_of(df: pd.DataFrame) -> StudyDesign | None:
    """The design a frame carries in ``attrs["design"]`` (simulated or completed), or None."""
    raw = df.attrs.get("design") if isinstance(df, pd.DataFrame) else None
    if raw is None:
        return None
    carried = raw if isinstance(raw, StudyDesign) else StudyDesign.from_json(raw)
    return KUMAR_2015 if carried == KUMAR_2015 else carried


def _observed_costs(df: pd.DataFrame) -> dict[str, float]:
    """Mean ``offer_cost`` per offer received among those who accepted (came back)."""
    if COST_COLUMN not in df.columns or RECEIVED_COLUMN not in df.columns:
        return {}
    paid = df[df["reacquired"] == 1] if "reacquired" in df.columns else df
    if not len(paid):
        return {}
    mean = paid.groupby(paid[RECEIVED_COLUMN].astype(object))[COST_COLUMN].mean()
    return {str(k): float(v) for k, v in mean.items() if np.isfinite(v)}


def resolve_design(df: pd.DataFrame | None = None, design: StudyDesign | None = None,
                   column: str = ARM_COLUMN, *, control: str | None = None,
                   costs: Mapping[str, float] | None = None) -> StudyDesign:
    """The design to analyse ``df`` with.

    In this order: ``design`` when given (the data must fit it:
    :meth:`StudyDesign.check_data`); the design the frame carries (``df.attrs["design"]``,
    written by :func:`~winback_study.data.simulate.simulate_study` and
    :meth:`StudyDesign.complete`); :data:`KUMAR_2015` when the data's arms are the study's
    (with the frame's own costs when its ``offer_cost`` says the offers cost something
    else); else the arms read from the data (:func:`design_from_data`). A file whose arms
    are ``none / free_month / points`` is therefore analysed with its own arms, never
    against the study's by mistake.

    ``control`` and ``costs`` are used when the design is read from the data.
    """
    if design is not None:
        if not isinstance(design, StudyDesign):
            raise TypeError(f"design must be a StudyDesign, got {type(design).__name__}")
        if df is not None:
            design.check_data(df, column)
        return design
    carried = design_of(df) if df is not None else None
    if carried is not None:
        try:  # attrs travel through pandas operations: use them only while the data fit
            if column in df.columns:
                carried.check_data(df, column)
            return carried
        except DesignError:
            pass
    if df is None or column not in df.columns:
        return KUMAR_2015
    values = set(df[column].dropna().astype(object).unique())
    known = KUMAR_2015.arms if column == ARM_COLUMN else KUMAR_2015.received_offers
    if values <= set(known):
        observed = {k: v for k, v in _observed_costs(df).items() if k in KUMAR_2015.offers
                    and abs(v - KUMAR_2015.offers[k]) > 1e-9}
        return KUMAR_2015.with_costs(observed) if observed else KUMAR_2015
    return design_from_data(df, control=control, costs=costs)
