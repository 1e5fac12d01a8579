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
# # 01 · The study population: who left, why, after how long, and who came back
#
# Kumar, Bhagwat & Zhang (2015) followed 53,000+ customers who left a U.S. telecom over
# seven years and sent 40,000 of them one of four win-back offers. Their data are
# proprietary, so this notebook works on a **simulated** population whose aggregates are
# calibrated to the published figures (see `data/README.md` for every column and
# `winback_study/data/simulate.py` for the data-generating process).
#
# Everything here is computed by the `winback_study` library; the notebook only narrates
# and plots. Change `SEED` to see how much of each picture is sampling noise.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import winback_study as wb
from winback_study.data.describe import complaint_status, referral_band, return_rate_table
from winback_study.data.published import OFFER_EXHIBIT
from winback_study.plotting.style import (
    OFFER_COLORS,
    REASON_COLORS,
    save_figure,
    use_house_style,
)

SEED = int(os.environ.get("WINBACK_SEED", 20150701))
use_house_style()
df = wb.simulate_study(n_customers=53_000, seed=SEED)
print(f"{len(df):,} lapsed customers, {df['reacquired'].sum():,} reacquired, seed {SEED}")
df.head()

# %% [markdown]
# ## Why they left, and who came back
# Each customer states one reason for leaving. The study's finding (P6): price leavers are
# the most likely to return, those who left over both price *and* service the least.

# %%
by_reason = return_rate_table(df, "defection_reason")
by_reason["share_of_leavers"] = by_reason["customers"] / len(df)
by_reason.round(3)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
colors = [REASON_COLORS[r] for r in by_reason.index]
ax1.bar(by_reason.index, 100 * by_reason["share_of_leavers"], color=colors)
ax1.set(ylabel="share of lapsed customers (%)", xlabel="stated reason for leaving",
        title="Why they left")
yerr = 100 * np.vstack([by_reason["return_rate"] - by_reason["ci_low"],
                        by_reason["ci_high"] - by_reason["return_rate"]])
ax2.bar(by_reason.index, 100 * by_reason["return_rate"], yerr=yerr, capsize=4, color=colors,
        error_kw={"ecolor": "#7F7F7F"})  # grey: stays visible on the black 'both' bar
ax2.set(ylabel="reacquired (%), 95% CI", xlabel="stated reason for leaving",
        title="Who came back")
best, worst = by_reason["return_rate"].idxmax(), by_reason["return_rate"].idxmin()
fig.suptitle(
    f"{best.capitalize()} leavers return most often ({by_reason.loc[best, 'return_rate']:.0%}); "
    f"'{worst}' leavers least ({by_reason.loc[worst, 'return_rate']:.0%})",
    fontweight="bold", x=0.01, ha="left",
)
save_figure(fig, "01_return_rate_by_reason")
plt.show()

# %% [markdown]
# ## After how long did they leave?
# First-lifetime tenure in months, by reason. Tenure ends at defection; every first
# lifetime here is complete (all customers in the study have left once). The simulator
# gives some reasons the same tenure distribution (`wb.study_params(df).first_tenure_reason`);
# their curves coincide, so the price curve is drawn dashed on top of the others.

# %%
shift = wb.study_params(df).first_tenure_reason  # reason -> shift of log first tenure
twins = [r for r in by_reason.index if r != "price" and shift[r] == shift["price"]]
fig, ax = plt.subplots(figsize=(8, 4.5))
for reason, g in df.groupby("defection_reason", observed=True):
    t = np.sort(g["first_tenure_months"].to_numpy())
    same = (f"; same as {', '.join(repr(r) for r in twins)} by design"
            if reason == "price" and twins else "")
    ax.step(t, 1 - np.arange(1, len(t) + 1) / len(t), where="post",
            color=REASON_COLORS[reason], linestyle="--" if reason == "price" else "-",
            zorder=3 if reason == "price" else 2,  # price dashed on top of its twins
            label=f"{reason} (median {np.median(t):.0f} months{same})")
ax.set(xlim=(0, 120), xlabel="first-lifetime tenure (months)",
       ylabel="share still a customer",
       title=f"Half of all leavers had left within {df['first_tenure_months'].median():.0f} "
             "months of joining"
             + (f";\nprice and {' and '.join(repr(r) for r in twins)} leavers overlap "
                "(same tenure by design)" if twins else ""))
ax.legend(title="reason for leaving")
save_figure(fig, "01_first_tenure_by_reason")
plt.show()

# %% [markdown]
# ## First-lifetime behaviour and return (P5)
# Referrals made and complaints (resolved or not) during the first lifetime.

# %%
by_ref = return_rate_table(df, referral_band(df))
by_comp = return_rate_table(df, complaint_status(df))
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
for ax, tab, xlabel in ((ax1, by_ref, "referrals made in the first lifetime"),
                        (ax2, by_comp, "complaints in the first lifetime")):
    yerr = 100 * np.vstack([tab["return_rate"] - tab["ci_low"],
                            tab["ci_high"] - tab["return_rate"]])
    ax.bar(tab.index.astype(str), 100 * tab["return_rate"], yerr=yerr, capsize=4,
           color="#4D4D4D", error_kw={"ecolor": "#999999"})  # neutral: not an offer/reason
    for i, n in enumerate(tab["customers"]):
        ax.annotate(f"n={n:,}", (i, 1), ha="center", fontsize=9, color="white")
    ax.set(xlabel=xlabel)
ax1.set(ylabel="reacquired (%), 95% CI", title="More referrals, more returns")
ax2.set(title="A resolved complaint beats an unresolved one")
fig.suptitle(
    f"Referrers return more ({by_ref['return_rate'].iloc[-1]:.0%} with 3+ referrals vs "
    f"{by_ref['return_rate'].iloc[0]:.0%} with none)",
    fontweight="bold", x=0.01, ha="left",
)
save_figure(fig, "01_return_rate_by_behaviour")
plt.show()

# %% [markdown]
# ## The experiment: response to each offer
# Each of the four offers went to the same number of randomly chosen customers; the rest
# received no offer and show how many come back on their own (group sizes printed below).
# Black marks are the published success rates (HBR 2016 exhibit).

# %%
by_offer = return_rate_table(df, "offer").reindex(["none", *wb.KUMAR_2015.treatment_arms])
print(f"{by_offer.loc['none', 'customers']:,} customers received no offer; per offer: "
      + ", ".join(f"{o} {n:,}" for o, n in by_offer["customers"].drop("none").items()))
fig, ax = plt.subplots(figsize=(8, 4.5))
x = np.arange(len(by_offer))
yerr = 100 * np.vstack([by_offer["return_rate"] - by_offer["ci_low"],
                        by_offer["ci_high"] - by_offer["return_rate"]])
ax.bar(x, 100 * by_offer["return_rate"], yerr=yerr, capsize=4,
       color=[OFFER_COLORS[o] for o in by_offer.index])
pub = OFFER_EXHIBIT["success_rate_pct"].reindex(by_offer.index)
ax.scatter(x, pub, marker="_", s=900, color="black", linewidths=2.5, label="published", zorder=3)
ax.set_xticks(x, by_offer.index)
ax.set(xlabel="win-back offer", ylabel="reacquired (%)",
       title=f"The bundle wins back most ({by_offer.loc['bundled', 'return_rate']:.0%}); "
             f"{by_offer.loc['none', 'return_rate']:.0%} return with no offer at all")
ax.set_ylim(0, 60)
ax.legend(loc="upper left", title="bars: simulated, 95% CI")
save_figure(fig, "01_response_by_offer")
plt.show()

# %% [markdown]
# ## Value before and after churn
# CLV of the first lifetime and value of the second lifetime (SLV) of those who came back,
# both discounted at 10% a year (definition in `winback_study/analysis/customer_value.py`).
# The complete SLV (column `slv`) is known only because the data are simulated: many second
# lifetimes are still running when the observation window closes, so real data show only
# the part inside the window (`slv_observed`, a lower bound); the rest must be estimated
# (notebook 04).

# %%
back = df[df["reacquired"] == 1]
summary = pd.DataFrame(
    {"simulated": [df["clv_first"].mean(), back["slv"].mean(), back["slv_observed"].mean()],
     "published": [1262, 1410, np.nan]},
    index=["first-lifetime CLV (all leavers)",
           "second-lifetime value, complete (reacquired; simulation only)",
           "second-lifetime value, inside the window (reacquired; what real data show)"],
)
full, seen = back["slv"].mean(), back["slv_observed"].mean()
print(f"Real data would show ${seen:,.0f} of the ${full:,.0f} complete second-lifetime value "
      f"({seen / full:.0%}); {back['second_churned'].eq(0).mean():.0%} of returners are still "
      "customers when the window closes.")
wb.plotting.table(summary, "${:,.0f}", name="value_summary")

# %% [markdown]
# ## Exercises
# Three exercises, from a warm-up to an extension. Each says what to hand in; its worked
# solution follows it (folded on the website: click to unfold; left out of the student
# copy, see `TEACHING.md`). The solutions reuse what this notebook computed above, so run
# the notebook first; each ends by putting its answer in a variable `answer_N_k`, which
# the test suite recomputes with the library.

# %% [markdown]
# ### Exercise 1.1 (warm-up): how much does the bundle add?
#
# ```{exercise-start} 1.1
# :label: ex-1-1
# :nonumber:
# ```
# Some lapsed customers come back with no offer at all. Using the table `by_offer` (the
# numbers behind the offer chart above), how many percentage points does the bundle add
# to the return rate of the customers who received no offer?
#
# **Hand in:** one number, in percentage points (one decimal).
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-1-1
# :class: dropdown
# ```
# Read the two return rates from the table and subtract them; a difference of two shares
# is in percentage points once multiplied by 100.

# %% tags=["solution"]
lift = by_offer.loc["bundled", "return_rate"] - by_offer.loc["none", "return_rate"]
print(f"bundle {by_offer.loc['bundled', 'return_rate']:.1%}, no offer "
      f"{by_offer.loc['none', 'return_rate']:.1%}: the bundle adds {100 * lift:.1f} points")
answer_1_1 = 100 * lift

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 1.2 (core): does price still come first without an offer?
#
# ```{exercise-start} 1.2
# :label: ex-1-2
# :nonumber:
# ```
# The chart "Who came back" mixes customers who received an offer with those who did not.
# Redo it for the customers who received **no offer** only (`df["offer"] == "none"`),
# with `return_rate_table`. Do price leavers still return most, and 'both' leavers least?
#
# **Hand in:** a table with one row per reason (customers, returned, return rate and its
# Wilson 95% interval) and the reason whose leavers return most.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-1-2
# :class: dropdown
# ```
# Filter the rows first, then group: `return_rate_table` takes any frame.

# %% tags=["solution"]
no_offer = return_rate_table(df[df["offer"] == "none"], "defection_reason")
top = no_offer["return_rate"].idxmax()
same = list(no_offer["return_rate"].sort_values().index) == list(
    by_reason["return_rate"].sort_values().index)
print(f"With no offer, {top} leavers return most ({no_offer.loc[top, 'return_rate']:.1%}) "
      f"and '{no_offer['return_rate'].idxmin()}' leavers least "
      f"({no_offer['return_rate'].min():.1%}); the order of the four reasons is "
      f"{'the same as' if same else 'not the same as'} among all customers, at lower rates.")
answer_1_2 = no_offer
answer_1_2_top = top
no_offer.round(3)

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 1.3 (extension): referrals and complaints together
#
# ```{exercise-start} 1.3
# :label: ex-1-3
# :nonumber:
# ```
# Referrals and complaints were looked at one at a time. Cross them: the return rate for
# each referral band (`referral_band(df)`) within each complaint status
# (`complaint_status(df)`). Does the referral gradient hold whatever happened to a
# customer's complaints?
#
# **Hand in:** a table (referral bands as rows, complaint statuses as columns, return
# rates) and a figure of it with labelled axes and a title that states what you found.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-1-3
# :class: dropdown
# ```
# `return_rate_table` groups by a list of aligned Series; `unstack` turns the second
# level into columns. One bar group per referral band, one bar per complaint status.

# %% tags=["solution"]
cross = return_rate_table(df, [referral_band(df), complaint_status(df)])
rates = cross["return_rate"].unstack()
rising = bool((rates.diff().iloc[1:] > 0).all().all())
fig, ax = plt.subplots(figsize=(8.5, 4.6))
width = 0.8 / len(rates.columns)
status_colors = ["#4D4D4D", "#009E73", "#D55E00"]  # none, all resolved, some unresolved
for j, status in enumerate(rates.columns):
    ax.bar(np.arange(len(rates)) + (j - 1) * width, 100 * rates[status], width * 0.95,
           color=status_colors[j % len(status_colors)], label=status)
ax.set_xticks(np.arange(len(rates)), rates.index.astype(str))
ax.set(xlabel="referrals made in the first lifetime", ylabel="reacquired (%)",
       title=("More referrals, more returns in every complaint group" if rising else
              "The referral gradient does not hold in every complaint group")
       + f":\nfrom {100 * rates.iloc[0].min():.0f}% to {100 * rates.iloc[-1].max():.0f}%")
ax.legend(title="complaints in the first lifetime")
save_figure(fig, "01_exercise_referrals_by_complaints")
plt.show()
answer_1_3 = rates
(100 * rates).round(1)

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
key = {"seed": SEED, "n_customers": len(df), "reacquired": int(df["reacquired"].sum())}
key |= {f"return_rate.reason.{r}": v for r, v in by_reason["return_rate"].items()}
key |= {f"return_rate.offer.{o}": v for o, v in by_offer["return_rate"].items()}
key |= {"clv_first_mean": df["clv_first"].mean(), "slv_mean_reacquired": full,
        "slv_observed_mean_reacquired": seen}
pd.Series({k: f"{v:.12g}" if isinstance(v, float) else v  # 12 significant digits
           for k, v in key.items()}).to_frame("value")

# %%
print(wb.version_stamp())
