"""The judgement audit (``python -m experiments.judgement``, issue 16 item 2): which parameters it audits, their
ranges (each rule and the overrides), the shift and noise-floor statistics by hand, a tiny end-to-end run that a
second run resumes without simulating, and one-line errors for bad settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import experiments.judgement as J
from calibration.priors import parse_priors
from common.cli import CONFIG_DIR, precheck
from experiments.tables import MAIN_COLUMNS
from model.params import ConfigError, load_default_params, parameter_table, with_overrides

ROOT = Path(__file__).resolve().parent.parent
HEADER = "name,low,high,reason\n"
# Three parameters for the end-to-end run: a rate, a list element whose low end is its default (not rerun) and a year.
FEW = ["relations.weight_forum", "arms.delivery_years.0", "forums.onset_year"]


def _config(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("judgement", overrides=overrides), resolve=True)


def _small(tmp_path: Path, *extra: str) -> list[str]:
    return ["judgement.draws=4", "judgement.seeds=1", "judgement.workers=1", f"judgement.parameters=[{','.join(FEW)}]",
            f"judgement.work_dir={tmp_path / 'work'}", f"judgement.out_dir={tmp_path / 'out'}", *extra]


@pytest.fixture(scope="module")
def ranges() -> dict[str, J.Range]:
    return {r.name: r for r in J.judgement_ranges()}


def test_the_audit_and_the_exclusions_partition_every_parameter(ranges):
    every = {f"{r['name']}.{k}" for r in parameter_table() for k in range(r["length"])} | \
        {r["name"] for r in parameter_table() if not r["length"]}
    status = {e.name: e.status for e in J.elements()}
    assert set(status) == every and len(status) == len(J.elements())
    by = {s: {n for n, v in status.items() if v == s} for s in ("audited", "calibrated", "axis", "derived")}
    priors = {p.name for p in parse_priors(yaml.safe_load((CONFIG_DIR / "calibration" / "default.yaml").read_text())
                                           ["priors"])}
    assert by["axis"] == {"china.boldness_tension"} and by["calibrated"] == priors - by["axis"]
    sources = {r["name"]: r["source"] for r in parameter_table()}
    assert all(sources[n.rsplit(".", 1)[0] if n not in sources else n].startswith("derived") for n in by["derived"])
    # supplier_constant is derived and partly calibrated: the calibrated elements are calibrated, the rest derived.
    assert "arms.supplier_constant.6" in by["calibrated"] and "arms.supplier_constant.0" in by["derived"]
    assert by["audited"] == set(ranges) and "arms.price.3" in ranges
    assert by["audited"] | by["calibrated"] | by["axis"] | by["derived"] == every
    assert sum(len(v) for v in by.values()) == len(every)


def test_every_range_is_allowed_holds_the_default_and_the_model_takes_it(ranges):
    defaults = load_default_params()
    allowed = {e.name: e.allowed for e in J.elements()}
    for r in ranges.values():
        a, b = allowed[r.name]
        assert a <= r.low <= r.default <= r.high <= b and r.low < r.high, r
        assert r.rule in J.RULES and r.confidence in J.LEVELS
        for value in (r.low, r.high):
            with_overrides(defaults, {r.name: value})
    # The shipped overrides replace the rule, each with its reason.
    shipped = pd.read_csv(J.OVERRIDES_FILE)
    assert list(shipped.columns) == list(J.OVERRIDE_COLUMNS)
    for row in shipped.itertuples():
        r = ranges[row.name]
        assert (r.rule, r.low, r.high, r.reason) == ("override", row.low, row.high, row.reason) and len(row.reason) > 20


def _element(doc: str, source: str, allowed: tuple[float, float], default: float, integer: bool = False):
    return J.Element("g.x", doc, source, allowed, integer, default, "audited")


@pytest.mark.parametrize(("element", "expected"), [
    # integer: ± 1/2/3 by confidence, clipped to the allowed range
    (_element("first year", "article: 2015", (1995, 2040), 2015, True), (2013, 2017, "integer")),
    (_element("first year", "judgement (low)", (1995, 2040), 1996, True), (1995, 1999, "integer")),
    (_element("years of cooling", "judgement (high)", (0, 10), 3, True), (2, 4, "integer")),
    # log or logit scale: additive ± 0.5/1/2
    (_element("logit intercept", "judgement (high)", (-10, 5), -2.0), (-2.5, -1.5, "log-scale")),
    (_element("log-weight of a past partner", "judgement (low)", (0, 5), 1.5), (0.0, 3.5, "log-scale")),
    # a share in (0, 1): logit ± 0.5/1/2, mapped back
    (_element("yearly probability", "judgement (medium)", (0, 1), 0.5), (0.2689, 0.7311, "share")),
    (_element("yearly probability", "Feldstein 2019", (0, 1), 0.6), (0.3556, 0.803, "share")),
    # a positive scale: ÷× 1.25/2/4, clipped
    (_element("contact weight", "judgement (high)", (0, 5), 2.0), (1.6, 2.5, "factor")),
    (_element("contact weight", "judgement (low)", (0, 5), 2.0), (0.5, 5.0, "factor")),
    (_element("exposure of the category", "judgement (medium)", (0, 1), 1.0), (0.5, 1.0, "factor")),
    # zero or signed: ± 5/10/25% of the allowed range
    (_element("effect of alignment", "judgement (medium)", (-3, 3), 0.0), (-0.6, 0.6, "span")),
    (_element("orientation", "judgement (high): sign only", (-1, 1), -1.0), (-1.0, -0.9, "span")),
    (_element("effect of alignment", "article [26]", (-3, 3), 0.5), (-0.1, 1.1, "span")),
])
def test_each_rule_by_hand(element, expected):
    low, high, rule = J.rule_range(element)
    assert rule == expected[2] and low == pytest.approx(expected[0]) and high == pytest.approx(expected[1])
    assert isinstance(low, int) == element.integer


def test_representative_parameters_get_their_rule():
    by = {e.name: e for e in J.elements()}
    assert J.rule_of(by["forums.onset_year"]) == "integer"
    assert J.rule_of(by["us.leverage_intercept"]) == "log-scale"
    assert J.rule_of(by["exercises.alignment"]) == "log-scale"  # a zero-default log-weight
    assert J.rule_of(by["delegations.tour_probability"]) == "share"
    assert J.rule_of(by["relations.weight_forum"]) == "factor"
    assert J.rule_of(by["arms.supplier_orientation.4"]) == "span"
    assert J.confidence("judgement (low): x") == "low" and J.confidence("DESIGN.md §4") == "medium"


def test_an_override_replaces_the_rule(tmp_path, ranges):
    path = tmp_path / "overrides.csv"
    path.write_text(HEADER + "relations.weight_forum,0.15,0.3,a contact weight no larger than a delegation's\n")
    got = {r.name: r for r in J.judgement_ranges(path)}
    r = got["relations.weight_forum"]
    assert (r.low, r.high, r.rule, r.reason) == (0.15, 0.3, "override", "a contact weight no larger than a "
                                                                        "delegation's")
    assert ranges["relations.weight_forum"].rule == "factor"
    # Without the shipped overrides, their parameters fall back to the rule.
    assert got["china.aid_size_sigma"].rule == "log-scale"


@pytest.mark.parametrize(("rows", "says"), [
    ("arms.nothing,0,1,x\n", "'arms.nothing' is not an audited parameter"),
    ("training.intercept,-3,-1,x\n", "'training.intercept' is not an audited parameter"),
    ("china.boldness_tension,1,3,x\n", "is not an audited parameter"),
    ("arms.category_weights.0,0.05,0.2,x\n", "is not an audited parameter"),
    ("relations.weight_forum,0.4,0.1,x\n", "low 0.4 > high 0.1"),
    ("relations.weight_forum,0.1,9,x\n", "leaves the allowed range [0, 5]"),
    ("relations.weight_forum,0.25,0.4,x\n", "does not hold the default 0.2"),
    ("relations.weight_forum,0.1,0.4,\n", "no reason"),
    ("relations.weight_forum,low,0.4,x\n", "allowed: numbers"),
    ("forums.onset_year,2013.5,2017,x\n", "whole numbers"),
    ("relations.weight_forum,0.1,0.4,x\nrelations.weight_forum,0.1,0.3,y\n", "listed twice"),
    ("relations.weight_forum,0.1,0.4\n", "3 fields"),
])
def test_a_malformed_overrides_file_is_a_one_line_error(tmp_path, rows, says):
    path = tmp_path / "overrides.csv"
    path.write_text(HEADER + rows)
    with pytest.raises(ConfigError) as info:
        J.judgement_ranges(path)
    assert says in str(info.value) and "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_bad_header_or_a_refused_value_is_a_one_line_error(tmp_path):
    path = tmp_path / "overrides.csv"
    path.write_text("parameter,low,high\n")
    with pytest.raises(ConfigError, match="header"):
        J.judgement_ranges(path)
    # A range the model refuses (lag_min above lag_max) must be narrowed, not skipped.
    path.write_text(HEADER + "arms.lag_min,0,5,x\n")
    with pytest.raises(ConfigError, match=r"arms.lag_min=5 \(rule override\) is refused by the model"):
        J.judgement_ranges(path)


def test_shift_and_noise_floor_by_hand():
    central = np.arange(1, 101, dtype=float)[:, None]  # median 50.5, q05 5.95, q95 95.05: w = 89.1
    w = 95.05 - 5.95
    low, high = central - 8.91, central + 4.455
    assert J.shifts(central, low, high)[0] == pytest.approx(0.1)
    assert J.shifts(central, central, central)[0] == 0
    flat = np.ones((10, 1))
    assert J.shifts(flat, flat, flat)[0] == 0 and np.isinf(J.shifts(flat, flat, flat + 1)[0])
    # Two seeds: seed 0 (even runs) against seed 1 (odd runs), draw-major.
    mask, split = J.halves(50, 2)
    assert mask[0] and not mask[1] and mask.sum() == 50 and split == "seeds 0 against seeds 1"
    noise, _ = J.noise_floor(central, 50, 2)
    assert noise[0] == pytest.approx(1.0 / w)
    mask, split = J.halves(4, 1)
    assert list(mask) == [True, True, False, False] and "one seed" in split


def test_end_to_end_writes_three_files_and_a_rerun_simulates_nothing(tmp_path, monkeypatch):
    config = _config(_small(tmp_path))
    first = J.run(config, progress=lambda line: None)
    # Central, relations.weight_forum low/high, arms.delivery_years.0 high only (its low end is its default),
    # forums.onset_year low/high.
    assert (first["simulated"], first["reused"]) == (6, 0)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(J.RESULT_FILES)
    table = pd.read_csv(out / "judgement.csv")
    labels = [f"shift:{c}@{y}" for c in MAIN_COLUMNS for y in (2030, 2040)]
    # The shipped setting audits every scenario, the baseline first.
    scenarios = J.scenario_entries("all")
    assert scenarios[0] == "baseline" and len(scenarios) == len(J.F.scenario_names()) > 1
    assert list(table.columns) == ["name", "default", "low", "high", "rule", "confidence", "source", "max_shift",
                                   "worst_output", "worst_scenario", "verdict", *labels,
                                   *(f"max_shift:{x}" for x in scenarios), "reason"]
    assert np.allclose(table.max_shift, table[[f"max_shift:{x}" for x in scenarios]].max(axis=1))
    assert set(table.name) == set(FEW) and set(table.verdict) <= {J.DEPENDENCE, J.NO_DEPENDENCE}
    assert np.allclose(table.max_shift, table[labels].max(axis=1))
    for row in table.itertuples():
        assert (row.verdict == J.DEPENDENCE) == (row.max_shift >= 0.1)
    stored = sorted(p.name for p in first["work"].iterdir())
    assert stored == sorted(["central.npz", "relations.weight_forum__low.npz", "relations.weight_forum__high.npz",
                             "arms.delivery_years.0__high.npz", "forums.onset_year__low.npz",
                             "forums.onset_year__high.npz"])
    with np.load(first["work"] / "central.npz") as part:
        assert part["outputs"].shape == (len(scenarios), 4, len(MAIN_COLUMNS), 2)
    report = (out / "judgement.md").read_text()
    assert report.startswith("# Judgement audit") and "## Noise floor" in report and "3 of the" in report
    record = json.loads((out / "judgement_manifest.json").read_text())
    assert record["seeds"] == {"root_seed": 20240101} and record["data_hashes"] and record["code_version"]
    assert record["judgement"]["parameters"] == 3 and record["judgement"]["posterior_sha256"]
    assert record["judgement"]["scenarios"] == scenarios and set(record["judgement"]["central"]) == set(scenarios)

    def no_simulation(task, data):
        raise AssertionError(f"simulated {task.label} again")

    monkeypatch.setattr(J, "run_setting", no_simulation)
    second = J.run(config, progress=lambda line: None)
    assert (second["simulated"], second["reused"]) == (0, 6)
    pd.testing.assert_frame_equal(pd.read_csv(out / "judgement.csv"), table)


def test_all_scenarios_is_the_union_of_each_scenario_audited_alone(tmp_path):
    """``scenario=all`` gives each scenario the shifts of its own audit (the scenarios share their 2000-2023 years in
    one batch, which must not change a record), and a parameter's shifts are their largest over the scenarios."""
    scenarios = J.scenario_entries("all")
    out = J.run(_config(_small(tmp_path / "all", "judgement.scenario=all")), progress=lambda line: None)
    together = out["table"]
    labels = [c for c in together.columns if c.startswith("shift:")]
    alone = {x: J.run(_config(_small(tmp_path / x, f"judgement.scenario={x}")), progress=lambda line: None)["table"]
             for x in scenarios}
    for x, table in alone.items():
        assert list(table.name) == list(together.name) and table.worst_scenario.isin([x, "none"]).all()
        np.testing.assert_array_equal(together[f"max_shift:{x}"], table.max_shift)
    each = np.stack([alone[x][labels].to_numpy() for x in scenarios])
    np.testing.assert_array_equal(together[labels].to_numpy(), each.max(axis=0))
    depends = np.any([alone[x].verdict == J.DEPENDENCE for x in scenarios], axis=0)
    assert list(together.verdict == J.DEPENDENCE) == list(depends)
    for row in together.itertuples():
        if row.max_shift > 0:  # the scenario named is one where the largest shift is
            assert alone[row.worst_scenario].set_index("name").loc[row.name, "max_shift"] == row.max_shift
    # The report counts each scenario's dependences as its own audit does, and its noise-floor table has one row per
    # output, from the scenario where the floor is highest.
    report = (tmp_path / "all" / "out" / "judgement.md").read_text()
    counts = "; ".join(f"`{x}` {int((alone[x].verdict == J.DEPENDENCE).sum())}" for x in scenarios)
    assert f"Parameters each scenario's forecasts depend on: {counts}." in report
    floor = report.split("## Noise floor")[1].split("## Result")[0]
    assert sum(line.startswith("| ") and "@20" in line for line in floor.splitlines()) == len(labels)


@pytest.mark.parametrize(("override", "says"), [
    ("judgement.draws=0", "judgement.draws: 0 is out of range"),
    ("judgement.seeds=many", "judgement.seeds: expected int"),
    ("judgement.threshold=0", "judgement.threshold: 0"),
    ("judgement.threshold=1.5", "judgement.threshold: 1.5 is out of range"),
    ("judgement.years=[2050]", "judgement.years: 2050 is out of range"),
    ("judgement.years=[2030,2030]", "judgement.years: [2030, 2030] repeats a year"),
    ("judgement.scenario=atlantis", "judgement.scenario: 'atlantis'; allowed: all or one of"),
    ("judgement.workers=0", "judgement.workers: 0 is out of range"),
    ("judgement.parameters=[training.intercept]", "judgement.parameters: 'training.intercept' is not an audited"),
    ("judgement.posterior=/nonexistent.parquet", "posterior: /nonexistent.parquet not found"),
    ("judgement.overrides=/nonexistent.csv", "judgement.overrides: '/nonexistent.csv' not found"),
    ("judgement.out_dir=/etc/hostname/x", "judgement.out_dir: '/etc/hostname/x' cannot be written"),
    # A folder root may "access" but not create (os.access alone let this one run the whole audit first).
    ("judgement.work_dir=/proc/judgement", "judgement.work_dir: '/proc/judgement' cannot be written"),
    ("+judgement.extra=1", "judgement.extra: unknown key"),
])
def test_bad_settings_are_one_line_errors(override, says, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["judgement", override])
    with pytest.raises(SystemExit) as info:
        precheck("judgement", J.validate)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err


@pytest.mark.slow
def test_the_command_refuses_a_bad_value_and_writes_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "experiments.judgement", *_small(tmp_path, "judgement.draws=1")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and done.stderr.startswith("error: judgement.draws: 1 is out of range")
    assert done.stderr.count("\n") == 1 and not (tmp_path / "out").exists() and not (tmp_path / "work").exists()
