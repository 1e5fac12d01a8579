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
# # 06 · Whom to win back, with what: targeting, market share against profit, and the next test
#
# Notebook 05 compared the four offers arm against arm. A firm does not have to send one
# offer to everyone: HBR (2016) notes that contacting the customers most likely to accept,
# rather than everyone, raises the win-back rate, and that some firms value the *number* of
# customers won back (market share) over profit. This notebook asks
#
# 1. how much targeting the top-ranked customers gains (the study's P10),
# 2. which offer each kind of lapsed customer should get,
# 3. what the trade-off between customers regained and profit looks like across policies,
# 4. where each offer lifts returns most (uplift) and
# 5. how large the next experiment must be.
#
# A return model (a probit on the study's return equation,
# `winback_study.models.return_probability.DEFAULT_RETURN_FORMULA`) is fitted on a random half
# of the simulated customers and everything is evaluated on the other half. Expected
# win-back profit of an offer uses the package's ROI definition: the cost is paid only by
# customers who accept, and value counts only the returns above the no-offer baseline
# (`winback_study/analysis/targeting/`). Data are simulated; see `data/README.md`.

# %% [markdown]
# ## Parameters

# %%
import os
from functools import partial

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import winback_study as wb
from winback_study.analysis.targeting import (
    behaviour_segment,
    holdout_mask,
    published_arm_points,
)
from winback_study.plotting.style import (
    METHOD_COLORS,
    OFFER_COLORS,
    save_figure,
    use_house_style,
)

# --- parameters ----------------------------------------------------------------------
N_CUSTOMERS = 53_000  # lapsed customers simulated (10,000 per offer arm at 53,000)
OFFER_COSTS = {o: wb.KUMAR_2015.costs[o] for o in wb.KUMAR_2015.targetable_offers}  # exhibit's
OFFER_COSTS.update({})  # USD per acceptor: change one here, e.g. {"upgrade": 150.0}
BUDGETS = (50_000, 150_000, 300_000)  # expected offer spend, USD per 10,000 lapsed customers
PER = 10_000  # policies are reported per this many lapsed customers
SEED = int(os.environ.get("WINBACK_SEED", 20150701))
SE_METHOD = "delta"  # noise in each segment's lead: "delta" (one fit) or "bootstrap" (refits)
N_BOOT = 50  # bootstrap replicates (refit + rescore), used with SE_METHOD = "bootstrap"
NOISE_SE = 2.0  # a lead under this many standard errors is "too close to call"
N_BOOT_QINI = 200  # bootstrap replicates for the Qini coefficients' intervals
# sample-size calculator: response rates to tell apart, power, error rate, comparisons
P1, P2, POWER, ALPHA, N_COMPARISONS = 0.45, 0.47, 0.80, 0.05, 1

# %%
use_house_style()
df = wb.simulate_study(N_CUSTOMERS, seed=SEED)
train = holdout_mask(len(df), share=0.5, seed=SEED)  # independent of the simulation's draws


fit_probit = partial(wb.fit_return_model, link="probit")  # the study's default formula
model = fit_probit(df[train])
hold = df[~train]
scores = wb.score_offers(hold, model, costs=OFFER_COSTS)
print(f"return model fitted on {train.sum():,} customers; evaluated on {len(hold):,} "
      f"(seed {SEED})\n")
print(scores.summary())

# %% [markdown]
# ## 1 · Contact only the most likely to return? (P10)
# Within each randomised arm of the held-out half, rank customers by the model's
# predicted probability of return under that arm's offer and "contact" only the top
# share. What they did is observed; the no-offer group, ranked by the same score, shows
# what such customers do without an offer. Dashed lines: the same share contacted at
# random.

# %%
arms = list(wb.KUMAR_2015.treatment_arms)
gains = {a: wb.gain_curve(hold, scores.probability[a], a, costs=OFFER_COSTS) for a in arms}
p10 = wb.top_fraction_response(hold, model.predict(hold), fraction=0.2)
rows = {(a, f"{s:.0%}"): gains[a].at(s) for a in arms for s in (0.2, 0.4, 1.0)}
gain_table = pd.DataFrame(rows).T[["contacted", "response_rate", "regained_total",
                                   "incremental", "profit", "random_profit"]]
wb.plotting.table(gain_table, {"contacted": "{:,.0f}", "response_rate": "{:.1%}",
                              "regained_total": "{:,.0f}", "incremental": "{:,.0f}",
                              "profit": "${:,.0f}", "random_profit": "${:,.0f}"}, name="gain")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
for a, g in gains.items():
    c = g.curve
    x = 100 * c["share_contacted"]
    axes[0].plot(x, 100 * c["response_rate"], color=OFFER_COLORS[a], label=a)
    axes[1].plot(x, c["regained_total"], color=OFFER_COLORS[a])
    axes[1].plot(x, c["random_regained"], color=OFFER_COLORS[a], ls="--", lw=1)
    axes[2].plot(x, c["profit"] / 1e6, color=OFFER_COLORS[a])
    axes[2].plot(x, c["random_profit"] / 1e6, color=OFFER_COLORS[a], ls="--", lw=1)
n_arm = int(gains["discount"].curve["contacted"].iloc[-1])
axes[0].set(ylabel="response rate of those contacted (%)",
            title="Win-back rate of the contacted")
axes[1].set(ylabel=f"customers back (of about {n_arm:,} per arm)",
            title="Customers regained, contacted or not")
axes[2].set(ylabel="net profit (USD million)", title="Profit (solid: ranked, dashed: random)")
fig.supxlabel("share of the arm contacted, highest predicted return first (%)")
axes[0].legend(fontsize=9)
d = gains["discount"]
fig.suptitle(
    f"Contacting the top 20% raises the win-back rate from {p10['response_rate_all']:.0%} to "
    f"{p10['response_rate_top']:.0%} (all arms pooled);\nbut here every contact pays: "
    f"profit peaks at {d.best_share:.0%} contacted (discount arm)",
    fontweight="bold", x=0.01, ha="left")
save_figure(fig, "06_gain_from_targeting")
plt.show()
worth = scores.value[list(OFFER_COSTS)].mean()
print(f"an accepted offer costs ${min(OFFER_COSTS.values()):,.0f}-${max(OFFER_COSTS.values()):,.0f}; "
      f"a regained customer is worth ${worth.min():,.0f}-${worth.max():,.0f} on average "
      f"(mean SLV of the held-out returners, by offer): the dearest offer is "
      f"{max(OFFER_COSTS.values()) / worth.min():.0%} of the lowest value")

# %% [markdown]
# The win-back *rate* rises steeply when only the likeliest returners are contacted, as
# HBR reports. Whether that is worth doing depends on what a contact costs: in this
# simulation an accepted offer costs a small fraction of what a regained customer is
# worth (printed above), so even a customer with a low chance of returning is worth an
# offer, and total profit keeps rising as more are contacted. Targeting pays when the
# budget is limited (section 3) or contacts are expensive.

# %% [markdown]
# ## 2 · Which offer for whom?
# Expected per-customer outcome of each offer, averaged within segments of defection
# reason x first-lifetime behaviour (complaints and whether they were resolved, referrals
# made). The best offer depends on the goal: expected **profit**, **ROI** (profit per
# dollar of offer cost) or customers **regained** (uplift over no offer).
#
# Each segment's *lead* is the best offer's score minus the runner-up's. How much of a
# lead is noise? Its standard error (SE) has two sources: the return model's estimation
# error (it was fitted on the other half) and the sampling error of the held-out
# customers' values and segment means. `segment_margin_se` measures both by the delta
# method: the lead's gradient in the model's coefficients with their robust covariance,
# plus each held-out customer's influence on it. It gives what a bootstrap that refits
# the model and rescores the held-out half would (`SE_METHOD = "bootstrap"`, `N_BOOT`
# replicates, about 20 seconds; the tests check the two agree), in one fit. A lead
# smaller than `NOISE_SE` standard errors (about a 5% two-sided test) is called *too
# close to call*.

# %%
best = {obj: wb.analysis.targeting.best_offer_by_segment(scores, hold, objective=obj)
        for obj in ("profit", "roi", "regained")}
lead_se = wb.analysis.targeting.segment_margin_se(df, train, fit_probit, best, costs=OFFER_COSTS,
                                                  method=SE_METHOD, n_boot=N_BOOT, seed=SEED)
close = {obj: t["margin"] < NOISE_SE * lead_se[obj] for obj, t in best.items()}
unit = {"profit": lambda v: f"${v:,.0f}", "roi": lambda v: f"{100 * v:,.0f}pp",
        "regained": lambda v: f"{100 * v:.1f}pp"}
summary = {}
for obj, t in best.items():
    for reason, g in t.groupby(level=0, observed=True, sort=False):
        c = close[obj].loc[reason]
        thr = NOISE_SE * lead_se[obj].loc[reason]
        summary[(obj, reason)] = {
            "leader": ", ".join(f"{o} ({k})" for o, k in g["best_offer"].value_counts().items()),
            "lead": f"{unit[obj](g['margin'].min())} to {unit[obj](g['margin'].max())}",
            f"noise threshold ({NOISE_SE:g} SE)": f"{unit[obj](thr.min())} to "
                                                f"{unit[obj](thr.max())}",
            "too close to call": f"{int(c.sum())} of {len(c)}",
        }
summary = pd.DataFrame(summary).T.rename_axis(["objective", "reason for leaving"])
wb.plotting.table(summary, name="best_offer_summary")

# %% [markdown]
# One row per goal and reason for leaving, summarising its six behaviour segments: the
# leading offer (segments it leads), the range of its lead over the runner-up, the noise
# threshold, and in how many segments the lead is below it. The per-segment numbers are in
# `best["profit"]` etc. and in the figure.

# %%
reasons = list(best["profit"].index.get_level_values(0).unique())
behaviours = list(behaviour_segment(hold).cat.categories)
offers = ["discount", "upgrade", "bundled", "none"]
cmap = plt.matplotlib.colors.ListedColormap([OFFER_COLORS[o] for o in offers])
fmt = {"profit": lambda v: f"+\\${v:.0f}",  # escaped: a literal $, not mathtext
       "roi": lambda v: f"+{100 * v:.1f}pp" if v < 0.1 else f"+{100 * v:.0f}pp",
       "regained": lambda v: f"+{100 * v:.1f}pp"}
titles = {"profit": "max expected profit (cell: $ per customer ahead of the runner-up, its SE)",
          "roi": "max ROI (cell: lead in ROI percentage points, its SE)",
          "regained": "max customers regained (cell: lead in return probability, pp, its SE)"}
se_fmt = {"profit": lambda v: f"\\${v:.0f}", "roi": lambda v: f"{100 * v:.0f}pp",
          "regained": lambda v: f"{100 * v:.1f}pp"}
fig, axes = plt.subplots(3, 1, figsize=(11, 10.4), sharex=True)
for ax, (obj, t) in zip(axes, best.items(), strict=True):
    grid = t["best_offer"].unstack().reindex(index=reasons, columns=behaviours)
    margin = t["margin"].unstack().reindex(index=reasons, columns=behaviours)
    se = lead_se[obj].unstack().reindex(index=reasons, columns=behaviours)
    noisy = close[obj].unstack().reindex(index=reasons, columns=behaviours).to_numpy()
    ax.imshow(grid.apply(lambda col: col.map(offers.index)).to_numpy(), cmap=cmap,
              vmin=-0.5, vmax=len(offers) - 0.5, aspect="auto")
    for (i, j), v in np.ndenumerate(margin.to_numpy()):
        if noisy[i, j]:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="#D9D9D9",
                                       edgecolor="#FFFFFF", hatch="///", lw=0))
        ax.text(j, i, f"{grid.iloc[i, j]}\n{fmt[obj](v)} (SE {se_fmt[obj](se.iloc[i, j])})",
                ha="center", va="center", fontsize=8.5,
                color="black" if noisy[i, j] else "white",
                bbox={"facecolor": "#D9D9D9", "edgecolor": "none", "pad": 1}
                if noisy[i, j] else None)
    ax.set_yticks(range(len(reasons)), reasons)
    ax.set_ylabel("reason for leaving")
    ax.set_title(titles[obj], fontsize=11)
    ax.grid(False)
axes[-1].set_xticks(range(len(behaviours)), [b.replace(", ", ",\n") for b in behaviours])
axes[-1].set_xlabel("first-lifetime behaviour: complaints, referrals")
handles = [plt.matplotlib.patches.Patch(facecolor=OFFER_COLORS[o], label=o)
           for o in offers if any((t["best_offer"] == o).any() for t in best.values())]
handles.append(plt.matplotlib.patches.Patch(
    facecolor="#D9D9D9", edgecolor="#FFFFFF", hatch="///",
    label=f"too close to call: lead < {NOISE_SE:g} SE "
          f"({'delta method' if SE_METHOD == 'delta' else f'{N_BOOT} bootstrap refits'}); "
          "cell names the nominal leader"))
fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
noun = {"bundled": "bundle"}
clear = {obj: t.loc[~close[obj], "best_offer"].value_counts() for obj, t in best.items()}
words = {obj: f"the {noun.get(c.index[0], c.index[0])}" if len(c) else "no offer clearly"
         for obj, c in clear.items()}
n_clear = {obj: int(c.iloc[0]) if len(c) else 0 for obj, c in clear.items()}
n_seg = len(best["profit"])
fig.suptitle(
    f"What to send depends on the goal: {words['profit']} for profit (clear lead in "
    f"{n_clear['profit']} of {n_seg} segments),\n{words['roi']} for ROI "
    f"({n_clear['roi']} of {n_seg}), {words['regained']} for customers regained "
    f"({n_clear['regained']} of {n_seg}); hatched cells are too close to call",
    fontweight="bold", x=0.01, ha="left")
save_figure(fig, "06_best_offer_by_segment")
plt.show()

# %% [markdown]
# **Why the discount, not the upgrade, for price leavers?** Notebook 04 finds that the
# upgrade gives price leavers the most value; the figure above has the discount leading
# them on profit, within the noise. Two things explain it.
#
# * *The simulator's matched-offer penalty.* The discount is the offer that matches a price
#   leaver's stated reason, and the simulator shortens the second lifetime of customers won
#   back by a matched offer (`second_offer_matches_reason`, printed below). It exists so
#   that the tailored arm's ROI comes out below the discount's and the upgrade's, as
#   published. So price leavers won back by the discount are worth less than those won
#   back by the upgrade, although more of them come back.
# * *The measure.* Here expected profit = (P(return | offer) - P(return | no offer)) x SLV
#   if won back with that offer - P(return | offer) x offer cost: only the returns the offer
#   *adds* are valued, so the discount's larger uplift weighs most. Notebook 04's
#   incremental value also credits the offer's SLV to the customers who would have come
#   back anyway (against the no-offer SLV), which favours the offer with the longer second
#   lifetime (04 also predicts SLV with its lifetime model instead of averaging returners).

# %%
penalty = wb.study_params(df).second_offer_matches_reason
print(f"simulator: second_offer_matches_reason = {penalty:+.2f} log-months (second "
      f"lifetime x {np.exp(penalty):.2f} when the offer matches the stated reason)")
price = (hold["defection_reason"] == "price").to_numpy()
pair = ["discount", "upgrade"]
parts = pd.DataFrame({
    "P(return | offer)": scores.probability[pair][price].mean(),
    "uplift": scores.uplift[pair][price].mean(),
    "SLV if won back": scores.value[pair][price].mean(),
    "expected cost": scores.expected_cost[pair][price].mean(),
    "expected profit": scores.expected_profit[pair][price].mean(),
})
p0 = scores.probability["none"][price].mean()
d, u = parts.loc["discount"], parts.loc["upgrade"]
lead = d["expected profit"] - u["expected profit"]
credit = p0 * (u["SLV if won back"] - d["SLV if won back"])
slv_diff = d["SLV if won back"] - u["SLV if won back"]
print(f"price leavers (held-out half, means per customer): against the upgrade, the "
      f"discount's uplift is {100 * abs(d['uplift'] - u['uplift']):.1f} pp "
      f"{'higher' if d['uplift'] > u['uplift'] else 'lower'} and its SLV ${abs(slv_diff):,.0f} "
      f"{'higher' if slv_diff > 0 else 'lower'}; on this notebook's profit the "
      f"{'discount' if lead > 0 else 'upgrade'} leads by ${abs(lead):,.0f}.\nCrediting the "
      f"SLV difference to the {p0:.0%} who return without an offer, as notebook 04 does, "
      f"moves ${abs(credit):,.0f} towards the {'upgrade' if credit > 0 else 'discount'}, "
      f"{'enough' if credit > lead else 'not enough'} to put the upgrade first.")
wb.plotting.table(parts, {"P(return | offer)": "{:.3f}", "uplift": "{:.3f}",
                         "SLV if won back": "${:,.0f}", "expected cost": "${:,.0f}",
                         "expected profit": "${:,.0f}"}, name="price_leavers")

# %% [markdown]
# ## 3 · Market share against profit
# Every policy gives each lapsed customer one offer or none. Expected customers regained
# (whether contacted or not) and expected profit under the model, per 10,000 lapsed
# customers, for: one offer for everyone, tailored by reason, the best offer per segment,
# the model's best offer per customer, and the model's best choice under a budget on
# offer spend (with a random choice of customers under the same budget for comparison).
# The frontier curve puts a growing weight on each extra customer regained; under the
# model's probabilities, no policy the model can choose lies above it. Hollow black markers:
# the HBR exhibit's arms, whose success rate x ROI x cost gives their profit per customer
# offered. They are not policies the model can choose, and their profit comes from the
# published ROI, not from this model's probabilities and values, so they can sit above the
# curve (printed below the table).
#
# Compare the model-targeted row with the best one-offer row: the difference is what
# choosing the offer customer by customer adds over sending everyone the same offer.

# %%
policies = wb.policy_table(scores, hold, budgets=BUDGETS, per=PER)
frontier = wb.policy_frontier(scores, per=PER)
by_budget = wb.budget_frontier(scores, per=PER)
# the tailored arm's realised cost per reacquired customer (held-out half, section 1)
everyone = gains["tailored"].at(1.0)
published = published_arm_points(per=PER,
                                 tailored_cost=everyone["cost"] / everyone["reacquired"])
singles = policies[policies["kind"] == "one offer"]
top_single = singles["profit"].idxmax()
model_row = policies.loc["model: best offer per customer"]
gap = model_row["profit"] - singles.loc[top_single, "profit"]
print(f"model targeting, best offer per customer: ${gap:+,.0f} per {PER:,} lapsed customers "
      f"against '{top_single}' ({gap / singles.loc[top_single, 'profit']:+.1%} of its "
      f"${singles.loc[top_single, 'profit']:,.0f})")
reach = pd.concat([frontier, by_budget])
for arm, r in published.iterrows():
    best_model = reach.loc[reach["regained"] >= r["regained"], "profit"].max()
    if r["profit"] > best_model:
        print(f"HBR {arm} arm: ${r['profit'] / 1e6:.2f}M with {r['regained']:,.0f} regained, "
              f"above the model's best ${best_model / 1e6:.2f}M for at least as many; it is "
              "a published outcome valued at the exhibit's ROI, not a policy on this frontier")
wb.plotting.table(policies, {c: "{:,.0f}" for c in ("contacted", "regained", "incremental",
                                                    "cost", "value", "profit")} | {"roi": "{:.1%}"},
                 name="policies")

# %%
fig, (ax, zoom) = plt.subplots(1, 2, figsize=(13, 5.8), width_ratios=(1, 1.15))
style = {"baseline": ("s", "#7F7F7F"), "tailored": ("D", OFFER_COLORS["tailored"]),
         "segment-targeted": ("^", "#E69F00"), "model-targeted": ("*", "black"),
         "budget": ("o", "#56B4E9"), "random, budget": ("X", "#7F7F7F")}
top_kinds = ("one offer", "tailored", "segment-targeted", "model-targeted")
for a in (ax, zoom):
    a.plot(by_budget["regained"], by_budget["profit"] / 1e6, color="#56B4E9", lw=2,
           label="model, growing budget")
    a.plot(frontier["regained"], frontier["profit"] / 1e6, color="black", lw=2,
           label="frontier: extra weight on customers regained")
for name, r in policies.iterrows():
    kind = r["kind"]
    marker, color = (("o", OFFER_COLORS[name.removeprefix("all ")]) if kind == "one offer"
                     else style[kind])
    target = zoom if kind in top_kinds else ax
    target.scatter(r["regained"], r["profit"] / 1e6, marker=marker, color=color, s=80,
                   zorder=4, label=name if target is zoom else None)
    if target is ax:
        ax.annotate(name, (r["regained"], r["profit"] / 1e6), xytext=(8, -4),
                    textcoords="offset points", fontsize=8.5, color=color)
zoom.scatter(published["regained"], published["profit"] / 1e6, s=120, facecolors="none",
             edgecolors="black", linewidths=1.5, zorder=5,
             label="published arms (HBR 2016; not model policies)")
for arm, r in published.iterrows():
    zoom.annotate(f"HBR {arm}", (r["regained"], r["profit"] / 1e6), xytext=(0, 9),
                  textcoords="offset points", fontsize=8, ha="center")
lo_x = min(policies.loc[policies["kind"].isin(top_kinds), "regained"].min(),
           published["regained"].min()) - 80
zoom.set(xlim=(lo_x, max(frontier["regained"].max(), published["regained"].max()) + 60),
         ylim=(policies.loc[policies["kind"].isin(top_kinds), "profit"].min() / 1e6 - 0.15,
               max(frontier["profit"].max(), published["profit"].max()) / 1e6 + 0.12),
         title="Zoom: one offer for all, tailored, targeted")
ax.indicate_inset_zoom(zoom, edgecolor="#4D4D4D")
ax.set(title="From no offers to the most profitable policy")
zoom.legend(fontsize=8, loc="lower left", ncol=2)
ax.legend(fontsize=8.5, loc="upper left")
fig.supxlabel(f"customers regained per {PER:,} lapsed customers (expected, contacted or not)")
ax.set_ylabel(f"net profit per {PER:,} lapsed customers (USD million)")
top_profit = frontier.iloc[0]
top_share = frontier.iloc[-1]
extra = top_share["regained"] - top_profit["regained"]
price = (top_profit["profit"] - top_share["profit"]) / extra
budget_gain = (policies.loc[policies["kind"] == "budget", "profit"].iloc[0]
               / policies.loc[policies["kind"] == "random, budget", "profit"].iloc[0] - 1)
fig.suptitle(
    f"Past the most profitable policy, each of the last {extra:.0f} customers regained per "
    f"{PER:,} costs ${price:,.0f} of profit;\nwith ${BUDGETS[0]:,} to spend, the model's "
    f"choice earns {budget_gain:.0%} more than a random one", fontweight="bold", x=0.01,
    ha="left")
save_figure(fig, "06_share_vs_profit_frontier")
plt.show()

# %% [markdown]
# ## 4 · Uplift: where does each offer lift returns most?
# Left: observed response rate of each arm minus the no-offer group's, by reason for
# leaving (all simulated customers; Newcombe 95% intervals). Right: a Qini curve per offer
# on the held-out half: customers are ranked by the model's predicted uplift and the
# curve counts the extra returns among the top share over what the same share of the
# no-offer group returned; the dotted diagonal is random ranking. The *Qini coefficient* is
# the area between the curve and the diagonal per customer of the arm: the extra returns
# per customer that ranking adds over random targeting, averaged over all shares targeted
# (0 = no better than random). For scale it is printed beside the area under the diagonal
# (what random targeting gains), with a 95% bootstrap interval (`N_BOOT_QINI` resamples of
# the held-out customers, model and scores fixed).

# %%
uplift = wb.uplift_by_segment(df, "defection_reason")
qini = {a: wb.qini_curve(hold, scores.uplift[a], a, n_boot=N_BOOT_QINI, seed=SEED)
        for a in arms}
for a, q in qini.items():
    print(f"{a:>8}: Qini {q.coefficient:.4f} (95% interval {q.ci_low:.4f} to {q.ci_high:.4f}) "
          f"against {q.random_area:.3f} for random targeting: ranking adds "
          f"{q.coefficient / q.random_area:.0%}")
uplift.round(3)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
reasons = list(uplift.index.get_level_values(0).unique())
w = 0.2
for k, a in enumerate(arms):
    u = uplift.xs(a, level="arm").reindex(reasons)
    x = np.arange(len(reasons)) + (k - 1.5) * w
    ax1.bar(x, 100 * u["uplift"], w, color=OFFER_COLORS[a], label=a,
            yerr=100 * np.vstack([u["uplift"] - u["ci_low"], u["ci_high"] - u["uplift"]]),
            capsize=2)
ax1.set_xticks(range(len(reasons)), reasons)
ax1.set(xlabel="reason for leaving", ylabel="response gain over no offer (pp)",
        title="Observed uplift by reason")
ax1.legend(fontsize=9, ncol=2)
for a, q in qini.items():
    c = q.curve
    ax2.plot(100 * c["share_targeted"], c["incremental"], color=OFFER_COLORS[a],
             label=f"{a} (Qini {q.coefficient:.3f}, 95% CI {q.ci_low:.3f}-{q.ci_high:.3f})")
    ax2.plot(100 * c["share_targeted"], c["random"], color=OFFER_COLORS[a], ls=":", lw=1)
ax2.set(xlabel="share of the arm targeted, highest predicted uplift first (%)",
        ylabel="extra customers back vs no offer", title="Qini curves (held-out half)")
ax2.legend(fontsize=9)
mean_up = uplift.groupby(level=0, observed=True, sort=False)["uplift"].mean()
n_better = sum(q.ci_low > 0 for q in qini.values())
gain = [q.coefficient / q.random_area for q in qini.values()]
fig.suptitle(
    f"Offers lift returns most among {mean_up.idxmax()} leavers (+{100 * mean_up.max():.0f} pp "
    f"on average) and least among '{mean_up.idxmin()}' leavers (+{100 * mean_up.min():.0f} pp);"
    f"\nranking by predicted uplift beats random for {n_better} of {len(qini)} offers (95% "
    f"intervals above 0), but modestly: {min(gain):.0%}-{max(gain):.0%} more extra returns",
    fontweight="bold", x=0.01, ha="left")
save_figure(fig, "06_uplift_and_qini")
plt.show()

# %% [markdown]
# ## 5 · Designing the next test: how many customers per arm?
# Customers needed per arm to tell two response rates apart (two-sided test, normal
# approximation on Cohen's arcsine effect size, statsmodels `NormalIndPower`), and the
# power the study's 10,000 per arm had. With several arms compared pairwise, set
# `N_COMPARISONS` above (Bonferroni split of `ALPHA`; the Holm correction used in
# notebook 05 is at least as powerful).

# %%
n_needed = wb.sample_size_per_arm(P1, P2, POWER, ALPHA, n_comparisons=N_COMPARISONS)
power_10k = wb.design_power(P1, P2, 10_000, ALPHA, n_comparisons=N_COMPARISONS)
power_10k_6 = wb.design_power(P1, P2, 10_000, ALPHA, n_comparisons=6)
print(f"{P1:.0%} vs {P2:.0%}: {n_needed:,} customers per arm for {POWER:.0%} power "
      f"(alpha {ALPHA:g}, {N_COMPARISONS} comparison(s)); 10,000 per arm gives "
      f"{power_10k:.1%} power ({power_10k_6:.1%} if alpha is split over the 6 pairs)")
diffs = np.round(np.arange(0.01, 0.0601, 0.005), 3)
sizes = wb.analysis.targeting.sample_size_table(P1, diffs, powers=(0.8, 0.9), alpha=ALPHA)
sizes6 = wb.analysis.targeting.sample_size_table(P1, diffs, powers=(0.8,), alpha=ALPHA, n_comparisons=6)
wb.plotting.table(sizes, {"p1": "{:,.3f}", "p2": "{:,.3f}", "power_at_10000": "{:.1%}"},
                 name="sample_sizes")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
x = 100 * sizes.index
ax1.plot(x, sizes["n_per_arm_power_0.8"], "o-", color=METHOD_COLORS[0], label="80% power")
ax1.plot(x, sizes["n_per_arm_power_0.9"], "s-", color=METHOD_COLORS[1], label="90% power")
ax1.plot(x, sizes6["n_per_arm_power_0.8"], "o--", color=METHOD_COLORS[0], lw=1,
         label="80% power, alpha split over 6 pairs")
ax1.axhline(10_000, color=METHOD_COLORS[1], lw=1, ls=":")
ax1.annotate("study: 10,000 per arm", (x[-1], 10_000), xytext=(0, 5),
             textcoords="offset points", ha="right", fontsize=9)
ax1.set_yscale("log")
ax1.set_yticks([1_000, 2_000, 5_000, 10_000, 20_000, 50_000])
ax1.yaxis.set_major_formatter(plt.matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
ax1.yaxis.set_minor_formatter(plt.matplotlib.ticker.NullFormatter())
ax1.set(xlabel=f"difference to detect from {P1:.0%} (percentage points)",
        ylabel="customers needed per arm (log scale)", title="Sample size per arm")
ax1.legend(fontsize=9)
ax2.plot(x, 100 * sizes["power_at_10000"], "o-", color=METHOD_COLORS[0], label="one comparison")
ax2.plot(x, 100 * sizes6["power_at_10000"], "o--", color=METHOD_COLORS[0], lw=1,
         label="alpha split over 6 pairs")
ax2.axhline(100 * POWER, color=METHOD_COLORS[1], lw=1, ls=":")
ax2.set(xlabel=f"true difference from {P1:.0%} (percentage points)",
        ylabel="power (%)", ylim=(0, 102), title="Power of the 10,000-per-arm design")
ax2.legend(fontsize=9, loc="lower right")
fig.suptitle(
    f"Telling {P1:.0%} from {P2:.0%} needs {n_needed:,} customers per arm at {POWER:.0%} power;"
    f"\nthe study's 10,000 per arm had {power_10k:.0%} power ({power_10k_6:.0%} with six "
    "pairwise comparisons)", fontweight="bold", x=0.01, ha="left")
save_figure(fig, "06_sample_size")
plt.show()

# %% [markdown]
# ## Exercises
# Three exercises, from a warm-up to an extension. Each says what to hand in; its worked
# solution follows it (folded on the website: click to unfold; left out of the student
# copy, see `TEACHING.md`). The solutions reuse what this notebook computed above, so run
# the notebook first; each ends by putting its answer in a variable `answer_N_k`, which
# the test suite recomputes with the library.

# %% [markdown]
# ### Exercise 6.1 (warm-up): a three-point difference
#
# ```{exercise-start} 6.1
# :label: ex-6-1
# :nonumber:
# ```
# How many customers per arm does a test need to tell a 45% response rate from 48% (two
# sided, alpha 0.05, 80% power)? And what power did the study's 10,000 per arm have for
# that difference?
#
# **Hand in:** two numbers: customers per arm, and the power of 10,000 per arm (%).
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-6-1
# :class: dropdown
# ```
# `wb.sample_size_per_arm(p1, p2, power, alpha)` and `wb.design_power(p1, p2, n_per_arm)`.

# %% tags=["solution"]
n_3pt = wb.sample_size_per_arm(0.45, 0.48, 0.80, 0.05)
power_3pt = wb.design_power(0.45, 0.48, 10_000, 0.05)
print(f"45% vs 48%: {n_3pt:,} customers per arm for 80% power; 10,000 per arm gives "
      f"{power_3pt:.1%}")
answer_6_1 = {"n_per_arm": n_3pt, "power_at_10000": 100 * power_3pt}

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 6.2 (core): design a five-arm test
#
# ```{exercise-start} 6.2
# :label: ex-6-2
# :nonumber:
# ```
# Next year's test has five arms (no offer and four offers), and every pair of arms will
# be compared. Each comparison should detect a 2-point difference from 45% with 80% power
# while the chance of any false alarm over all the comparisons stays at 5% (split alpha
# over the comparisons: `n_comparisons=`).
#
# **Hand in:** the number of comparisons, the customers per arm, the customers in the
# whole test, and the power the study's 10,000 per arm would have with that correction.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-6-2
# :class: dropdown
# ```
# Five arms make 5 x 4 / 2 = 10 pairs. Splitting alpha ten ways asks for a larger effect
# in z units, so each arm needs more customers than for a single comparison.

# %% tags=["solution"]
n_arms = 5
n_pairs = n_arms * (n_arms - 1) // 2
n_five = wb.sample_size_per_arm(0.45, 0.47, 0.80, 0.05, n_comparisons=n_pairs)
power_five = wb.design_power(0.45, 0.47, 10_000, 0.05, n_comparisons=n_pairs)
print(f"{n_pairs} comparisons: {n_five:,} customers per arm, {n_arms * n_five:,} in all "
      f"(one comparison would need {wb.sample_size_per_arm(0.45, 0.47):,} per arm); "
      f"10,000 per arm would have {power_five:.0%} power")
answer_6_2 = {"n_comparisons": n_pairs, "n_per_arm": n_five, "total": n_arms * n_five,
              "power_at_10000": 100 * power_five}

# %% [markdown] tags=["solution"]
# ```{solution-end}
# ```

# %% [markdown]
# ### Exercise 6.3 (extension): contact fewer, earn more?
#
# ```{exercise-start} 6.3
# :label: ex-6-3
# :nonumber:
# ```
# `gains["discount"]` is the discount arm's gain curve: customers ranked by predicted
# return, contacted from the top. Compare contacting the top 30% with contacting the whole
# arm: customers contacted, response rate, incremental customers, profit, and profit per
# customer contacted. Which would you recommend to a manager who wants profit, and to one
# who wants market share?
#
# **Hand in:** a two-row table and two sentences.
# ```{exercise-end}
# ```

# %% [markdown] tags=["solution"]
# ```{solution-start} ex-6-3
# :class: dropdown
# ```
# `gains[arm].at(share)` reads the curve at a share contacted.

# %% tags=["solution"]
cols = ["contacted", "response_rate", "incremental", "profit"]
contact = pd.DataFrame({f"top {s:.0%}": gains["discount"].at(s)[cols] for s in (0.3, 1.0)}).T
contact["profit_per_contacted"] = contact["profit"] / contact["contacted"]
print(f"the top 30% earn ${contact['profit_per_contacted'].iloc[0]:,.0f} per contact against "
      f"${contact['profit_per_contacted'].iloc[1]:,.0f} for the whole arm, but "
      f"${contact['profit'].iloc[0]:,.0f} in all against ${contact['profit'].iloc[1]:,.0f}: "
      f"profit peaks at {gains['discount'].best_share:.0%} contacted, so both managers "
      "contact everyone here" if gains["discount"].best_share == 1 else
      "profit peaks before everyone is contacted: the profit manager stops there")
answer_6_3 = contact
wb.plotting.table(contact, {"contacted": "{:,.0f}", "response_rate": "{:.1%}",
                            "incremental": "{:,.0f}", "profit": "${:,.0f}",
                            "profit_per_contacted": "${:,.0f}"}, name="exercise_contact")

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
key = {"seed": SEED, "n_customers": len(df), "per": PER}
key |= {f"budget.{i}": b for i, b in enumerate(BUDGETS)}
key |= {f"cost.{o}": c for o, c in OFFER_COSTS.items()}
key |= {f"profit.{name}": v for name, v in policies["profit"].items()}
key |= {"top_single_offer": top_single.removeprefix("all "), "model_gain_over_top_single": gap}
key |= {f"segments_led.profit.{o}": n  # behaviour x reason segments each offer leads
        for o, n in best["profit"]["best_offer"].value_counts().sort_index().items()}
pd.Series({k: f"{v:.12g}" if isinstance(v, float) else v  # 12 significant digits
           for k, v in key.items()}).to_frame("value")

# %%
print(wb.version_stamp())
