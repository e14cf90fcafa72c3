"""``python -m calibration.diagnostics``: how the ABC-SMC went and what the record identified.

Reads ``out_dir/history.db`` and writes beside it: ``generations.csv`` (epsilon, effective sample size, acceptance rate
and simulations per generation), ``prior_driven.csv`` (each parameter's prior and posterior 90% intervals, and the flag
``prior_driven`` where the posterior interval is at least PRIOR_DRIVEN_RATIO as wide as the prior's: the record did
not narrow it), ``separability_pairs.csv`` and ``separability_directions.csv`` (:func:`separability`: which parameters
the record trades off against each other, and which combinations it narrows), ``diagnostics.md``, and figures:
``generations.png``, ``marginals.png`` (weighted posterior histograms over prior densities) and ``pairs.png`` (weighted
pairwise scatter of the most narrowed parameters).

*Separability* (issue 16, item 2: parameters the record cannot separate are merged or reparametrised). On the prior's
CDF scale (each parameter through its prior's distribution function) the prior is independent uniform, so the
posterior's weighted covariance there, times 12, is the identity where the record teaches nothing. Two statistics, each
against the same statistic on ``NULL_DRAWS`` samples of independent prior draws carrying the posterior's weights (what
a posterior of this effective sample shows by chance):

- *pairs*: the weighted correlation of every pair; a pair is *traded off* when its absolute correlation exceeds the 95%
  quantile of the null's largest absolute correlation over all pairs (a family-wise 5% level), and a *duplicate*, to
  be merged or reparametrised, at DUPLICATE_CORRELATION or beyond;
- *directions*: the principal directions of the covariance, each with its standard deviation over the prior's; a
  direction is *narrowed* when that ratio lies below the null's 5% quantile of its smallest ratio, and *halved* when
  it is also at most IDENTIFIED_RATIO (the bar recovery sets a parameter's 90% interval on the same scale, over
  synthetic records; here a standard deviation, on the one record fitted: the two ratios agree for a uniform shape).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyabc
from omegaconf import DictConfig, OmegaConf

from calibration.fit import stored_generations, truncated_weights, truncation
from calibration.priors import Prior
from calibration.setup import parse_settings
from common.cli import fail
from common.provenance import write_atomically
from model.params import ConfigError

# A posterior 90% interval at least this share of the prior's is "no narrower than the prior" (sampling noise aside).
PRIOR_DRIVEN_RATIO = 0.9
PAIRS = 6
# Identified: the record narrows a parameter's 90% interval (or a combination's standard deviation) to at most half
# the prior's, on the prior's CDF scale (calibration.recovery applies it to each parameter over its sets).
IDENTIFIED_RATIO = 0.5
# judgement (medium): two parameters correlated this strongly on the prior's scale move as one; the record then fixes
# only their combination, and the pair is a duplicate to merge or reparametrise.
DUPLICATE_CORRELATION = 0.9
# Null samples for the separability statistics: their 5% and 95% quantiles to about +-0.01 (binomial error 1.3%).
NULL_DRAWS = 300
SEPARABILITY_SEED = 20240101
# Loadings named per direction in the Markdown report.
LOADINGS = 4


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """Quantiles of weighted samples (inverse of the weighted empirical CDF, midpoint rule)."""
    order = np.argsort(values)
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return np.interp(qs, cdf, v)


def generations(history: pyabc.History) -> pd.DataFrame:
    """Per generation: epsilon, ESS, acceptance rate, simulations."""
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0]
    rows = []
    for t, eps, samples in zip(pops.t, pops.epsilon, pops.samples, strict=True):
        _, w = history.get_distribution(t=int(t))
        n = len(w)
        rows.append({"generation": int(t) + 1, "epsilon": float(eps),
                     "ess": pyabc.weighted_statistics.effective_sample_size(w),
                     "acceptance_rate": n / float(samples), "simulations": int(samples)})
    return pd.DataFrame(rows)


def prior_driven(priors: list[Prior], particles: pd.DataFrame, weights: np.ndarray) -> pd.DataFrame:
    """Prior and posterior 90% intervals per parameter, and the prior-driven flag."""
    rows = []
    for p in priors:
        prior_lo, prior_hi = p.frozen().ppf([0.05, 0.95])
        lo, med, hi = weighted_quantiles(particles[p.name].to_numpy(), weights, (0.05, 0.5, 0.95))
        ratio = (hi - lo) / (prior_hi - prior_lo)
        rows.append({"parameter": p.name, "prior": p.dist, "prior_q05": prior_lo, "prior_q95": prior_hi,
                     "posterior_q05": lo, "posterior_median": med, "posterior_q95": hi, "width_ratio": ratio,
                     "prior_driven": bool(ratio >= PRIOR_DRIVEN_RATIO), "why": p.why})
    return pd.DataFrame(rows)


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def separability(priors: list[Prior], particles: pd.DataFrame, weights: np.ndarray, draws: int = NULL_DRAWS,
                 seed: int = SEPARABILITY_SEED) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Pairs the record trades off and combinations it narrows (module docstring), against their chance levels.

    Returns ``(pairs, directions, summary)``: every pair with its correlation and flags, sorted by absolute
    correlation; every principal direction (narrowest first) with its standard deviation over the prior's, its flags
    and its loadings (unit length, the largest positive); and the null's thresholds with the counts.
    """
    names = [p.name for p in priors]
    u = np.column_stack([p.frozen().cdf(particles[name].to_numpy(dtype=float)) for p, name in zip(priors, names,
                                                                                                  strict=True)])
    w = np.asarray(weights, dtype=float) / float(np.sum(weights))
    upper = np.triu_indices(len(names), 1)
    rng = np.random.default_rng(seed)
    largest, smallest = np.empty(draws), np.empty(draws)
    for k in range(draws):
        null = 12.0 * np.cov(rng.random(u.shape), rowvar=False, aweights=w)
        largest[k] = np.abs(_correlation(null)[upper]).max()
        smallest[k] = np.sqrt(np.linalg.eigvalsh(null)[0])
    traded, floor = float(np.quantile(largest, 0.95)), float(np.quantile(smallest, 0.05))
    cov = 12.0 * np.cov(u, rowvar=False, aweights=w)
    r = _correlation(cov)[upper]
    pairs = pd.DataFrame({"parameter_a": np.array(names)[upper[0]], "parameter_b": np.array(names)[upper[1]],
                          "correlation": r, "traded_off": np.abs(r) > traded,
                          "duplicate": np.abs(r) >= DUPLICATE_CORRELATION})
    pairs = pairs.iloc[np.argsort(-np.abs(r), kind="stable")].reset_index(drop=True)
    values, vectors = np.linalg.eigh(cov)
    vectors = vectors * np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(len(names))])
    ratio = np.sqrt(np.maximum(values, 0.0))
    directions = pd.DataFrame({"direction": np.arange(1, len(names) + 1), "sd_ratio": ratio,
                               "narrowed": ratio < floor, "halved": (ratio < floor) & (ratio <= IDENTIFIED_RATIO),
                               **{f"loading:{name}": vectors[j] for j, name in enumerate(names)}})
    ess = 1.0 / float(w @ w)
    summary = {"ess": ess, "null_draws": draws, "traded_off_threshold": traded, "narrowed_threshold": floor,
               "pairs_traded_off": int(pairs.traded_off.sum()), "duplicates": int(pairs.duplicate.sum()),
               "directions_narrowed": int(directions.narrowed.sum()),
               "directions_halved": int(directions.halved.sum())}
    return pairs, directions, summary


def separability_markdown(pairs: pd.DataFrame, directions: pd.DataFrame, summary: dict) -> str:
    """The separability statistics as a Markdown section."""
    traded = pairs[pairs.traded_off]
    largest = pairs.iloc[0] if len(pairs) else None
    lines = ["## Separability (the prior's CDF scale, where the prior is independent uniform)", "",
             f"Chance levels from {summary['null_draws']} samples of independent prior draws carrying the posterior's "
             f"weights (effective sample {summary['ess']:.0f}).", ""]
    if largest is not None:
        lines += [f"- Pairs: {summary['pairs_traded_off']} of {len(pairs)} traded off (|correlation| above "
                  f"{summary['traded_off_threshold']:.3f}, the null's 95% quantile of the largest over all pairs); "
                  f"duplicates (|correlation| >= {DUPLICATE_CORRELATION:g}, to merge or reparametrise): "
                  f"{summary['duplicates']}. The strongest: `{largest.parameter_a}` ~ `{largest.parameter_b}` "
                  f"{largest.correlation:+.3f}."]
    lines += [f"- Directions: {summary['directions_narrowed']} of {len(directions)} narrowed (standard deviation over "
              f"the prior's below {summary['narrowed_threshold']:.3f}, the null's 5% quantile of its narrowest); "
              f"{summary['directions_halved']} of them at most {IDENTIFIED_RATIO:g} (halved).",
              ""]
    if len(traded):
        lines += ["| parameter | parameter | correlation |", "|---|---|---|"]
        lines += [f"| {r.parameter_a} | {r.parameter_b} | {r.correlation:+.3f} |" for r in traded.itertuples()]
        lines.append("")
    narrowed = directions[directions.narrowed]
    if len(narrowed):
        columns = [c for c in directions.columns if c.startswith("loading:")]
        names = [c.removeprefix("loading:") for c in columns]
        lines += ["| direction | sd / prior sd | halved | largest loadings |", "|---|---|---|---|"]
        for row, load in zip(narrowed.itertuples(index=False), narrowed[columns].to_numpy(dtype=float), strict=True):
            top = np.argsort(-np.abs(load), kind="stable")[:LOADINGS]
            lines.append(f"| {row.direction} | {row.sd_ratio:.3f} | {'yes' if row.halved else 'no'} | "
                         + ", ".join(f"{names[j]} {load[j]:+.2f}" for j in top) + " |")
        lines.append("")
    return "\n".join(lines)


def _generations_figure(gens: pd.DataFrame):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, col in zip(axes, ("epsilon", "ess", "acceptance_rate"), strict=True):
        ax.plot(gens.generation, gens[col], marker="o")
        ax.set_xlabel("generation")
        ax.set_title(col.replace("_", " "))
    fig.tight_layout()
    return fig


def posterior_figures(table: pd.DataFrame, priors: list[Prior], particles: pd.DataFrame, weights: np.ndarray) -> dict:
    """``marginals.png`` and ``pairs.png`` of any weighted posterior sample (ABC particles or NPE draws)."""
    figures = {}
    cols = 4
    rows = int(np.ceil(len(priors) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, p in zip(axes.ravel(), priors, strict=False):  # the grid may have spare axes, turned off below
        grid = np.linspace(p.low, p.high, 200)
        ax.hist(particles[p.name], bins=30, range=(p.low, p.high), weights=weights, density=True, alpha=0.6,
                label="posterior")
        ax.plot(grid, p.frozen().pdf(grid), color="k", lw=1, label="prior")
        ax.set_title(p.name, fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(priors):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    figures["marginals.png"] = fig
    names = table.sort_values("width_ratio").parameter.head(PAIRS).tolist()
    fig, axes = plt.subplots(len(names), len(names), figsize=(2.2 * len(names), 2.2 * len(names)), squeeze=False)
    size = 200 * weights / weights.max()
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            ax = axes[i, j]
            if i == j:
                ax.hist(particles[a], bins=25, weights=weights)
            else:
                ax.scatter(particles[b], particles[a], s=size, alpha=0.4)
            ax.tick_params(labelsize=6)
            if i == len(names) - 1:
                ax.set_xlabel(b, fontsize=7)
            if j == 0:
                ax.set_ylabel(a, fontsize=7)
    fig.tight_layout()
    figures["pairs.png"] = fig
    return figures


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    rows += ["| " + " | ".join(cell(v) for v in r) + " |" for r in frame.itertuples(index=False)]
    return "\n".join(rows)


def parameters_markdown(table: pd.DataFrame) -> str:
    """The prior-driven table as a Markdown section."""
    return "\n".join([f"## Parameters (prior-driven: posterior 90% interval at least {PRIOR_DRIVEN_RATIO:.0%} of the "
                      "prior's)", "", markdown_table(table.drop(columns="why")), ""])


def markdown(gens: pd.DataFrame, table: pd.DataFrame, raw: np.ndarray, separable: str) -> str:
    """The diagnostics as Markdown tables; ``raw`` is the last generation's weights before truncation, ``separable``
    the separability section."""
    t = truncation(raw)
    cut = (f"The posterior's weights are the last generation's truncated at the mean weight times sqrt(N) (Ionides "
           f"2008): {t['particles_capped']} of {raw.size} particles capped, effective sample {t['ess_raw']:.0f} -> "
           f"{t['ess']:.0f}; the intervals and figures below use the truncated weights.")
    return "\n".join(["# Calibration diagnostics", "", "## Generations", "", markdown_table(gens), "", cut, "",
                      parameters_markdown(table), separable])


def diagnose(db_path: Path, priors: list[Prior], out_dir: Path) -> list[Path]:
    """Write every diagnostic for the history at ``db_path``; returns the written paths."""
    if not db_path.is_file():
        raise ConfigError(f"out_dir: no history.db in {db_path.parent}; allowed: "
                          "the out_dir of python -m calibration.fit")
    if stored_generations(db_path) == 0:
        raise ConfigError(f"out_dir: {db_path} holds no generation yet")
    history = pyabc.History(f"sqlite:///{db_path}")
    frame, w = history.get_distribution()
    missing = sorted({p.name for p in priors} - set(frame.columns))
    if missing:
        raise ConfigError(f"calibration.priors: {missing[0]} is not in {db_path}; allowed: the priors the fit used")
    particles = frame[[p.name for p in priors]].reset_index(drop=True).astype(float)
    raw = np.asarray(w, dtype=float)
    weights = truncated_weights(raw)  # as the shipped posterior's: the figures and flags describe what forecasts read
    gens = generations(history)
    table = prior_driven(priors, particles, weights)
    pairs, directions, summary = separability(priors, particles, weights)
    report = markdown(gens, table, raw, separability_markdown(pairs, directions, summary))
    figures = {"generations.png": _generations_figure(gens), **posterior_figures(table, priors, particles, weights)}
    writers = {"generations.csv": lambda p: gens.to_csv(p, index=False),
               "prior_driven.csv": lambda p: table.to_csv(p, index=False),
               "separability_pairs.csv": lambda p: pairs.to_csv(p, index=False),
               "separability_directions.csv": lambda p: directions.to_csv(p, index=False),
               "diagnostics.md": lambda p: p.write_text(report, encoding="utf-8")}
    for name, fig in figures.items():
        writers[name] = lambda p, f=fig: f.savefig(p, dpi=110, format="png")
    paths = write_atomically(out_dir, writers)
    for fig in figures.values():
        plt.close(fig)
    return paths


def command(cfg: DictConfig) -> None:
    """Diagnose the fit in ``out_dir`` with the priors it used."""
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        settings = parse_settings(config["calibration"])
        out_dir = Path(config["out_dir"])
        paths = diagnose(out_dir / "history.db", list(settings.priors), out_dir)
    except ConfigError as exc:
        fail(str(exc))
    flagged = pd.read_csv(out_dir / "prior_driven.csv").query("prior_driven").parameter.tolist()
    print(f"diagnostics: {len(paths)} files in {out_dir}; prior-driven: {', '.join(flagged) or 'none'}")


if __name__ == "__main__":
    from calibration.cli import diagnostics

    diagnostics()
