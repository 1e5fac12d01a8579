"""Write ``data/example_lapsed_customers.csv`` and ``data/example_mapping.toml``.

An example of a user's own file: different column names, tenures in days, the user's own
labels for the reasons, its own names for the arms (described in the mapping's ``[design]``)
and a column of its own (``tariff``) that the models in ``[models]`` use; the mapping tells
``winback-study analyze`` how to read it.
Run from the repository root: ``.venv/bin/python scripts/make_example_user_file.py``.
"""

from pathlib import Path

from winback_study import simulate_study

OUT = Path("data")
ARMS = {"none": "no_offer", "discount": "price_cut", "upgrade": "upgrade", "bundled": "bundle",
        "tailored": "tailored"}
LABELS = {"price": "Too expensive", "service": "Poor service", "both": "Price and service",
          "other": "Other"}


MODELS_AND_DESIGN = """
[design]            # your arms: cost per accepting customer (USD), the no-offer arm, rules
control = "no_offer"
reasons = ["price", "service", "both", "other"]   # the study's, after [levels.reason]
offers = { no_offer = 0, price_cut = 120, upgrade = 105, bundle = 225 }
rules = { tailored = { price = "price_cut", service = "upgrade", both = "bundle", other = "price_cut" } }
matching = { price = "price_cut", service = "upgrade", both = "bundle" }

[models]            # right-hand sides in your own column names, as they are in the file
link = "probit"
return = "referrals_made + complaints + complaints_resolved + days_1 + C(tariff) + C(why_left) + C(campaign, Treatment('no_offer'))"
second_lifetime = "referrals_made + complaints + days_1 + C(tariff) + C(why_left) + C(campaign, Treatment('no_offer'))"
second_value = "referrals_made + complaints + days_1 + C(tariff) + C(why_left)"
"""


def main() -> None:
    sim = simulate_study(2_000, seed=42)
    user = sim.rename(columns={
        "customer_id": "account", "reacquired": "won_back",
        "first_monthly_margin": "margin_1", "second_monthly_margin": "margin_2",
        "second_churned": "left_again", "defection_reason": "why_left",
        "offer": "campaign", "referrals": "referrals_made",
    })[["account", "won_back", "margin_1", "margin_2", "left_again", "why_left",
        "campaign", "referrals_made", "complaints", "complaints_resolved"]].copy()
    user["account"] = "A" + user["account"].astype(str).str.zfill(5)
    user["days_1"] = (sim["first_tenure_months"] * 30.4375).round().astype(int)
    user["days_2"] = (sim["second_tenure_months"] * 30.4375).round().astype("Int64")
    user["why_left"] = user["why_left"].astype(str).map(LABELS)
    user["campaign"] = user["campaign"].astype(str).map(ARMS)
    user["tariff"] = sim["plan"].astype(str)  # a column of the file's own
    user.to_csv(OUT / "example_lapsed_customers.csv", index=False)
    levels = "".join(f'"{v}" = "{k}"\n' for k, v in LABELS.items())
    (OUT / "example_mapping.toml").write_text(
        "# Which column of data/example_lapsed_customers.csv plays which role.\n"
        "# Roles not named here switch off only the analyses that need them.\n"
        "[columns]\n"
        'customer_id = "account"\nreacquired = "won_back"\n'
        'first_tenure = "days_1"\nsecond_tenure = "days_2"\nsecond_event = "left_again"\n'
        'first_margin = "margin_1"\nsecond_margin = "margin_2"\n'
        'reason = "why_left"\noffer = "campaign"\nreferrals = "referrals_made"\n'
        'complaints = "complaints"\ncomplaints_resolved = "complaints_resolved"\n\n'
        "[units]\n"
        'tenure = "days"     # days, weeks, months or years\n'
        'margin = "month"    # margins are per day, week, month or year\n\n'
        "[levels.reason]     # your labels -> the study's (price, service, both, other)\n"
        + levels + MODELS_AND_DESIGN, encoding="utf-8")
    print("wrote data/example_lapsed_customers.csv and data/example_mapping.toml")


if __name__ == "__main__":
    main()
