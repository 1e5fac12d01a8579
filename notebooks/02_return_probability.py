# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Return probability: who comes back, and with which offer
#
# The study's first equation: the probability that a lapsed customer is reacquired, from
# first-lifetime behaviour (referrals, complaints and whether they were resolved, tenure,
# margin), the reason for defection and the win-back offer. Kumar, Bhagwat & Zhang (2015)
# report the directions (STUDY.md, P5 and P6): referrals raise the chance of return,
# complaints lower it, a resolved complaint raises it; price leavers return most, those
# who left over both price and service least.
#
# The data are the **simulated** population of notebook 01 (aggregates calibrated to the
# published figures; `data/README.md`). Its return equation is a probit with known
# coefficients, so the last section checks that the estimator recovers them. Everything is
# computed by `winback_study.fit_return_model`; the notebook narrates and plots.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import winback_study as wb
from winback_study.design import KUMAR_2015
from winback_study.plotting.style import (
    METHOD_COLORS,
    OFFER_COLORS,
    save_figure,
    use_house_style,
)

SEED = int(os.environ.get("WINBACK_SEED", 20150701))
use_house_style()
df = wb.simulate_study(n_customers=53_000, seed=SEED)
print(f"{len(df):,} lapsed customers, {df['reacquired'].sum():,} reacquired, seed {SEED}")

# %% [markdown]
# ## The tailored arm
# The tailored arm sends no offer of its own: each customer receives one of the three
# concrete offers, chosen by the reason they gave for leaving (the mapping below, the
# constant `KUMAR_2015.rules["tailored"]`). Its cost per reacquired customer is therefore a mix of the
# three offers' costs, weighted by which customers come back.

# %%
print("Tailored arm: " + ", ".join(f"{r} -> {o}" for r, o in KUMAR_2015.rules["tailored"].items()))
mix = wb.tailored_cost_mix(df)
noun = {"bundled": "bundle"}  # offer name -> noun in a sentence
print(f"Its {mix['returners'].sum():,} returners got "
      + ", ".join(f"the {noun.get(o, o)} ({r.share:.0%}, ${r.cost:,.0f})"
                  for o, r in mix.iterrows())
      + f", so its cost per reacquired customer is their weighted mean, "
      f"${(mix['share'] * mix['cost']).sum():,.0f}.")

# %% [markdown]
# ## The model
# A logit of `reacquired` on the study's covariates (`DEFAULT_RETURN_FORMULA`). The offer
# enters as the concrete offer received plus whether it matches the stated reason, which is
# how the tailored arm works. 30% of customers are held out to test the model on people it
# has not seen; the probit is fitted on the same split.

# %%
print(wb.models.return_probability.DEFAULT_RETURN_FORMULA)
logit = wb.fit_return_model(df, link="logit", holdout=0.3, seed=SEED)
probit = wb.fit_return_model(df, link="probit", holdout=0.3, seed=SEED)
logit.print_summary()
ev = logit.holdout_evaluation
base = ev.n_returned / ev.n
print(f"For comparison, predicting the holdout's return rate ({base:.1%}) for everyone scores "
      f"AUC 0.5 and Brier {base * (1 - base):.4f}.")

# %% [markdown]
# How to read the fit statistics:
# * **McFadden pseudo R²** is 1 minus the ratio of the model's log-likelihood to that of a
#   model with only an intercept: the share of "surprise" the covariates remove; it runs
#   much lower than an OLS R², and 0.2-0.4 already counts as an excellent fit.
# * **AUC** is the chance that a random returner gets a higher predicted P(return) than a
#   random non-returner (0.5 = coin toss, 1 = perfect ranking).
# * **Brier score** is the mean squared gap between the predicted probability and the 0/1
#   outcome (lower is better; the line above gives the no-model benchmark).
# * **Hosmer-Lemeshow** groups customers into ten bins of predicted P(return) and tests
#   whether the observed returns in each bin match the predicted ones; a large p-value
#   means no evidence of miscalibration.

# %% [markdown]
# ## Which first-lifetime behaviours predict return (P5)
# Odds ratios of the behaviour terms: above 1 raises the odds of coming back. A resolved
# complaint counts twice, once as a complaint and once as resolved, so its net effect is the
# product of the two odds ratios.

# %%
behaviour = ["referrals", "complaints", "complaints_resolved", "first_tenure_months",
             "first_monthly_margin", "months_since_defection"]
odds = logit.odds_ratios().loc[behaviour]
odds["p_value"] = logit.pvalues[behaviour]
net = odds.loc["complaints", "odds_ratio"] * odds.loc["complaints_resolved", "odds_ratio"]
print(f"A resolved complaint, net: odds ratio {net:.2f} "
      f"({'raises' if net > 1 else 'lowers'} the odds of return); "
      f"unresolved: {odds.loc['complaints', 'odds_ratio']:.2f}")
odds.round(4)

# %% [markdown]
# ## How much each one moves the probability
# Average marginal effects: for a factor level, the average change in P(return) against the
# reference level; for a count or amount, per unit. In percentage points, with 95% intervals.
# In the table under the chart, read `effect` (a share: 0.05 = 5 points) with its
# interval `ci_low` to `ci_high`; `kind` says which change it refers to.

# %%
me = logit.marginal_effects()
pp = 100 * me["effect"]
top = pp.abs().idxmax()
print(f"{(me['p_value'] < 0.05).sum()} of {len(me)} effects differ from zero at the 5% level; "
      f"the largest: {logit.effect_labels([top]).iloc[0]}, {pp[top]:+.1f} points.")
ax = logit.plot_marginal_effects()
ax.figure.set_size_inches(9, 6.2)
ax.set_title("")
ax.figure.suptitle(
    f"Each referral adds {pp['referrals']:.1f} points to P(return), each complaint "
    f"costs {-pp['complaints']:.1f} and resolving it\nwins back "
    f"{pp['complaints_resolved']:.1f}; leaving over both price and service costs "
    f"{-pp['defection_reason[both]']:.0f} points against price leavers",
    fontweight="bold", x=0.01, ha="left",
)
save_figure(ax.figure, "02_marginal_effects")
plt.show()
me.round(4)

# %% [markdown]
# ## Return rate by reason and offer (P6): observed and predicted
# Bars: observed return rate in each reason x offer cell, 95% Wilson interval. White
# diamonds: the model's mean predicted P(return) in the cell (all 53,000 customers).

# %%
cells = logit.segment_rates(df, by="reason_offer")
arms = list(wb.KUMAR_2015.arms)  # the control first, then the four offers
reasons = list(cells.index.get_level_values(0).unique())
fig, ax = plt.subplots(figsize=(10, 5))
width = 0.16
for j, arm in enumerate(arms):
    t = cells.xs(arm, level="offer").reindex(reasons)
    x = np.arange(len(reasons)) + (j - 2) * width
    ax.bar(x, 100 * t["observed"], width * 0.92, color=OFFER_COLORS[arm], label=arm,
           yerr=100 * np.vstack([t["observed"] - t["ci_low"], t["ci_high"] - t["observed"]]),
           capsize=2, error_kw={"elinewidth": 0.8, "ecolor": "#555555"})
    ax.scatter(x, 100 * t["predicted"], marker="D", s=22, facecolor="white",
               edgecolor="black", linewidths=1.1, zorder=3,
               label="predicted (model)" if j == 0 else None)
ax.set_xticks(np.arange(len(reasons)), reasons)
ax.set(xlabel="stated reason for leaving", ylabel="reacquired (%)")
ax.legend(title="offer arm", ncols=3, loc="upper right")
by_reason = cells["observed"].unstack("offer")
order_each_arm = by_reason.idxmax().eq(by_reason.idxmax().iloc[0]).all() and \
    by_reason.idxmin().eq(by_reason.idxmin().iloc[0]).all()
best, worst = by_reason.mean(axis=1).idxmax(), by_reason.mean(axis=1).idxmin()
ax.set_ylim(0, 100 * cells["ci_high"].max() * 1.25)
ax.set_title(
    f"{best.capitalize()} leavers return most and '{worst}' leavers least"
    f"{' under every offer' if order_each_arm else ' on average'};\n"
    f"the model is within {100 * cells['gap'].abs().max():.1f} points of every cell"
)
save_figure(fig, "02_return_rate_by_reason_offer")
plt.show()
cells.round(3)

# %% [markdown]
# The same check for the behaviour segments of P5: referrers against the rest, and
# customers by what happened to their complaints.

# %%
pd.concat({"referrals": logit.segment_rates(df, by="referrer"),
           "complaints": logit.segment_rates(df, by="complaint")}).round(3)

# %% [markdown]
# ### What if everyone got the same offer?
# Counterfactual predictions: the mean P(return) by reason if every customer had been sent
# one arm (tailored = each reason's offer in the mapping printed at the top). Model-based, so
# it inherits the model's assumptions.

# %%
whatif = pd.DataFrame({arm: logit.predict(df, offer=arm).groupby(df["defection_reason"],
                                                                  observed=True).mean()
                       for arm in arms})
whatif.loc["all customers"] = [logit.predict(df, offer=arm).mean() for arm in arms]
(100 * whatif).round(1)

# %% [markdown]
# ## Logit or probit?
# The two links put coefficients on different scales (a logit coefficient is larger than
# the probit one by a roughly constant factor, printed below) but should tell the same story
# on the probability scale. Average marginal effects side by side; then their fit (higher
# log-likelihood and AUC, lower AIC and Brier are better) and their coefficients.

# %%
both = pd.concat({"logit": logit.marginal_effects(), "probit": probit.marginal_effects()},
                 axis=1)
labels = logit.effect_labels(both.index)
fig, ax = plt.subplots(figsize=(9, 6.2))
y = np.arange(len(both))[::-1]
for link, color, shift in [("logit", METHOD_COLORS[0], 0.17),
                           ("probit", METHOD_COLORS[1], -0.17)]:
    e = 100 * both[link]
    ax.errorbar(e["effect"], y + shift, xerr=[e["effect"] - e["ci_low"],
                                               e["ci_high"] - e["effect"]],
                fmt="o", markersize=4, color=color, capsize=2, label=link)
ax.axvline(0, color="black", linewidth=0.8)
ax.set_yticks(y, labels.to_numpy())
ax.grid(axis="y", visible=False)
ax.set_xlabel("average marginal effect on P(return), percentage points (95% CI)")
ax.legend(title="link", loc="lower right")
largest = (100 * (both["logit"]["effect"] - both["probit"]["effect"]).abs()).max()
ax.set_title(f"Logit and probit tell the same story:\naverage marginal effects differ by "
             f"at most {largest:.2f} points")
save_figure(fig, "02_logit_vs_probit")
plt.show()

# %%
pd.DataFrame({
    m.link: {"log-likelihood": m.llf, "AIC": m.aic, "holdout AUC": m.holdout_evaluation.auc,
             "holdout Brier": m.holdout_evaluation.brier}
    for m in (logit, probit)
}).round(4)

# %%
coefs = pd.DataFrame({
    "logit coef": logit.params, "probit coef": probit.params,
    "ratio": logit.params / probit.params,
    "logit AME": both["logit"]["effect"], "probit AME": both["probit"]["effect"],
}).reindex(logit.params.index)
print(f"Read the ratio column: every logit coefficient is {coefs['ratio'].min():.2f} to "
      f"{coefs['ratio'].max():.2f} times the probit one, yet the AME columns (changes in "
      f"P(return)) differ by at most {largest:.2f} percentage points.")
coefs.round(4)

# %% [markdown]
# ## Calibration on customers the model has not seen
# Holdout customers sorted into deciles of predicted P(return): in each, the observed return
# rate against the mean prediction. Points on the dashed line are perfectly calibrated.

# %%
ev = logit.holdout_evaluation
print(ev.summary())
fig, axes = plt.subplots(1, 2, figsize=(10, 5.8), sharey=True)
for a, m in zip(axes, (logit, probit), strict=True):
    m.plot_calibration(ax=a)
    a.set_title(f"{m.link}: AUC {m.holdout_evaluation.auc:.3f}", loc="left")
axes[1].set_ylabel("")
fig.suptitle(
    f"Out of sample, predicted and observed return rates agree within "
    f"{100 * ev.max_gap:.1f} points\nin every decile (logit, {ev.n:,} held-out customers)",
    fontweight="bold", x=0.01, ha="left",
)
save_figure(fig, "02_calibration")
plt.show()
ev.calibration.round(3)

# %% [markdown]
# ## Does the estimator recover the truth?
# The simulator's return equation is a probit whose coefficients are known
# (`wb.true_return_coefficients()`). A probit on all 53,000 customers should land near them,
# with about 95% of the 95% intervals covering the true value (the test suite checks this
# over 200 simulated studies).

# %%
recovery = wb.fit_return_model(df, link="probit").recovery_table(wb.true_return_coefficients())
fig, ax = plt.subplots(figsize=(9, 6.2))
y = np.arange(len(recovery))[::-1]
ax.errorbar(recovery["coef"], y, xerr=[recovery["coef"] - recovery["ci_low"],
                                       recovery["ci_high"] - recovery["coef"]],
            fmt="o", markersize=4, color=METHOD_COLORS[1], capsize=2, label="estimate, 95% CI")
ax.scatter(recovery["true"], y, marker="x", s=45, color=METHOD_COLORS[0], zorder=3,
           label="true value (simulator)")
ax.axvline(0, color="black", linewidth=0.8)
ax.set_yticks(y, recovery.index)
ax.grid(axis="y", visible=False)
ax.set_xlabel("probit coefficient (z-scale per unit of the covariate)")
ax.legend(loc="lower right")
ax.set_title(f"The probit recovers the simulator's coefficients:\n{recovery['covered'].sum()} of "
             f"{len(recovery)} 95% intervals cover the true value")
save_figure(fig, "02_estimated_vs_true")
plt.show()
missed = recovery.index[~recovery["covered"]]
print(f"In the table, z = (estimate - true) / std err; |z| > 1.96 is an interval that misses. "
      f"{len(missed)} of {len(recovery)} miss ({', '.join(missed) or 'none'}); at 95% coverage "
      f"about {0.05 * len(recovery):.1f} misses are expected by chance.")
recovery.round(4)

# %% [markdown]
# ## Exercises
# Three exercises, from a warm-up to an extension. Each says what to hand in; its worked
# solution follows it (folded on the website: click to unfold; left out of the student
# copy, see `TEACHING.md`). The solutions reuse what this notebook computed above, so run
# the notebook first; each ends by putting its answer in a variable `answer_N_k`, which
# the test suite recomputes with the library.

# %% [markdown]
# ### Exercise 2.1 (warm-up): read an odds ratio
#
# ```{exercise-start} 2.1
# :label: ex-2-1
# :nonumber:
# ```
# In the logit, each referral multiplies the odds of return by its odds ratio (the table
# `odds` above). By how much are the odds of a customer with three referrals higher than
# those of an otherwise identical customer with none?
#
# **Hand in:** the odds ratio of `referrals` and the change in the odds for three
# referrals against none, in percent.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-2-1
# :class: dropdown
# ```
# Odds ratios multiply: three referrals multiply the odds by the odds ratio cubed
# (equivalently `exp(3 * coef)`). Note that this is the odds, not the probability.

# %% tags=["solution"]
or_referral = odds.loc["referrals", "odds_ratio"]
print(f"odds ratio per referral {or_referral:.3f}; three referrals: odds x "
      f"{or_referral ** 3:.3f}, i.e. {or_referral ** 3 - 1:+.0%}")
answer_2_1 = {"odds_ratio": or_referral, "three_referrals_change": or_referral ** 3 - 1}

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 2.2 (core): an interaction
#
# ```{exercise-start} 2.2
# :label: ex-2-2
# :nonumber:
# ```
# Does a referral count for more when the customer also had a complaint resolved? Add the
# interaction `referrals:complaints_resolved` to the study's formula
# (`wb.models.return_probability.DEFAULT_RETURN_FORMULA`), fit the logit on all customers
# with `wb.fit_return_model(df, formula, link="logit")`, and compare its AIC with the model
# without the interaction (also on all customers).
#
# **Hand in:** the interaction's coefficient, its 95% interval and p-value, the change in
# AIC, and one sentence: is there evidence of an interaction?
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-2-2
# :class: dropdown
# ```
# A formula term `a:b` adds the product of the two columns. Its coefficient is how much
# the effect of one more referral (on the log odds) changes per resolved complaint.

# %% tags=["solution"]
formula = wb.models.return_probability.DEFAULT_RETURN_FORMULA + " + referrals:complaints_resolved"
with_term = wb.fit_return_model(df, formula, link="logit")
without = wb.fit_return_model(df, link="logit")
term = with_term.summary.loc["referrals:complaints_resolved"]
d_aic = with_term.aic - without.aic
print(f"interaction: coef {term['coef']:+.4f} (95% CI {term['ci_low']:+.4f} to "
      f"{term['ci_high']:+.4f}), p = {term['p_value']:.2f}; AIC {d_aic:+.1f} with the term.")
print("No evidence of an interaction: the interval covers 0 and the AIC does not improve "
      "(the simulator's return equation has no such term)." if term["p_value"] >= 0.05
      and d_aic > 0 else "Evidence of an interaction: read its sign before you act on it.")
answer_2_2 = {"coef": term["coef"], "ci_low": term["ci_low"], "ci_high": term["ci_high"],
              "p_value": term["p_value"], "aic_change": d_aic}

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 2.3 (extension): the best offer for one customer
#
# ```{exercise-start} 2.3
# :label: ex-2-3
# :nonumber:
# ```
# Take the first customer in `df` who left over service, made two referrals and has a
# complaint that was never resolved. With the logit, predict her probability of return
# under each of the five arms (`logit.predict(customer, offer=arm)`). Which arm gives the
# highest probability, and is it the offer that matches her reason (the upgrade)?
#
# **Hand in:** a table of the five probabilities and the best arm.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-2-3
# :class: dropdown
# ```
# `predict(..., offer=arm)` sets the arm (offer received and whether it matches the
# reason) for the rows given and keeps everything else about them.

# %% tags=["solution"]
customer = df[(df["defection_reason"] == "service") & (df["referrals"] == 2)
              & (df["complaints"] > df["complaints_resolved"])].head(1)
p_customer = pd.DataFrame({"p_return": [float(logit.predict(customer, offer=arm).iloc[0])
                                        for arm in arms]}, index=pd.Index(arms, name="arm"))
best_arm = p_customer["p_return"].idxmax()
print(f"customer {int(customer['customer_id'].iloc[0])}: highest P(return) with "
      f"{best_arm} ({p_customer.loc[best_arm, 'p_return']:.1%}), upgrade "
      f"{p_customer.loc['upgrade', 'p_return']:.1%}, no offer "
      f"{p_customer.loc['none', 'p_return']:.1%}")
answer_2_3 = p_customer
answer_2_3_customer = int(customer["customer_id"].iloc[0])
p_customer.round(3)

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% tags=["solution", "remove-cell"]
# Every answer_* above in one JSON line: tests/reporting/test_exercises.py reads it and
# recomputes each answer with the library.
from winback_study.reporting.exercises import answers_line  # noqa: E402

print(answers_line(globals()))

# %% [markdown]
# ## Key numbers
# The numbers this notebook's findings rest on, in one table at full precision. The test
# suite recomputes each one with the library on the same simulated population
# (`tests/reporting/test_notebooks.py`), so the narrative cannot drift from the library.

# %%
key = {"seed": SEED, "n_customers": len(df)}
key |= {f"{m.link}.{term}": v for m in (logit, probit) for term, v in m.params.items()}
key |= {f"{m.link}.holdout_auc": m.holdout_evaluation.auc for m in (logit, probit)}
pd.Series({k: f"{v:.12g}" if isinstance(v, float) else v  # 12 significant digits
           for k, v in key.items()}).to_frame("value")

# %%
print(wb.version_stamp())
