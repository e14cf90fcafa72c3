"""``python -m calibration.scores``: proper scores of the posterior against the prior and the oracle (issue 13).

Three predictives of the fit observations and the SIPRI five-year totals, each from the same model and rules:

- *prior*: ``scores.prior_draws`` prior draws x ``scores.seeds`` seeds;
- *posterior*: as many posterior draws x seeds;
- *oracle*: ``scores.oracle_truths`` parameter sets drawn once from the prior with a fixed seed and committed
  (``<frozen_dir>/oracle_truths.csv``, so the yardstick does not move with the fit), each run 1 +
  ``scores.oracle_runs`` times. Each of a truth's runs in turn is a record (every target restated as that run has it,
  :func:`calibration.check.restated`) and the truth's other runs its predictive.

Every row is scored by a proper score (:mod:`calibration.proper`): a statement that holds or not (events, patterns,
one-sided bounds) by the Brier score of the probability that it holds; a value or a range (counts, levels, trends
stated as ``eq`` or ``between``; the range widened by its tolerance, as the distance reads it) by the interval CRPS
divided by the prior's CRPS on the same record(s), so rows weigh alike and the prior scores 1; a SIPRI total by the
CRPS of log1p(TIV m), divided the same way.

The headline R = sum(S_prior - S_posterior) / sum(S_prior - S_oracle) over the scored rows: the share of the way from
knowing nothing (the prior) to knowing the parameters (the oracle) that the fit has closed. S_prior and S_posterior
are scored on the real record, S_oracle as the mean over truths of each truth's predictive on its own records. Beside
it, the *paired* R takes as denominator the oracle's gain over the prior scored on the same (the oracle's) records:
positive in expectation, since a truth's own predictive minimises the expected proper score. The two differ on the
Brier rows by how much harder the real record is for the prior than the model's own records are: misfit no parameter
set removes. Ensemble scores are in their fair forms (:mod:`calibration.proper`), so an oracle of 100 runs and a prior
of 800 compare. Rows that hold with probability >= ``tautological`` under the prior predictive (listed once in
``<frozen_dir>/tautological.csv``) are reported apart and left out of R. Beside R, the same ratio with the SIPRI totals
pooled: each total's gain and attainable gap weighted by the prior's CRPS on the record over the block's mean, so a
total the prior already matches almost exactly counts for what it can gain (docs/ODD.md §10.28).

Also: PIT values and 50%/90% coverage of the posterior for the numeric rows and the SIPRI totals against their
binomial bands, the old hit rate (:func:`calibration.check.check_table`) as a secondary column, parameter recovery
(:mod:`calibration.recovery`'s shipped table), the hindcast's skills and the fit's wall time from their manifests;
and R again with a reference prior (``scores.reference_priors``, the priors of main at 57f2c0b): the same rows, the
same posterior and oracle runs, only the prior predictive (and with it each CRPS row's unit) drawn from the reference,
so that a wider prior cannot flatter the score.
Writes ``scores.json``, ``scores.md``, ``scores_rows.csv`` and figures into ``out_dir``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from omegaconf import DictConfig
from scipy.stats import binom

from calibration.check import (
    check_table,
    posterior_draws,
    predictive_ensemble,
    prior_draws,
    restated,
)
from calibration.diagnostics import markdown_table
from calibration.objective import BINARY_KINDS, Weights, holds, raw_scores, rule, sipri_crps
from calibration.observations import check_frozen_targets, load_observations
from calibration.priors import Prior, parse_priors
from calibration.problem import Problem
from calibration.proper import brier, covered, mid_pit, pit_mean_reference, skill_ratio
from calibration.recovery import binomial_band, coverage
from calibration.setup import Setup, prepare
from calibration.setup import validate as validate_calibration
from calibration.targets import Target, compile_targets
from common import axes as A
from common.cli import fail, precheck
from common.provenance import manifest, write_atomically, write_json
from model.data import DataError
from model.params import PROJECT_ROOT, ConfigError, check_keys, check_number, load_default_params, with_overrides

SETTINGS = ("frozen_dir", "prior_draws", "posterior_draws", "seeds", "oracle_truths", "oracle_runs", "truth_seed",
            "bootstrap", "tautological", "min_channel_rows", "recovery", "hindcast", "reference_priors", "judgement",
            "occurrence_selected")
SIPRI_CHANNEL = "arms_sipri"
# scores.judgement: the predictives with every fixed parameter at its default (as the posterior was fitted), or with
# the forecast's judgement axes drawn over their ranges (common.axes): do the judgement ranges fit the record?
JUDGEMENT_MODES = ("fixed", "varied")
PARTS = ("brier", "crps", "sipri")
# Issue 16's target for the mean PIT of the two-sided numeric rows, read against the reference of
# :func:`calibration.proper.pit_mean_reference` (REFERENCE_DRAWS means: its quantiles to about 0.005).
PIT_MEAN_TARGET = (0.35, 0.65)
REFERENCE_DRAWS = 20_000


@dataclass(frozen=True)
class ScoreSettings:
    """Validated ``scores`` settings (configs/scores.yaml explains each)."""

    frozen_dir: Path
    prior_draws: int
    posterior_draws: int
    seeds: int
    oracle_truths: int
    oracle_runs: int
    truth_seed: int
    bootstrap: int
    tautological: float
    min_channel_rows: int
    recovery: Path
    hindcast: Path
    reference_priors: Path | None = None
    judgement: str = "fixed"
    occurrence_selected: tuple[str, ...] = ()


def _path(key: str, value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"scores.{key}: {value!r}; allowed: a path (relative to the project or absolute)")
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def parse_scores(cfg: object) -> ScoreSettings:
    """One-line errors for every bad ``scores`` setting."""
    check_keys("scores", cfg, SETTINGS)
    ranges = {"prior_draws": (2, 100_000), "posterior_draws": (2, 100_000), "seeds": (1, 1000),
              "oracle_truths": (2, 10_000), "oracle_runs": (2, 100_000), "truth_seed": (0, 2**62),
              "bootstrap": (100, 1_000_000), "min_channel_rows": (1, 1000)}
    values = {k: int(check_number(f"scores.{k}", cfg[k], lo, hi, integer=True)) for k, (lo, hi) in ranges.items()}
    values["tautological"] = float(check_number("scores.tautological", cfg["tautological"], 0.5, 1.0))
    recovery, hindcast = _path("recovery", cfg["recovery"]), _path("hindcast", cfg["hindcast"])
    for key, path, what in (("recovery", recovery, "a recovery.csv written by python -m calibration.recovery"),
                            ("hindcast", hindcast,
                             "a hindcast_manifest.json written by python -m calibration.hindcast")):
        if not path.is_file():
            raise ConfigError(f"scores.{key}: {path} not found; allowed: {what}")
    reference = None if cfg["reference_priors"] in ("", None) else _path("reference_priors", cfg["reference_priors"])
    if reference is not None:
        load_reference(reference)
    if cfg["judgement"] not in JUDGEMENT_MODES:
        raise ConfigError(f"scores.judgement: {cfg['judgement']!r}; allowed: {', '.join(JUDGEMENT_MODES)}")
    return ScoreSettings(frozen_dir=_path("frozen_dir", cfg["frozen_dir"]), recovery=recovery, hindcast=hindcast,
                         reference_priors=reference, judgement=cfg["judgement"],
                         occurrence_selected=occurrence_selected(cfg["occurrence_selected"]), **values)


def occurrence_selected(value: object) -> tuple[str, ...]:
    """The ids of ``scores.occurrence_selected``: fit rows scored by the CRPS whose value is 0 unless an event
    occurred (one-line error for anything else)."""
    key = "scores.occurrence_selected"
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key}: {value!r}; allowed: a list of observation ids")
    obs = load_observations().set_index("id")
    numeric = obs[(obs.use == "fit") & ~obs.kind.isin(BINARY_KINDS) & (obs.relation == "eq")].index
    for v in value:
        if v not in numeric:
            raise ConfigError(f"{key}: {v!r} is not a fit row scored by the CRPS; allowed: ids of "
                              "data/observations.csv with use fit, relation eq and a value kind (count, level, trend)")
    return tuple(value)


def judgement_axes(settings: ScoreSettings, posterior_path: Path, calibrated: list[str]) -> tuple[A.Axis, ...]:
    """The judgement axes the predictives vary: none for ``fixed``; for ``varied`` those of ``judgement.csv`` beside
    the posterior (a one-line ConfigError without it)."""
    if settings.judgement == "fixed":
        return ()
    path = posterior_path.parent / A.AXIS_FILE
    if not path.is_file():
        raise ConfigError(f"scores.judgement: varied, but {path} is not there; allowed: fixed, or run "
                          "python -m experiments.judgement for this posterior first")
    return A.load_axes(path, calibrated, key="scores.judgement")


def load_reference(path: Path) -> tuple[list[Prior], dict[str, float]]:
    """A reference prior: its ``priors`` (as configs/calibration/*.yaml write them) and ``fixed`` values of parameters
    it holds at a point; one-line error for a missing file or a bad entry."""
    key = "scores.reference_priors"
    if not path.is_file():
        raise ConfigError(f"{key}: {path} not found; allowed: a YAML file with priors (and fixed values), or ''")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{key}: {path} is not YAML ({str(exc).splitlines()[0]})") from None
    check_keys(key, spec, ("priors", "fixed"), required=False)
    if "priors" not in spec:
        raise ConfigError(f"{key}.priors: missing key")
    priors = parse_priors(spec["priors"], where=f"{key}.priors")
    fixed = spec.get("fixed") or {}
    check_keys(f"{key}.fixed", fixed, sorted(fixed))
    both = sorted(set(fixed) & {p.name for p in priors})
    if both:
        raise ConfigError(f"{key}.fixed.{both[0]}: also has a prior; allowed: a prior or a fixed value, not both")
    values = {name: float(check_number(f"{key}.fixed.{name}", v, -1e9, 1e9)) for name, v in fixed.items()}
    try:  # a name the model does not have, or a value outside its range, is refused before any run
        with_overrides(load_default_params(), values)
    except ConfigError as exc:
        raise ConfigError(f"{key}.fixed: {exc}") from None
    return priors, values


def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    validate_calibration(config)
    parse_scores(config["scores"])
    if not isinstance(config.get("freeze"), bool):
        raise ConfigError(f"freeze: {config.get('freeze')!r}; allowed: true (rewrite the oracle's truths and the "
                          "tautological rows) or false")


@dataclass
class Ensemble:
    """Simulated statistics of a predictive: targets (runs, targets) and SIPRI totals (runs, totals)."""

    stats: np.ndarray
    sipri: np.ndarray


def _relative(score: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """``score`` in units of ``unit`` (the prior's score): 1 where both are 0 (a prior that is never wrong leaves
    nothing to gain), NaN where only the unit is 0 (the row cannot be scaled; reported, not scored)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(unit > 0, score / np.where(unit > 0, unit, 1.0), np.where(score == 0, 1.0, np.nan))


def oracle_scores(targets: list[Target], truths: list[Ensemble], prior: Ensemble) -> dict:
    """Mean raw scores of the oracle and of the prior, each against every record of every truth.

    ``truths``: each truth's runs. Each run in turn is a record (its targets restated as it has them), the truth's
    other runs its predictive, so a truth's expected score under its own noise is averaged over all its runs rather
    than read from one: with one record a truth, a row whose outcome is rare (a count that is mostly 0) could put the
    oracle many times above the prior by the luck of twenty records. Per target (Brier or interval CRPS, as
    :func:`raw_scores`) and per SIPRI total (CRPS of log1p); also P(holds) of every restated statement, for the
    all-statements Brier score that the hit-rate era reported.
    """
    oracle_raw, prior_raw, oracle_holds, prior_holds = [], [], [], []
    oracle_sipri, prior_sipri = [], []
    for truth in truths:
        runs = len(truth.stats)
        for k in range(runs):
            others = np.arange(runs) != k
            own_stats, own_sipri = truth.stats[others], truth.sipri[others]
            stated = [restated(t, x) for t, x in zip(targets, truth.stats[k], strict=True)]
            oracle_raw.append(raw_scores(stated, own_stats))
            prior_raw.append(raw_scores(stated, prior.stats))
            oracle_holds.append(holds(stated, own_stats))
            prior_holds.append(holds(stated, prior.stats))
            oracle_sipri.append(sipri_crps(own_sipri, truth.sipri[k]))
            prior_sipri.append(sipri_crps(prior.sipri, truth.sipri[k]))
    return {"targets": np.mean(oracle_raw, axis=0), "targets_prior": np.mean(prior_raw, axis=0),
            "sipri": np.mean(oracle_sipri, axis=0), "sipri_prior": np.mean(prior_sipri, axis=0),
            "brier_all": brier(np.array(oracle_holds), len(truths[0].stats) - 1).mean(),
            "brier_all_prior": brier(np.array(prior_holds), len(prior.stats)).mean()}


def row_table(targets: list[Target], channels: Mapping[str, str], sipri_ids: list[str], sipri_obs: np.ndarray,
              prior: Ensemble, posterior: Ensemble, oracle: dict) -> pd.DataFrame:
    """One row per fit observation and SIPRI total: rule, the scores, probabilities, PIT, coverage, hit.

    A CRPS row is a skill: the posterior's CRPS on the record divided by the prior's on the same record (the prior
    scores 1), and the oracle's CRPS summed over its records divided by the prior's summed over the same records
    (its own prior scores 1), so rows weigh alike whatever their units. ``gain`` is the fit's improvement over the
    prior on the record; ``attainable`` the issue's denominator, the prior's score on the record less the oracle's
    on its own records; ``attainable_paired`` the oracle's improvement over the prior on the same (the oracle's)
    records. The two differ only on Brier rows, by how much harder the record is for the prior than the model's own
    records are (``record_excess``): misfit the parameters cannot remove.
    """
    prior_raw, post_raw = raw_scores(targets, prior.stats), raw_scores(targets, posterior.stats)
    rules = [rule(t) for t in targets]
    brier_rows = np.array([r == "brier" for r in rules])
    record_unit = np.where(brier_rows, 1.0, prior_raw)
    oracle_unit = np.where(brier_rows, 1.0, oracle["targets_prior"])
    numeric = np.array([r == "crps" for r in rules])
    observed = np.array([t.value if t.relation == "eq" else 0.5 * (t.low + t.high) for t in targets])
    check = check_table(targets, posterior.stats, prior.stats)
    frame = pd.DataFrame({
        "id": [t.id for t in targets], "channel": [channels[t.id] for t in targets], "kind": [t.kind for t in targets],
        "relation": [t.relation for t in targets], "part": rules,
        "unit": record_unit, "prior": _relative(prior_raw, record_unit),
        "posterior": _relative(post_raw, record_unit),
        "oracle_prior": _relative(oracle["targets_prior"], oracle_unit),
        "oracle": _relative(oracle["targets"], oracle_unit),
        "prior_holds": holds(targets, prior.stats), "posterior_holds": holds(targets, posterior.stats),
        "pit": np.where(numeric, mid_pit(posterior.stats, observed), np.nan), "hit": check.hit.to_numpy()})
    sipri_prior = sipri_crps(prior.sipri, sipri_obs)
    sipri = pd.DataFrame({
        "id": sipri_ids, "channel": SIPRI_CHANNEL, "kind": "sipri_total", "relation": "eq", "part": "sipri",
        "unit": sipri_prior, "prior": _relative(sipri_prior, sipri_prior),
        "posterior": _relative(sipri_crps(posterior.sipri, sipri_obs), sipri_prior),
        "oracle_prior": _relative(oracle["sipri_prior"], oracle["sipri_prior"]),
        "oracle": _relative(oracle["sipri"], oracle["sipri_prior"]),
        "prior_holds": (prior.sipri == sipri_obs[None, :]).mean(axis=0),
        "posterior_holds": (posterior.sipri == sipri_obs[None, :]).mean(axis=0),
        "pit": mid_pit(posterior.sipri, sipri_obs), "hit": np.nan})
    frame = pd.concat([frame, sipri], ignore_index=True)
    frame["covered50"] = np.where(frame.pit.notna(), covered(frame.pit.fillna(0.5), 0.5), np.nan)
    frame["covered90"] = np.where(frame.pit.notna(), covered(frame.pit.fillna(0.5), 0.9), np.nan)
    frame["gain"] = frame.prior - frame.posterior
    frame["attainable"] = frame.prior - frame.oracle
    frame["attainable_paired"] = frame.oracle_prior - frame.oracle
    frame["record_excess"] = frame.prior - frame.oracle_prior
    return frame


def tautological_rows(frame: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Rows that hold with probability >= ``threshold`` under the prior predictive (exact match for SIPRI totals)."""
    rows = frame[frame.prior_holds >= threshold]
    return rows[["id", "prior_holds"]].rename(columns={"prior_holds": "prior_probability"}).reset_index(drop=True)


def coverage_summary(frame: pd.DataFrame) -> dict:
    """50%/90% coverage, n and binomial 90% band, mean PIT, for numeric rows and SIPRI totals (posterior)."""
    out = {}
    for name, rows in (("numeric", frame[frame.part == "crps"]), ("sipri", frame[frame.part == "sipri"])):
        n = len(rows)
        for level in (50, 90):
            low, high = binom.ppf([0.05, 0.95], n, level / 100) / n if n else (np.nan, np.nan)
            out[f"coverage{level}_{name}"] = float(rows[f"covered{level}"].mean()) if n else None
            out[f"coverage{level}_{name}_band"] = [float(low), float(high)]
        out[f"coverage90_{name}_n"] = n
        out[f"pit_mean_{name}"] = float(rows.pit.mean()) if n else None
    return out


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def headline(frame: pd.DataFrame, settings: ScoreSettings) -> dict:
    """R overall, by part and by channel (with bootstrap 90% intervals), over the non-tautological rows."""
    rng = np.random.default_rng(np.random.SeedSequence(settings.truth_seed, spawn_key=(0xB007,)))
    scored = frame[frame.scored]

    def ratio(rows: pd.DataFrame, denominator: str = "attainable") -> list[float]:
        return list(skill_ratio(rows.gain.to_numpy(), rows[denominator].to_numpy(), settings.bootstrap, rng))

    by_channel = {c: ratio(rows) for c, rows in scored.groupby("channel", sort=True)
                  if len(rows) >= settings.min_channel_rows}
    parts = {p: ratio(scored[scored.part == p]) for p in PARTS}
    crps_rows = scored[scored.part.isin(("crps", "sipri"))]
    paired = {"overall": ratio(scored, "attainable_paired"),
              "brier": ratio(scored[scored.part == "brier"], "attainable_paired")}
    out = {"overall": ratio(scored), "brier": parts["brier"], "crps": ratio(crps_rows), "parts": parts,
           "paired": paired, "by_channel": by_channel,
           "channel_rows": {c: int(n) for c, n in scored.channel.value_counts().sort_index().items()}}
    # The SIPRI totals pooled: each total weighted by the prior's CRPS on the record over the block's mean, so the
    # block keeps its weight in R and a total the prior already matches counts for what it can gain, not as much as
    # any other (per row, a near-exact total's ratio is of two near-zero CRPS; docs/ODD.md §10.27-10.28).
    sipri = scored.part == "sipri"
    weight = np.ones(len(scored))
    if sipri.any() and scored.unit[sipri].mean() > 0:
        weight[sipri.to_numpy()] = scored.unit[sipri] / scored.unit[sipri].mean()
    pooled = scored.assign(gain=scored.gain * weight, attainable=scored.attainable * weight)
    out["sipri_pooled"] = ratio(pooled[sipri])
    out["overall_sipri_pooled"] = ratio(pooled)
    return out


def recovery_summary(path: Path) -> dict:
    """Identified parameters, recovered share and coverage from a recovery table (calibration.recovery)."""
    table = pd.read_csv(path)
    missing = sorted({"set", "parameter", "inside_90", "width_share"} - set(table.columns))
    if missing:
        raise ConfigError(f"scores.recovery: {path} lacks {', '.join(missing)}; allowed: a recovery.csv written by "
                          "python -m calibration.recovery")
    summary = coverage(table)
    total, inside = int(summary.sets.sum()), int(summary.inside.sum())
    low, high = binomial_band(total)
    return {"identified_parameters": int(summary.identified.sum()), "parameters": len(summary),
            "sets": int(table.set.nunique()), "identified": summary.parameter[summary.identified].tolist(),
            "recovered_share": float(summary.recovered.mean()), "recovery_coverage": inside / total,
            "recovery_coverage_n": total, "recovery_coverage_band": [low / total, high / total]}


def hindcast_summary(path: Path) -> dict:
    """The hindcast's CRPS skills against persistence and trend (calibration.hindcast's manifest)."""
    summary = json.loads(path.read_text(encoding="utf-8"))["hindcast"]["summary"]
    return {f"hindcast_skill_{name}_{base}": float(summary[block]["skill"][base])
            for name, block in (("counts", "observations"), ("sipri", "sipri")) for base in ("persistence", "trend")}


def fit_wall(posterior_path: Path) -> float | None:
    """The fit's wall time from the manifest beside the posterior."""
    record = posterior_path.parent / "manifest.json"
    if not record.is_file():
        return None
    return json.loads(record.read_text(encoding="utf-8")).get("fit", {}).get("wall_s")


def load_truths(path: Path, priors: list[Prior]) -> pd.DataFrame:
    """The committed oracle truths; one-line error when missing or not over the priors' parameters."""
    if not path.is_file():
        raise ConfigError(f"scores.frozen_dir: {path} not found; allowed: a folder with oracle_truths.csv "
                          "(write it once with freeze=true)")
    truths = pd.read_csv(path)
    names = [p.name for p in priors]
    if sorted(truths.columns) != sorted(names):
        raise ConfigError(f"scores.frozen_dir: {path} holds truths over {', '.join(truths.columns)}; allowed: "
                          f"truths over the fit's parameters ({', '.join(names)}), written with freeze=true")
    return truths[names]


def load_tautological(path: Path) -> pd.DataFrame:
    """The committed tautological rows (id, prior_probability)."""
    if not path.is_file():
        raise ConfigError(f"scores.frozen_dir: {path} not found; allowed: a folder with tautological.csv "
                          "(write it once with freeze=true)")
    return pd.read_csv(path)


def _fmt(r: list[float]) -> str:
    return "n/a" if not np.isfinite(r[0]) else f"{r[0]:.3f} [{r[1]:.3f}, {r[2]:.3f}]"


def _reference_line(ref: dict | None) -> str:
    if ref is None:
        return "- No reference prior was scored (scores.reference_priors is empty)."
    return (f"- With the reference prior `{ref['path']}` (sha256 {ref['sha256'][:12]}) as the prior predictive, the "
            f"same posterior and oracle runs: R overall {_fmt([ref['R_overall'], *ref['R_overall_interval']])}, Brier "
            f"rows {ref['R_brier']:.3f}, CRPS rows {ref['R_crps']:.3f}, SIPRI totals {ref['R_sipri']:.3f}, two-sided "
            f"numeric rows {ref['R_numeric']:.3f} ({ref['n_rows_scored']} rows); with the SIPRI totals pooled "
            f"{_fmt([ref['R_overall_sipri_pooled'], *ref['R_overall_sipri_pooled_interval']])} (their part "
            f"{ref['R_sipri_pooled']:.3f}). A prior wider than the reference "
            "scores worse, so R above it would flatter the fit; R here would not.")


def markdown(result: dict, h: dict, frame: pd.DataFrame, drift: list[str], source: str) -> str:
    """The report: headline ``h``, parts, channels, calibration of the predictive, recovery, hindcast, rows."""
    scored = frame[frame.scored]
    unscorable = frame[~frame.tautological & ~frame.scored]
    means = scored.groupby("part")[["prior", "posterior", "oracle_prior", "oracle"]].mean()
    lines = [
        f"# Proper scores ({source})", "",
        "R = sum(S_prior - S_posterior) / sum(S_prior - S_oracle) over the scored rows: the share of the way from the "
        "prior (knowing nothing) to the oracle (knowing the parameters) that the fit closes. 0: the fit learned "
        "nothing the score sees; 1: as good as knowing the parameters; below 0: worse than the prior. Brackets: "
        "bootstrap 90% interval over rows. Method: `calibration/scores.py`.", "",
        *([f"Judgement varied: the prior's, the posterior's and the reference prior's predictives draw the "
           f"{len(result['judgement_axes'])} judgement axes over their ranges (`scores.judgement=varied`, "
           "common/axes.py), as the forecast does; the oracle's truths keep them at their defaults.", ""]
          if result.get("judgement_axes") else []),
        f"- **R overall: {_fmt(h['overall'])}** over {len(scored)} rows ({int((scored.part == 'brier').sum())} Brier, "
        f"{int((scored.part == 'crps').sum())} CRPS, {int((scored.part == 'sipri').sum())} SIPRI totals); "
        f"{int(frame.tautological.sum())} tautological rows left out"
        + (f"; not scorable (the prior's CRPS is 0 but another's is not): {', '.join(unscorable.id)}."
           if len(unscorable) else "."),
        f"- R of the Brier rows (events, patterns, bounds): {_fmt(h['brier'])}; of the CRPS rows (values, ranges and "
        f"SIPRI totals): {_fmt(h['crps'])}; of the SIPRI totals alone: {_fmt(h['parts']['sipri'])}; of the "
        f"two-sided numeric rows alone: {_fmt(h['parts']['crps'])}.",
        f"- The SIPRI totals pooled (each weighted by the prior's CRPS on the record, the block's weight kept): "
        f"{_fmt(h['sipri_pooled'])}; R overall with them pooled: {_fmt(h['overall_sipri_pooled'])}. Per row, a total "
        "the prior already matches (a small state's zero) divides two near-zero CRPS and counts as much as any other; "
        "pooled, it counts for what it can gain. Declared before the posterior it was first computed on "
        "(docs/ODD.md §10.28); R overall above stays the headline.",
        _reference_line(result["reference_priors"]),
        f"- Lowest channel R (channels with >= {result['settings']['min_channel_rows']} scored rows): "
        f"{result['R_min_channel']:.3f}." if result["R_min_channel"] is not None else "- No channel has enough rows.",
        f"- Paired: {_fmt(h['paired']['overall'])} overall, {_fmt(h['paired']['brier'])} on the Brier rows, with the "
        "denominator measured against the prior's score on the oracle's own records instead of on the real record. "
        "The issue's R (above) counts as attainable also how much harder the real record is for the prior than the "
        f"model's own records are (mean record excess on the Brier rows: {result['record_excess_brier']:+.3f}): misfit "
        "that no parameter set removes. The paired R asks only how much of what the parameters can teach the fit has "
        "learned; the gap between the two is the model's misfit, not the inference's.",
        f"- Brier of P(statement holds) over all {result['n_statements']} fit statements, for comparison with the "
        f"hit-rate era: prior {result['brier_all']['prior']:.3f}, posterior {result['brier_all']['posterior']:.3f}, "
        f"oracle {result['brier_all']['oracle']:.3f} (the prior on the oracle's records "
        f"{result['brier_all']['oracle_prior']:.3f}). Old hit rate: {result['hit_rate']:.1%} of the statements.", "",
        "## Mean score per row, by part (CRPS rows in units of the prior's CRPS on the same records: "
        "prior = oracle_prior = 1)", "",
        markdown_table(means.reset_index()), "",
        "## By channel", "",
        "| channel | rows | R | 90% interval |", "|---|---|---|---|"]
    for c, n in h["channel_rows"].items():
        r = h["by_channel"].get(c)
        if r is None:
            lines.append(f"| {c} | {n} | (fewer than {result['settings']['min_channel_rows']} rows) | |")
        elif not np.isfinite(r[0]):
            lines.append(f"| {c} | {n} | (the oracle gains nothing over the prior here: nothing to learn) | |")
        else:
            lines.append(f"| {c} | {n} | {r[0]:.3f} | [{r[1]:.3f}, {r[2]:.3f}] |")
    cov = result["coverage"]
    lines += [
        "", "## Calibration of the posterior predictive", "",
        "PIT: P(X < y) + P(X = y)/2 at the observed value (a range's midpoint); covered at level c when the PIT lies "
        "within c/2 of 0.5. Band: the binomial 90% range of the coverage a calibrated predictive gives for that n.", "",
        "| rows | n | mean PIT | 50% coverage | band | 90% coverage | band |", "|---|---|---|---|---|---|---|"]
    for name, label in (("numeric", "two-sided numeric"), ("sipri", "SIPRI totals")):
        lines.append(f"| {label} | {cov[f'coverage90_{name}_n']} | {cov[f'pit_mean_{name}']:.3f} | "
                     f"{cov[f'coverage50_{name}']:.2f} | [{cov[f'coverage50_{name}_band'][0]:.2f}, "
                     f"{cov[f'coverage50_{name}_band'][1]:.2f}] | {cov[f'coverage90_{name}']:.2f} | "
                     f"[{cov[f'coverage90_{name}_band'][0]:.2f}, {cov[f'coverage90_{name}_band'][1]:.2f}] |")
    ref = cov["pit_mean_numeric_reference"]
    selected = ", ".join(f"`{i}`" for i in ref["occurrence_selected"]) or "none"
    lines += [
        "", f"The mean PIT a record drawn from this predictive itself would give the two-sided numeric rows "
        f"({REFERENCE_DRAWS:,} such records): {ref['mean']:.3f}, 90% range [{ref['range90'][0]:.3f}, "
        f"{ref['range90'][1]:.3f}], inside the target [{PIT_MEAN_TARGET[0]}, {PIT_MEAN_TARGET[1]}] with probability "
        f"{ref['p_in_target']:.2f}; the observed {cov['pit_mean_numeric']:.3f} lies at its "
        f"{ref['quantile_of_observed']:.3f} quantile. The rows the record holds because an event occurred, their value "
        f"0 in any run where it did not, draw their record from the runs where it occurred "
        f"(`scores.occurrence_selected`: {selected}): for them even a calibrated predictive puts the record high."]
    rec = result["recovery"]
    lines += [
        "", "## Parameter recovery and hindcast", "",
        f"- Recovery ({rec['sets']} sets drawn from the prior, `{result['settings']['recovery']}`): identified "
        f"{rec['identified_parameters']} of {rec['parameters']} ({', '.join(rec['identified']) or 'none'}); recovered "
        f"share {rec['recovered_share']:.2f}; coverage of the truth by the 90% intervals "
        f"{rec['recovery_coverage']:.3f} of {rec['recovery_coverage_n']} (binomial band "
        f"[{rec['recovery_coverage_band'][0]:.3f}, {rec['recovery_coverage_band'][1]:.3f}]).",
        f"- Hindcast CRPS skill: counts {result['hindcast_skill_counts_persistence']:+.3f} against persistence, "
        f"{result['hindcast_skill_counts_trend']:+.3f} against trend; SIPRI totals "
        f"{result['hindcast_skill_sipri_persistence']:+.3f} / {result['hindcast_skill_sipri_trend']:+.3f}.",
        f"- Calibration wall time (the shipped fit): {result['calibration_wall_s']} s.", "",
        f"## Tautological rows ({int(frame.tautological.sum())}, from the committed list)", "",
        "Rows that hold with probability >= 0.95 under the prior predictive: any parameter set says them, so they "
        "cannot tell a fit from the prior. Left out of R; shown here with their posterior score.", ""]
    if drift:
        lines += [f"Drift: under today's prior predictive these rows are {'; '.join(drift)}. The committed list "
                  "changes only with a commit that says why.", ""]
    taut = frame[frame.tautological][["id", "part", "prior_holds", "posterior_holds", "posterior"]]
    lines += [markdown_table(taut), "", "## Every scored row", "",
              markdown_table(scored[["id", "channel", "part", "prior", "posterior", "oracle_prior", "oracle", "gain",
                                     "attainable", "attainable_paired", "pit", "hit"]]), ""]
    return "\n".join(lines)


def figures(frame: pd.DataFrame, h: dict) -> dict:
    """R by channel with intervals; PIT histograms of the numeric rows and SIPRI totals."""
    out = {}
    channels = sorted(h["by_channel"], key=lambda c: h["by_channel"][c][0])
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(channels) + 1.4))
    values = np.array([h["by_channel"][c] for c in channels]).reshape(-1, 3)
    ax.errorbar(values[:, 0], range(len(channels)), xerr=[values[:, 0] - values[:, 1], values[:, 2] - values[:, 0]],
                fmt="o", color="C0", capsize=3)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.axvline(h["overall"][0], color="C3", lw=1.0, label=f"overall {h['overall'][0]:.2f}")
    ax.set_yticks(range(len(channels)), [f"{c} ({h['channel_rows'][c]})" for c in channels])
    ax.set_xlabel("R: share of the prior-to-oracle gap closed (0 prior, 1 oracle)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out["scores_channels.png"] = fig
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, (part, label) in zip(axes, (("crps", "two-sided numeric rows"), ("sipri", "SIPRI totals")), strict=True):
        pit = frame.pit[frame.part == part].dropna()
        ax.hist(pit, bins=10, range=(0, 1), color="C0", alpha=0.8)
        ax.axhline(len(pit) / 10, color="grey", ls="--", lw=0.8, label="uniform")
        ax.set_title(f"PIT, {label} (n={len(pit)})")
        ax.set_xlabel("PIT of the observation under the posterior predictive")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out["scores_pit.png"] = fig
    return out


def _ensembles(s: Setup, problem: Problem, settings: ScoreSettings, truths: pd.DataFrame,
               axes: tuple[A.Axis, ...] = ()) -> tuple[Ensemble, Ensemble, list[Ensemble], Ensemble | None]:
    """The prior's and the posterior's predictive, each truth's runs and the reference prior's predictive (None
    without one). With ``axes``, the prior's, the posterior's and the reference
    prior's draws also take the judgement axes (each predictive from its own axis streams); the oracle's truths keep
    every fixed parameter at its default."""
    root = s.settings.root_seed
    rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(0x5C0E,)))

    def run(draws: list[dict[str, float]], seeds: int, offset: int, label: str, judged: bool = True) -> Ensemble:
        if judged:
            draws = A.with_axes(s.exp.params, draws, axes, root + offset)
        stats, sipri = predictive_ensemble(s.exp.params, s.data, s.drivers, problem.targets, draws, seeds,
                                           root + offset, label=f"scores: {label}")
        return Ensemble(stats, sipri[:, problem.sipri_keep])

    prior = run(prior_draws(list(s.settings.priors), settings.prior_draws, rng), settings.seeds, 11, "prior")
    posterior = run(posterior_draws(s.posterior, settings.posterior_draws, rng), settings.seeds, 12, "posterior")
    per = 1 + settings.oracle_runs
    runs = run(truths.to_dict("records"), per, 13, "oracle", judged=False)
    own = [Ensemble(runs.stats[k * per:(k + 1) * per], runs.sipri[k * per:(k + 1) * per]) for k in range(len(truths))]
    reference = None
    if settings.reference_priors is not None:
        ref_priors, fixed = load_reference(settings.reference_priors)
        # Its own stream, so the other predictives' draws do not depend on whether a reference is scored.
        ref_rng = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(0x5C0F,)))
        draws = [{**d, **fixed} for d in prior_draws(ref_priors, settings.prior_draws, ref_rng)]
        reference = run(draws, settings.seeds, 14, "reference prior")
    return prior, posterior, own, reference


def command(cfg: DictConfig) -> None:
    """Score the posterior, write the report, print the headline."""
    start = time.perf_counter()
    s = prepare(cfg, with_posterior=True)
    try:
        settings = parse_scores(s.config["scores"])
        targets_hash = check_frozen_targets(s.observations)
        priors = list(s.settings.priors)
        truths_path = settings.frozen_dir / "oracle_truths.csv"
        taut_path = settings.frozen_dir / "tautological.csv"
        freeze = bool(s.config["freeze"])
        if freeze:
            rng = np.random.default_rng(settings.truth_seed)
            truths = pd.DataFrame(prior_draws(priors, settings.oracle_truths, rng))[[p.name for p in priors]]
        else:
            truths = load_truths(truths_path, priors)
            committed = load_tautological(taut_path)
        recovery = recovery_summary(settings.recovery)
        hindcast = hindcast_summary(settings.hindcast)
        post = Path(s.config["posterior"])
        axes = judgement_axes(settings, post if post.is_absolute() else PROJECT_ROOT / post,
                              [c for c in s.posterior.columns if c != "weight"])
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    targets = compile_targets(s.observations, s.drivers.years, s.data, last_year=s.settings.last_year)
    problem = Problem(s.exp.params, s.data, s.drivers, targets, settings.seeds, s.settings.root_seed, Weights(),
                      priors, last_year=s.settings.last_year)
    prior, posterior, own, reference = _ensembles(s, problem, settings, truths, axes)
    oracle = oracle_scores(targets, own, prior)
    frame = row_table(targets, dict(zip(s.observations.id, s.observations.channel, strict=True)), problem.sipri_ids(),
                      problem.sipri_obs, prior, posterior, oracle)
    today = tautological_rows(frame, settings.tautological)
    if freeze:
        committed = today
    frame["tautological"] = frame.id.isin(set(committed.id))
    frame["scored"] = ~frame.tautological & frame[["gain", "attainable", "attainable_paired"]].notna().all(axis=1)
    drift = []
    added, dropped = sorted(set(today.id) - set(committed.id)), sorted(set(committed.id) - set(today.id))
    if added:
        drift.append(f"tautological but not listed: {', '.join(added)}")
    if dropped:
        drift.append(f"listed but no longer tautological: {', '.join(dropped)}")
    h = headline(frame, settings)
    ref = None
    if reference is not None:
        ref_frame = row_table(targets, dict(zip(s.observations.id, s.observations.channel, strict=True)),
                              problem.sipri_ids(), problem.sipri_obs, reference, posterior,
                              oracle_scores(targets, own, reference))
        # The same rows as the headline: a row the reference prior cannot score (its CRPS 0) is left out of both.
        ref_frame["scored"] = frame.scored & ref_frame[["gain", "attainable"]].notna().all(axis=1)
        hr = headline(ref_frame, settings)
        ref = {"path": _shown(settings.reference_priors),
               "sha256": hashlib.sha256(settings.reference_priors.read_bytes()).hexdigest(),
               "n_rows_scored": int(ref_frame.scored.sum()),
               "R_overall": hr["overall"][0], "R_overall_interval": hr["overall"][1:], "R_brier": hr["brier"][0],
               "R_crps": hr["crps"][0], "R_sipri": hr["parts"]["sipri"][0], "R_numeric": hr["parts"]["crps"][0],
               "R_sipri_pooled": hr["sipri_pooled"][0], "R_overall_sipri_pooled": hr["overall_sipri_pooled"][0],
               "R_overall_sipri_pooled_interval": hr["overall_sipri_pooled"][1:]}
    statements = frame[frame.part != "sipri"]
    result = {
        "R_overall": h["overall"][0], "R_overall_interval": h["overall"][1:],
        "R_brier": h["brier"][0], "R_brier_interval": h["brier"][1:],
        "R_crps": h["crps"][0], "R_crps_interval": h["crps"][1:],
        "R_sipri": h["parts"]["sipri"][0], "R_numeric": h["parts"]["crps"][0],
        "R_sipri_pooled": h["sipri_pooled"][0], "R_sipri_pooled_interval": h["sipri_pooled"][1:],
        "R_overall_sipri_pooled": h["overall_sipri_pooled"][0],
        "R_overall_sipri_pooled_interval": h["overall_sipri_pooled"][1:],
        "R_by_channel": {c: r[0] for c, r in h["by_channel"].items()},
        "R_by_channel_interval": {c: r[1:] for c, r in h["by_channel"].items()},
        "R_min_channel": min((r[0] for r in h["by_channel"].values() if np.isfinite(r[0])), default=None),
        "R_paired": h["paired"]["overall"][0], "R_paired_interval": h["paired"]["overall"][1:],
        "R_brier_paired": h["paired"]["brier"][0],
        "record_excess_brier": float(frame.record_excess[frame.scored & (frame.part == "brier")].mean()),
        "n_rows_scored": int(frame.scored.sum()), "n_tautological": int(frame.tautological.sum()),
        "n_statements": len(statements),
        "brier_all": {"prior": float(brier(statements.prior_holds, settings.prior_draws * settings.seeds).mean()),
                      "posterior": float(brier(statements.posterior_holds,
                                               settings.posterior_draws * settings.seeds).mean()),
                      "oracle": float(oracle["brier_all"]), "oracle_prior": float(oracle["brier_all_prior"])},
        "hit_rate": float(statements.hit.astype(float).mean()),
        "coverage": coverage_summary(frame),
        "recovery": recovery, **hindcast, "calibration_wall_s": fit_wall(Path(s.config["posterior"])),
        "reference_priors": ref, "targets_sha256": targets_hash, "posterior": s.source,
        # Paths inside the project as project paths: a run in a worktree or a fresh clone records the same settings.
        "settings": {k: _shown(v) if isinstance(v, Path) else v for k, v in vars(settings).items()},
        "judgement_axes": [a.name for a in axes],
    }
    numeric = [j for j, t in enumerate(targets) if rule(t) == "crps"]
    reference_rng = np.random.default_rng(np.random.SeedSequence(s.settings.root_seed, spawn_key=(0x5C10,)))
    means = pit_mean_reference(posterior.stats[:, numeric],
                               np.array([targets[j].id in settings.occurrence_selected for j in numeric]),
                               REFERENCE_DRAWS, reference_rng)
    observed_mean = result["coverage"]["pit_mean_numeric"]
    result["coverage"]["pit_mean_numeric_reference"] = {
        "occurrence_selected": list(settings.occurrence_selected), "mean": float(means.mean()),
        "range90": [float(q) for q in np.quantile(means, [0.05, 0.95])],
        "p_in_target": float(((means >= PIT_MEAN_TARGET[0]) & (means <= PIT_MEAN_TARGET[1])).mean()),
        "quantile_of_observed": float((means < observed_mean).mean() + 0.5 * (means == observed_mean).mean())}
    cov = result["coverage"]
    result.update({k: cov[k] for k in ("coverage90_numeric", "coverage90_numeric_n", "coverage90_sipri",
                                       "coverage90_sipri_n", "pit_mean_numeric")})
    result.update({k: recovery[k] for k in ("identified_parameters", "recovered_share", "recovery_coverage")})
    result["settings"]["reference_priors"] = ref["path"] if ref else ""
    result["scores_wall_s"] = round(time.perf_counter() - start, 1)
    seeds = {"root_seed": s.settings.root_seed, "truth_seed": settings.truth_seed}
    result["provenance"] = manifest(s.config, seeds, s.data.hashes)
    out_dir = Path(s.config["out_dir"])
    out_dir = out_dir if out_dir.is_absolute() else PROJECT_ROOT / out_dir
    report = markdown(result, h, frame, drift, s.source)
    writers = {name: (lambda p, f=fig: f.savefig(p, dpi=110)) for name, fig in figures(frame, h).items()}
    writers.update({"scores_rows.csv": lambda p: frame.to_csv(p, index=False),
                    "scores.md": lambda p: p.write_text(report, encoding="utf-8")})
    if freeze:
        write_atomically(settings.frozen_dir, {"oracle_truths.csv": lambda p: truths.to_csv(p, index=False),
                                               "tautological.csv": lambda p: today.to_csv(p, index=False)})
    writers["scores.json"] = lambda p: write_json(p, result)
    write_atomically(out_dir, writers)
    print(f"scores: R overall {_fmt(h['overall'])}, Brier rows {h['brier'][0]:.3f}, CRPS rows {h['crps'][0]:.3f}, "
          f"paired {h['paired']['overall'][0]:.3f}, lowest channel "
          f"{'n/a' if result['R_min_channel'] is None else format(result['R_min_channel'], '.3f')}; "
          f"{result['n_rows_scored']} rows scored, "
          f"{result['n_tautological']} tautological; {result['scores_wall_s']:.0f} s; "
          f"report in {out_dir / 'scores.md'}")


if __name__ == "__main__":
    precheck("scores", validate)
    from calibration.cli import scores

    scores()
