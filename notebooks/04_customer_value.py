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
# # 04 · Customer value before and after churn
#
# HBR (2016) reports an average customer lifetime value of **$1,262** in the first lifetime
# and **$1,410** in the second, after reacquisition (P4). This notebook computes both on
# the **simulated** study population, by reason for leaving and by win-back offer, in three
# ways:
#
# 1. from the data directly (first lifetimes are complete; second lifetimes are censored at
#    the end of the window, so their observed value is only a lower bound);
# 2. from the second-lifetime models of notebook 03 (a selection-corrected Weibull duration
#    model and a margin regression), valuing each customer's expected survival curve;
# 3. from the shifted-beta-geometric (sBG) retention model of Fader & Hardie fitted to
#    yearly survivor counts, the contractual-CLV route.
#
# One value definition is used throughout (`winback_study/customer_value.py`): margins at
# the end of each active month, discounted at 10% a year, no horizon cap. Then it asks what
# a win-back attempt is worth per customer and offer, and how much SLV depends on the
# discount rate.

# %%
import os
import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import winback_study as wb
from winback_study.customer_value import (
    expected_slv,
    slv_discount_sensitivity,
    value_routes,
    win_back_values,
)
from winback_study.figures import OFFER_COLORS, REASON_COLORS, save_figure, use_house_style
from winback_study.published import get
from winback_study.sbg import SBGBoundaryError, fit_sbg, monthly_survival, survivor_counts
from winback_study.second_lifetime import fit_second_lifetime
from winback_study.second_profit import fit_second_profit

SEED = int(os.environ.get("WINBACK_SEED", 20150701))
use_house_style()
plt.rcParams["text.parse_math"] = False  # dollar amounts in titles are text, not math
df = wb.simulate_study(n_customers=53_000, seed=SEED, include_latent=True)
back = df[df["reacquired"] == 1].copy()
PUBLISHED_CLV = get("P4.clv_first").value
PUBLISHED_SLV = get("P4.slv").value

lifetime = fit_second_lifetime(df, "weibull", correct_selection=True)
profit = fit_second_profit(df)  # selection-corrected by default
back["slv_model"] = expected_slv(back, lifetime, profit)
print(lifetime)
print(profit)

# %% [markdown]
# ## Value before and after churn, by reason for leaving
# For the reacquired: first-lifetime CLV, the model's expected SLV and (known only because
# the data are simulated) the value of their complete second lifetime.

# %%
def value_table(by: str) -> pd.DataFrame:
    g = back.groupby(by, observed=True)
    out = pd.DataFrame({
        "reacquired": g.size(),
        "clv_first": g["clv_first"].mean(),
        "slv_model": g["slv_model"].mean(),
        "slv_simulated": g["slv"].mean(),
        "slv_in_window": g["slv_observed"].mean(),
        "margin_first": g["first_monthly_margin"].mean(),
        "margin_second": g["second_monthly_margin"].mean(),
    })
    out["slv_vs_clv"] = out["slv_model"] / out["clv_first"] - 1
    return out


by_reason = value_table("defection_reason")
by_reason.round(2)

# %%
def value_bars(tab: pd.DataFrame, colors: dict, xlabel: str, title: str, name: str) -> None:
    fig, ax = plt.subplots(figsize=(9, 4.8))
    x = np.arange(len(tab))
    ax.bar(x - 0.2, tab["clv_first"], width=0.4, color="#BBBBBB", label="first-lifetime CLV")
    ax.bar(x + 0.2, tab["slv_model"], width=0.4, color=[colors[i] for i in tab.index],
           label="second-lifetime value (model)")
    ax.scatter(x + 0.2, tab["slv_simulated"], marker="_", s=500, color="black",
               linewidths=2.5, zorder=3, label="second-lifetime value (simulated truth)")
    ax.axhline(PUBLISHED_SLV, color="black", linestyle=":", linewidth=1,
               label=f"published average SLV (${PUBLISHED_SLV:,.0f})")
    ax.set_xticks(x, tab.index)
    ax.set(xlabel=xlabel, ylabel="value per reacquired customer (USD, 10%/yr)", title=title)
    ax.set_ylim(0, 1.3 * tab[["clv_first", "slv_model", "slv_simulated"]].to_numpy().max())
    ax.legend(loc="upper right", fontsize=9, ncols=2)
    save_figure(fig, name)
    plt.show()


top, low = by_reason["slv_model"].idxmax(), by_reason["slv_model"].idxmin()
value_bars(by_reason, REASON_COLORS, "stated reason for leaving",
           f"Second lifetimes are worth most for {top} leavers "
           f"(${by_reason.loc[top, 'slv_model']:,.0f}), least for '{low}' leavers "
           f"(${by_reason.loc[low, 'slv_model']:,.0f})",
           "04_value_before_after_by_reason")

# %% [markdown]
# Service leavers stay shorter once back but pay more per month (more premium plans, and
# +8% on the margin in the second lifetime: P8). Which of the two wins is a question of
# the simulator's numbers, printed here rather than asserted. Note also what P4 compares:
# the average first-lifetime CLV of *all* leavers with the SLV of those who came back. The
# returners were above-average customers the first time.

# %%
seg = lifetime.lifetimes_by_segment("defection_reason")
margin2 = back.groupby("defection_reason", observed=True)["second_monthly_margin"].mean()
print(f"service vs price leavers, second lifetime: model median "
      f"{seg.loc['service', 'model_median']:.0f} vs {seg.loc['price', 'model_median']:.0f} months, "
      f"margin ${margin2['service']:.2f} vs ${margin2['price']:.2f} a month, SLV "
      f"${by_reason.loc['service', 'slv_model']:,.0f} vs ${by_reason.loc['price', 'slv_model']:,.0f}")
print(f"first-lifetime CLV: all leavers ${df['clv_first'].mean():,.0f} (published "
      f"${PUBLISHED_CLV:,.0f}), reacquired ${back['clv_first'].mean():,.0f}; SLV of the "
      f"reacquired ${back['slv_model'].mean():,.0f} (published ${PUBLISHED_SLV:,.0f})")

# %% [markdown]
# ## ... and by win-back offer

# %%
by_offer = value_table("offer").reindex(["none", "discount", "upgrade", "bundled", "tailored"])
by_offer.round(2)

# %%
value_bars(by_offer, OFFER_COLORS, "win-back offer",
           f"Upgrade returners are worth most (${by_offer.loc['upgrade', 'slv_model']:,.0f}), "
           f"bundle returners least (${by_offer.loc['bundled', 'slv_model']:,.0f})",
           "04_value_before_after_by_offer")

# %% [markdown]
# ## Routes to value, beside the published figures
# `value_routes` puts every route in one table. The first lifetime is observed completely,
# so its value is known exactly; Kaplan-Meier survival by plan times the plan's margin
# reproduces it. For the second lifetime the window cuts off a quarter of the value; the
# models recover it.

# %%
routes = value_routes(df, lifetime, profit)
routes.round(3)

# %%
fig, ax = plt.subplots(figsize=(9.5, 5.2))
labels = [f"{life}: {route}" for life, route in routes.index]
y = np.arange(len(routes))
colors = ["#BBBBBB" if life == "first" else "#0072B2" for life, _ in routes.index]
ax.barh(y, routes["value"], color=colors)
for yy, (life, _) in zip(y, routes.index, strict=True):
    pub = PUBLISHED_CLV if life == "first" else PUBLISHED_SLV
    ax.plot([pub, pub], [yy - 0.4, yy + 0.4], color="black", linewidth=2)
ax.set_yticks(y, labels, fontsize=9)
ax.invert_yaxis()
model_slv = routes.loc[("second", "survival and margin models"), "value"]
sbg_miss = routes[[r.startswith("sBG") for _, r in routes.index]]["vs_published"].abs().max()
ax.set(xlabel="mean value per customer (USD, 10%/yr); black ticks: published",
       title=f"Model SLV ${model_slv:,.0f} vs published ${PUBLISHED_SLV:,.0f}; "
             f"sBG routes miss by up to {sbg_miss:.0%}")
save_figure(fig, "04_value_routes")
plt.show()

# %% [markdown]
# ## The sBG route, and why it hits its boundary
# The sBG model assumes each customer churns with her own constant probability, so
# aggregate retention can only **rise** with tenure (the riskiest customers leave first).
# In the simulation individual hazards rise with tenure (Weibull shapes 1.3 and 1.7), and
# observed yearly retention falls. The sBG likelihood is then maximised at its boundary,
# `alpha, beta -> infinity`: a constant-churn geometric model (`SBGBoundaryError` carries
# it). The published Fader & Hardie cohort, where retention does rise, still fits
# (`tests/test_sbg.py`).

# %%
first_counts = survivor_counts(df["first_tenure_months"], period=12, n_periods=7,
                               method="complete")
second_counts = survivor_counts(back["second_tenure_months"], back["second_churned"], 12,
                                method="km")
fits, message = {}, ""
for name, counts in (("first lifetime", first_counts), ("second lifetime (Kaplan-Meier)",
                                                        second_counts)):
    try:
        fits[name] = fit_sbg(counts)
        print(f"{name}: sBG alpha {fits[name].alpha:.3f}, beta {fits[name].beta:.3f}")
    except SBGBoundaryError as exc:
        fits[name] = exc.geometric
        print(f"{name}: sBG at its boundary; geometric limit, churn "
              f"{exc.geometric.churn:.3f} a year")
        message = str(exc)
if message:
    print(textwrap.fill(message, 92))
pd.DataFrame({name: counts for name, counts in (("first", first_counts),
                                                ("second", second_counts))})

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
for ax, (name, counts), color in zip(axes, (("first lifetime", first_counts),
                                            ("second lifetime (Kaplan-Meier)", second_counts)),
                                     ("#7F7F7F", "#0072B2"), strict=True):
    years = counts.index.to_numpy()
    observed = counts / counts.iloc[0]
    ax.plot(years, observed, "o", color=color, label="observed (yearly survivors)")
    months = np.arange(0, 12 * years[-1] + 1)
    ax.plot(months / 12, monthly_survival(fits[name], months), color="black",
            label="sBG fit (geometric limit)")
    ax.set(xlabel="years since the lifetime began", title=name)
    ret = (counts.iloc[1:].to_numpy() / counts.iloc[:-1].to_numpy())
    ax.annotate(f"retention year 1: {ret[0]:.0%}\nretention year {len(ret)}: {ret[-1]:.0%}",
                (0.55, 0.75), xycoords="axes fraction", fontsize=10)
    ax.legend(loc="lower left", fontsize=9)
axes[0].set_ylabel("share still a customer")
r1 = first_counts.iloc[1:].to_numpy() / first_counts.iloc[:-1].to_numpy()
fig.suptitle(f"Retention falls with tenure ({r1[0]:.0%} in year 1 to {r1[-1]:.0%} in year "
             f"{len(r1)}), so the sBG fit collapses to constant churn",
             fontweight="bold", x=0.01, ha="left")
save_figure(fig, "04_sbg_route")
plt.show()

# %% [markdown]
# ## What is a win-back attempt worth?
# For a sample of lapsed customers, every offer: the probability of return (the probit),
# the expected SLV if she returns *under that offer* (the corrected models evaluated with
# the counterfactual offer, including the Mills-ratio term for that offer), and the offer's
# cost, paid only if she accepts. The incremental value subtracts what she would bring back
# with no offer at all.

# %%
rng = np.random.default_rng(SEED)
sample = df.iloc[np.sort(rng.choice(len(df), 8000, replace=False))]
attempts = win_back_values(sample, lifetime, profit)
attempts["defection_reason"] = sample["defection_reason"].reindex(
    attempts.index.get_level_values(0)).to_numpy()
attempts.groupby(level="offer").mean(numeric_only=True).round(3)

# %%
inc = (attempts.reset_index(level="offer")
       .groupby(["defection_reason", "offer"], observed=True)["incremental_value"].mean()
       .unstack()[["discount", "upgrade", "bundled", "tailored"]])
inc.round(0)

# %%
fig, ax = plt.subplots(figsize=(9.5, 4.8))
x = np.arange(len(inc))
for i, offer in enumerate(inc.columns):
    ax.bar(x + (i - 1.5) * 0.2, inc[offer], width=0.2, color=OFFER_COLORS[offer], label=offer)
ax.set_xticks(x, inc.index)
ax.axhline(0, color="black", linewidth=0.6)
best = inc.idxmax(axis=1)
ax.set(xlabel="stated reason for leaving",
       ylabel="incremental value per attempt (USD)",
       title="Best offer: " + ", ".join(f"{r} leavers {o}" for r, o in best.items()))
ax.legend(title="offer", ncols=4, loc="upper right")
ax.set_ylim(min(0, inc.to_numpy().min() * 1.2), inc.to_numpy().max() * 1.3)
save_figure(fig, "04_winback_value_by_reason_offer")
plt.show()

# %% [markdown]
# ## How much does SLV depend on the discount rate?
# The paper does not state its discount rate; the package assumes 10% a year. The
# model-based SLV beside the value of the complete simulated lifetimes and the value inside
# the window (a lower bound), at rates from 0% to 25%.

# %%
sens = slv_discount_sensitivity(df, lifetime, profit,
                                rates=(0.0, 0.025, 0.05, 0.075, 0.10, 0.15, 0.20, 0.25))
sens.round(1)

# %%
fig, ax = plt.subplots(figsize=(8.5, 4.8))
pct = 100 * sens.index.to_numpy()
ax.plot(pct, sens["expected_slv"], "o-", color="#0072B2", label="model (corrected Weibull x margin)")
ax.plot(pct, sens["simulated_slv"], "s--", color="black", label="complete simulated lifetimes")
ax.plot(pct, sens["observed_slv"], "^:", color="#7F7F7F", label="inside the window only")
ax.scatter([10], [PUBLISHED_SLV], marker="*", s=200, color="#D55E00", zorder=3,
           label=f"published ${PUBLISHED_SLV:,.0f} (at the assumed 10%)")
ax.set(xlabel="annual discount rate (%)", ylabel="mean SLV per reacquired customer (USD)",
       title=f"SLV falls from ${sens['expected_slv'].iloc[0]:,.0f} at 0% to "
             f"${sens['expected_slv'].iloc[-1]:,.0f} at {pct[-1]:.0f}% a year")
ax.legend(fontsize=9)
save_figure(fig, "04_slv_discount_sensitivity")
plt.show()

# %%
print(wb.version_stamp())
