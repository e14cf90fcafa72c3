"""Inputs derived from data stay what their derivation gives, and none looks at the years or events the fit scores
(data/README.md, second audit; docs/ODD.md §6.2, §6.3, §10.27)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy.special import logit

from model.data import CHANNEL_PROJECT, DATA_DIR, FIRST_BUDGETS, MODEL_CATEGORIES, load_data
from model.params import load_default_params
from model.schema import SUPPLIERS, Partner

RAW = DATA_DIR / "raw"
ROOT = DATA_DIR.parent


def _aiddata() -> pd.DataFrame:
    raw = pd.read_csv(RAW / "gcof_v1_lac_projects_2000_2014.csv")
    return raw.assign(usd_defl_2014=pd.to_numeric(raw.usd_defl_2014, errors="coerce"))


def _pre_sample_deals() -> pd.DataFrame:
    # Whole SIPRI deals ordered 1995-1999, every delivery counted: the deals the contract-size law is fitted on.
    raw = pd.read_csv(RAW / "lac_deliveries_1995_2024_excl_china.csv")
    category = pd.read_csv(DATA_DIR / "sipri_category_map.csv").set_index("armament_category").model_category
    raw["category"] = raw["Armament category"].map(category)
    early = raw[pd.to_numeric(raw["Order date"]).between(1995, 1999)]
    return early.groupby("SIPRI AT Database ID").agg(category=("category", "first"),
                                                     tiv=("TIV delivery values", "sum"))


def test_category_weights_and_sizes_are_the_pre_sample_deals():
    # The 2000-2023 deals are the scored SIPRI totals: the shares and sizes come from the deals ordered before them.
    arms = load_default_params().arms
    deals = _pre_sample_deals().groupby("category").tiv.agg(["size", "sum"]).reindex(list(MODEL_CATEGORIES))
    assert deals["size"].tolist() == [19, 31, 36, 116, 30]
    share = deals["size"] / deals["size"].sum()
    size = deals["sum"] / deals["size"] / (deals["sum"].sum() / deals["size"].sum())
    assert np.allclose(arms.category_weights, share, atol=0.0005)
    assert np.allclose(arms.category_size, size, atol=0.005)


def test_deal_sigma_is_the_contract_law_residual_less_the_category_spread():
    arms = load_default_params().arms
    residual_sd = load_data().contract_size[2]
    weights = np.asarray(arms.category_weights) / sum(arms.category_weights)
    log_size = np.log(arms.category_size)
    spread = weights @ (log_size - weights @ log_size) ** 2
    assert residual_sd == pytest.approx(1.47, abs=0.005)
    assert arms.deal_sigma == pytest.approx(np.sqrt(residual_sd ** 2 - spread), abs=0.005)


def test_capability_target_is_the_pre_sample_import_ratio():
    # Yearly imports 1995-1999 over the depreciation of a stock held at target by the first budgets the drivers
    # cover, net of fiscal stress as the target is; the calibration prior halves and doubles it.
    data, arms = load_data(), load_default_params().arms
    budget = (data.budget_usd_m[FIRST_BUDGETS] * (1.0 - data.fiscal_stress[FIRST_BUDGETS])).sum(axis=1).mean()
    ratio = data.installed_base_1995_1999.sum() / 5 / (arms.capability_decay * budget)
    assert ratio == pytest.approx(0.515, abs=0.0005)
    assert arms.capability_target == pytest.approx(ratio, abs=0.005)
    prior = OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml").priors.arms.capability_target
    assert np.sqrt(prior.low * prior.high) == pytest.approx(ratio, abs=0.0005) and prior.high / prior.low == 4.0


def test_aid_rate_is_the_grants_to_security_forces_per_unit_of_capacity():
    # Grants to a LAC state's armed or security forces (army, armed forces, police, public security), one per
    # state-year, 2000-2014, over the capacity China had then: not the ~4 aid recipients the fit scores.
    raw = _aiddata()
    forces = raw.title.str.contains(r"\barmy\b|armed forces|police|public security", case=False)
    elsewhere = raw.title.str.contains(r"peacekeeping|orphanage", case=False)  # Chinese police abroad, not to forces
    grants = raw[(raw.flow == "Grant") & forces & ~elsewhere].drop_duplicates(["recipient_iso3", "year"])
    assert sorted(zip(grants.recipient_iso3, grants.year, strict=True)) == [
        ("BOL", 2012), ("BOL", 2013), ("CRI", 2008), ("CRI", 2011), ("CRI", 2012), ("CRI", 2014)]
    data, china = load_data(), load_default_params().china
    capacity = (data.china_capacity[:15] ** china.capacity_elasticity).sum()
    assert china.aid_packages_per_year == pytest.approx(len(grants) / capacity, abs=0.005)


def test_coproduction_threshold_is_the_least_industrial_pre_sample_local_producer():
    # States SIPRI records producing imported arms under licence on orders before 2000 co-produce; the threshold is
    # the lowest defence-industrial capacity among them, not a value placed between the fitted buyers.
    raw = pd.read_csv(RAW / "lac_deliveries_1995_2024_excl_china.csv")
    local = raw[(pd.to_numeric(raw["Order date"]) < 2000) & (raw["Local production"] == "Yes")]
    data = load_data()
    names = {"Argentina": "ARG", "Brazil": "BRA", "Chile": "CHL", "Mexico": "MEX"}
    assert set(local.Recipient) == set(names)
    industry = [data.country["defence_industry"][list(data.iso3).index(names[r])] for r in set(local.Recipient)]
    assert load_default_params().china.tech_transfer_threshold == pytest.approx(min(industry))


def test_supplier_constants_are_the_pre_sample_shares_net_of_price_and_quality():
    # c_j = log(s_j / s_USA) + price_j - quality_j over SIPRI's 1995-1999 deliveries: the 2000-2023 deliveries are
    # the scored SIPRI totals, so constants derived from them would make the fit circular.
    arms = load_default_params().arms
    raw = pd.read_csv(RAW / "lac_deliveries_1995_2024_excl_china.csv")
    group = pd.read_csv(DATA_DIR / "sipri_supplier_map.csv").set_index("supplier").partner
    raw["partner"] = raw.Supplier.map(group).where(raw.Supplier != "United States", Partner.USA.value)
    early = raw[raw["Delivery year"].between(1995, 1999)]
    tiv = early.groupby("partner")["TIV delivery values"].sum()
    for j, partner in enumerate(SUPPLIERS):
        if partner in (Partner.USA, Partner.CHN, Partner.DOMESTIC):
            continue
        derived = np.log(tiv[partner.value] / tiv[Partner.USA.value]) + arms.price[j] - arms.quality[j]
        assert arms.supplier_constant[j] == pytest.approx(derived, abs=0.005), partner


def test_aid_package_is_the_median_grant_to_the_armed_forces_outside_the_scored_years():
    # AidData's grants to a LAC state's armed forces with a stated amount (2000-2014), in 2022 US$: not the 2017 and
    # 2018 packages the fit scores.
    raw = _aiddata()
    grants = raw[(raw.flow == "Grant") & raw.title.str.contains(r"\barmy\b|armed forces", case=False)
                 & raw.usd_defl_2014.notna()]
    assert sorted(grants.year) == [2012, 2013] and set(grants.recipient_iso3) == {"BOL"}
    usd_2022 = grants.usd_defl_2014 / 1e6 * load_data().us_deflator[2014]
    assert load_default_params().china.aid_package_usd_m == pytest.approx(np.median(usd_2022), abs=0.05)


def test_finance_exposure_leaves_out_the_projects_of_the_models_channels():
    # The satellite loans, ECU 911 and Bolivia's cameras are fitted events: the exposure that raises their
    # probability must not count them. Without the rule Bolivia's exposure would be 0.849.
    raw = _aiddata()
    left_out = raw[raw.title.str.contains(CHANNEL_PROJECT)]
    assert {35922, 36270, 38177, 38297, 39281, 36121} <= set(left_out.project_id)
    recommended = raw.recommended_for_research.astype(str).str.lower() == "true"
    kept = raw[recommended & ~raw.title.str.contains(CHANNEL_PROJECT)]
    total = kept.usd_defl_2014.fillna(0.0).groupby(kept.recipient_iso3).sum() / 1e6
    data = load_data()
    scaled = np.log1p(total.reindex(list(data.iso3), fill_value=0.0).to_numpy())
    assert np.allclose(data.finance_exposure, scaled / scaled.max())
    assert data.finance_exposure[list(data.iso3).index("BOL")] == pytest.approx(0.799, abs=0.001)


def test_channel_effects_follow_the_shared_alignment_rule():
    # One direct alignment effect for the fixed channels' links (docs/ODD.md §10.29): training's value was set so that
    # the fitted Chilean and Colombian trainees train. Space's alignment and finance terms are calibrated instead, on
    # the range of the arms market's alignment weight.
    p = load_default_params()
    assert {p.delegations.alignment, p.training.alignment, p.forums.alignment} == {0.5}
    priors = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml"))["priors"]
    arms = priors["arms"]["beta_alignment"]
    for name in ("alignment", "finance"):
        prior = priors["space"][name]
        assert (prior["dist"], prior["low"], prior["high"]) == (arms["dist"], arms["low"], arms["high"]), name


def test_priors_of_base_rates_follow_the_rule_not_the_rows():
    # The base-rate rule (docs/ODD.md §10.29) where the record bounds a channel from both sides (the forums' counts of
    # 2015 and 2022): a yearly probability's logit spans logit 0.001 to logit 0.999, a peer effect the rule's floor to
    # an even chance. Channels whose rows are all minimums keep their priors until a source bounds them from above.
    priors = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml"))["priors"]
    floor = round(float(np.log(0.001 / 0.999)), 1)
    for name, bounds in {"intercept": (floor, -floor), "peer": (0.0, -floor)}.items():
        prior = priors["forums"][name]
        assert prior["dist"] == "uniform" and (prior["low"], prior["high"]) == bounds, name
        assert "rule" in prior["why"]


def test_shares_and_the_subnational_hazard_have_priors_by_rule():
    # docs/ODD.md §10.30: two shares whose values cited the fitted donations and ground station are calibrated on their
    # allowed range; the subnational hazard, set from Mexico City's fitted purchase, on the national innovation
    # coefficient's prior (the Bass model's published mean, not a row).
    priors = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml"))["priors"]
    for group, name in (("china", "donation_share"), ("space", "ground_share")):
        prior = priors[group][name]
        assert (prior["dist"], prior["low"], prior["high"]) == ("uniform", 0.0, 1.0), name
    national, subnational = priors["surveillance"]["innovation"], priors["surveillance"]["subnational"]
    assert (subnational["dist"], subnational["low"], subnational["high"]) == (
        national["dist"], national["low"], national["high"])


def test_inputs_that_cited_their_rows_have_priors_by_rule():
    # docs/ODD.md §10.32: the voyage's hosts, the fiscal term of arms need, CBERS's continuation and surveillance's
    # camera build-up cited fitted rows (the hosts of 2002-2015, Argentina's failed purchases, no launch after CBERS-4A,
    # Ecuador's cameras); each is calibrated on its allowed range. Surveillance's finance term, from Ecuador's fitted
    # loan, takes the national innovation coefficient's prior (the Bass model's published mean, not a row).
    params = load_default_params()
    priors = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml"))["priors"]
    for group, name in (("port_calls", "hosts_mean"), ("arms", "need_fiscal"), ("space", "cbers_continuation"),
                        ("surveillance", "growth"), ("surveillance", "cameras_per_million")):
        allowed = {f.name: f.metadata["range"] for f in dataclasses.fields(getattr(params, group))}[name]
        prior = priors[group][name]
        assert (prior["dist"], prior["low"], prior["high"]) == ("uniform", *allowed), name
    national, finance = priors["surveillance"]["innovation"], priors["surveillance"]["finance"]
    assert (finance["dist"], finance["low"], finance["high"]) == (national["dist"], national["low"], national["high"])


def test_ceilings_of_base_rates_come_from_chinas_world_totals():
    # docs/ODD.md §10.33: where the region's rows are all minimums, the prior's upper end is China's worldwide total of
    # the same activity (data/world_totals.csv), which reads no LAC row; the lower end is the base-rate rule's floor
    # (the allowed range's for a space project, whose rate lies below that floor). Training's world figure is a floor
    # of near-universal sending, so its prior is the rule's whole span.
    priors = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "calibration" / "default.yaml"))["priors"]
    world = pd.read_csv(DATA_DIR / "world_totals.csv").set_index(["figure", "period"]).value
    data, p = load_data(), load_default_params()
    years = np.arange(2000, 2000 + len(data.china_capacity))
    floor = round(float(logit(0.001)), 1)
    capacity = data.china_capacity ** p.china.capacity_elasticity
    exercises = np.log(world["exercises", "2002-2010"] / 9 / capacity[(years >= 2002) & (years <= 2010)].mean())
    reach = data.drivers["pla_navy_reach"][(years >= 2005) & (years <= 2006)].mean()
    voyage = logit(1 - np.exp(-world["port_call_hosts", "2005-2006"] / 2)) - p.port_calls.reach * reach
    allowed = {f.name: f.metadata["range"] for f in dataclasses.fields(p.space)}
    recognising = data.recognises_beijing[(years >= 2005) & (years <= 2011)].sum(axis=1).min()
    project = logit(world["satellite_contracts", "2004-12 to 2011-09"] / (81 / 12) / recognising)
    expected = {("exercises", "intercept"): (floor, round(float(exercises), 2)),
                ("port_calls", "intercept"): (floor, round(float(voyage), 2)),
                ("space", "intercept"): (allowed["intercept"][0], round(float(project), 2)),
                ("training", "intercept"): (floor, -floor)}
    for (group, name), bounds in expected.items():
        prior = priors[group][name]
        assert prior["dist"] == "uniform" and (prior["low"], prior["high"]) == bounds, (group, name)
    assert world["training_countries", "2005-2006"] / world["military_ties", "2006"] > 0.9
