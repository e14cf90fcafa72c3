"""Priors over the free parameters, read from ``configs/calibration/*.yaml`` and checked against model/params.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyabc
from pyabc.transition.multivariatenormal import silverman_rule_of_thumb
from scipy import stats

from model.params import GROUPS, ConfigError

DISTRIBUTIONS = ("uniform", "normal")


@dataclass(frozen=True)
class Prior:
    """One parameter's prior: uniform on [low, high] or a normal truncated to [low, high]."""

    name: str
    dist: str
    low: float
    high: float
    mean: float = 0.0
    sd: float = 1.0
    why: str = ""

    def frozen(self) -> stats.rv_continuous:
        """The same distribution as a frozen scipy variable (for prior predictive draws and plots)."""
        if self.dist == "uniform":
            return stats.uniform(self.low, self.high - self.low)
        return stats.truncnorm((self.low - self.mean) / self.sd, (self.high - self.mean) / self.sd, loc=self.mean,
                               scale=self.sd)


def _allowed_range(name: str, key: str) -> tuple[float, float]:
    group, _, rest = name.partition(".")
    field_name, _, index = rest.partition(".")
    cls = GROUPS.get(group)
    fields = {f.name: f for f in dataclasses.fields(cls)} if cls else {}
    if field_name not in fields:
        raise ConfigError(f"{key}: unknown parameter {name!r}; allowed: names of docs/parameters.md")
    meta = fields[field_name].metadata
    if bool(index) != bool(meta["length"]) or (index and (not index.isdigit() or int(index) >= meta["length"])):
        raise ConfigError(f"{key}: {name!r} needs "
                          f"{'an element index 0..' + str(meta['length'] - 1) if meta['length'] else 'no index'}")
    if meta["kind"] is int:
        raise ConfigError(f"{key}: {name!r} is an integer parameter; allowed: continuous parameters only")
    return meta["range"]


def flatten(priors: Mapping, where: str = "calibration.priors") -> dict[str, Mapping]:
    """``{group: {name: spec}}`` (``{name: {index: spec}}`` for list elements) as ``{"group.name[.index]": spec}``."""
    if not isinstance(priors, Mapping) or not priors:
        raise ConfigError(f"{where}: {priors!r}; allowed: a non-empty mapping group: name: prior")
    flat = {}
    for group, names in priors.items():
        if not isinstance(names, Mapping):
            raise ConfigError(f"{where}.{group}: {names!r}; allowed: a mapping of parameter name: prior")
        for name, spec in names.items():
            if isinstance(spec, Mapping) and spec and "dist" not in spec and all(str(k).isdigit() for k in spec):
                flat.update({f"{group}.{name}.{k}": v for k, v in spec.items()})
            else:
                flat[f"{group}.{name}"] = spec
    return flat


def parse_priors(priors: Mapping, where: str = "calibration.priors") -> list[Prior]:
    """Validate the nested priors mapping; one-line :class:`ConfigError` naming the key and value on any problem."""
    out = []
    for name, spec in flatten(priors, where).items():
        key = f"{where}.{name}"
        lo_allowed, hi_allowed = _allowed_range(name, key)
        if not isinstance(spec, Mapping) or spec.get("dist") not in DISTRIBUTIONS:
            raise ConfigError(f"{key}.dist: {spec.get('dist') if isinstance(spec, Mapping) else spec!r}; allowed: "
                              f"{', '.join(DISTRIBUTIONS)}")
        allowed_keys = {"dist", "low", "high", "why"} | ({"mean", "sd"} if spec["dist"] == "normal" else set())
        extra = sorted(set(spec) - allowed_keys)
        if extra:
            raise ConfigError(f"{key}.{extra[0]}: unknown key; allowed: {', '.join(sorted(allowed_keys))}")
        numbers = {}
        for k in sorted(allowed_keys - {"dist", "why"}):
            v = spec.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise ConfigError(f"{key}.{k}: {v!r}; allowed: a finite number")
            numbers[k] = float(v)
        if numbers["low"] >= numbers["high"]:
            raise ConfigError(f"{key}: low {numbers['low']} >= high {numbers['high']}; allowed: low < high")
        if numbers["low"] < lo_allowed or numbers["high"] > hi_allowed:
            raise ConfigError(f"{key}: [{numbers['low']}, {numbers['high']}] leaves the allowed range "
                              f"[{lo_allowed}, {hi_allowed}]")
        if spec["dist"] == "normal" and numbers["sd"] <= 0:
            raise ConfigError(f"{key}.sd: {numbers['sd']}; allowed: > 0")
        if not isinstance(spec.get("why"), str) or not spec["why"].strip():
            raise ConfigError(f"{key}.why: missing; allowed: a line on why this prior")
        out.append(Prior(name=name, dist=spec["dist"], why=spec["why"], **numbers))
    return out


class BoxPrior(pyabc.Distribution):
    """The joint prior pyabc samples, in parameter space: independent uniform or truncated normal variables.

    pyabc evaluates the prior density of every proposal; its generic density (one scipy call per parameter) cost more
    than the model run itself, so :meth:`pdf` is the closed form.
    """

    def __init__(self, priors: list[Prior]) -> None:
        super().__init__({p.name: pyabc.RV("uniform", p.low, p.high - p.low) if p.dist == "uniform" else
                          pyabc.RV("truncnorm", (p.low - p.mean) / p.sd, (p.high - p.mean) / p.sd, p.mean, p.sd)
                          for p in priors})
        self._priors = list(priors)
        self._norm = [1.0 / (p.high - p.low) if p.dist == "uniform" else
                      1.0 / (p.sd * (stats.norm.cdf((p.high - p.mean) / p.sd)
                                     - stats.norm.cdf((p.low - p.mean) / p.sd)))
                      for p in priors]

    def pdf(self, x: Mapping) -> float:
        density = 1.0
        for p, norm in zip(self._priors, self._norm, strict=True):
            v = float(x[p.name])
            if not p.low <= v <= p.high:
                return 0.0
            density *= (norm if p.dist == "uniform"
                        else norm * np.exp(-0.5 * ((v - p.mean) / p.sd) ** 2) / np.sqrt(2 * np.pi))
        return density


def distribution(priors: list[Prior]) -> BoxPrior:
    """The joint prior over the free parameters (see :class:`BoxPrior`)."""
    return BoxPrior(priors)


def parse_blocks(blocks: object, priors: list[Prior], where: str = "calibration.blocks") -> tuple[tuple[str, ...], ...]:
    """Blocks of the proposal kernel: lists of prior names; every prior not named forms a block of its own."""
    names = [p.name for p in priors]
    if not isinstance(blocks, (list, tuple)) or not all(isinstance(b, (list, tuple)) and b for b in blocks):
        raise ConfigError(f"{where}: {blocks!r}; allowed: a list of non-empty lists of parameter names")
    seen: set[str] = set()
    out = []
    for block in blocks:
        for name in block:
            if name not in names:
                raise ConfigError(f"{where}: {name!r} is not a calibrated parameter; allowed: "
                                  "names in calibration.priors")
            if name in seen:
                raise ConfigError(f"{where}: {name!r} is in two blocks; allowed: each parameter in at most one block")
            seen.add(name)
        out.append(tuple(block))
    return tuple(out) + tuple((n,) for n in names if n not in seen)


class BlockKernel(pyabc.transition.Transition):
    """pyabc's proposal: a Gaussian kernel density per block of parameters, blocks independent, inside the prior box.

    A single kernel density over all parameters is lumpy in 15+ dimensions (each particle's kernel barely overlaps
    its neighbours), so importance weights spread over orders of magnitude and the effective sample size collapses
    (measured on 300 particles, 17 parameters: ESS 17 after one generation, 6 after two). Kernels over blocks of one
    to three parameters are smooth at 1000 particles; correlations are kept within a block, where the record ties
    parameters together (a channel's intercept and its persistence or peer term).

    Each block's kernel is pyabc's MultivariateNormalTransition (weighted covariance times the square of Silverman's
    factor at the effective sample size, the factor multiplied by ``scale``: pyabc's ``scaling`` is its square), written
    with numpy: pyabc's own draws through pandas and scipy cost about 8 ms a proposal here, more than a simulation.
    Proposals outside the prior's bounds are redrawn inside :meth:`rvs_single`; the truncation's normalising constant is
    the same for every particle and cancels in pyabc's normalised weights.
    """

    # Candidates drawn at once by rvs_single: a wide kernel in 27 dimensions puts most draws outside the prior's box
    # (a bandwidth twice Silverman's: 18 ms a proposal drawn one at a time, more than a particle's simulations).
    CANDIDATES = 32

    def __init__(self, blocks: tuple[tuple[str, ...], ...], low: Mapping[str, float],
                 high: Mapping[str, float], scale: float = 1.0) -> None:
        self.blocks = blocks
        self.low, self.high = dict(low), dict(high)
        self.scale = scale

    def fit(self, X: pd.DataFrame, w: np.ndarray) -> None:
        self._names = list(X.columns)
        self._X = X.to_numpy(dtype=float)
        self._cdf = np.cumsum(w) / np.sum(w)
        self._w = np.asarray(w, dtype=float) / np.sum(w)
        ess = 1.0 / float((self._w ** 2).sum())
        self._lo = np.array([self.low[n] for n in self._names])
        self._hi = np.array([self.high[n] for n in self._names])
        self._parts = []
        self._block_of = np.empty(len(self._names), dtype=np.intp)
        self._chol = np.zeros((len(self._names), len(self._names)))  # block diagonal, in the columns' order
        for block in self.blocks:
            idx = np.array([self._names.index(n) for n in block])
            cov = np.atleast_2d(np.cov(self._X[:, idx], aweights=self._w, rowvar=False)) if len(X) > 1 else \
                np.diag(np.abs(self._X[0, idx]))
            cov = cov * (self.scale * silverman_rule_of_thumb(ess, len(idx))) ** 2
            # A parameter that collapsed to one value still needs a proposal spread.
            cov += np.eye(len(idx)) * 1e-12 * max(1.0, float(np.abs(self._X[:, idx]).max()))
            chol = np.linalg.cholesky(cov)
            inv = np.linalg.inv(chol)
            log_norm = -0.5 * len(idx) * np.log(2 * np.pi) - float(np.log(np.diag(chol)).sum())
            self._block_of[idx] = len(self._parts)
            self._chol[np.ix_(idx, idx)] = chol
            self._parts.append((idx, chol, inv, log_norm))

    def rvs_single(self) -> pyabc.Parameter:
        """One proposal: each block from its own parent plus the block's Gaussian noise, the first of a batch of such
        candidates inside the prior's box (the first inside of independent candidates has the truncated law)."""
        d = len(self._names)
        while True:
            u = np.random.random_sample((self.CANDIDATES, len(self._parts)))
            parent = np.minimum(np.searchsorted(self._cdf, u, side="right"), len(self._X) - 1)
            x = (self._X[parent[:, self._block_of], np.arange(d)]
                 + np.random.standard_normal((self.CANDIDATES, d)) @ self._chol.T)
            inside = np.flatnonzero(np.all((x >= self._lo) & (x <= self._hi), axis=1))
            if len(inside):
                return pyabc.Parameter(dict(zip(self._names, x[inside[0]].tolist(), strict=True)))

    def pdf(self, x: pd.Series | pd.DataFrame | Mapping) -> float | np.ndarray:
        if isinstance(x, pd.DataFrame):
            return np.array([self._pdf_single(row) for row in x[self._names].to_numpy(dtype=float)])
        return self._pdf_single(np.array([float(x[n]) for n in self._names]))

    def _pdf_single(self, x: np.ndarray) -> float:
        density = 1.0
        for idx, _, inv, log_norm in self._parts:
            z = (x[idx] - self._X[:, idx]) @ inv.T
            density *= float(self._w @ np.exp(log_norm - 0.5 * (z * z).sum(axis=1)))
        return density


def transition(blocks: tuple[tuple[str, ...], ...], priors: list[Prior], scale: float = 1.0) -> BlockKernel:
    """The proposal kernel over ``blocks`` inside the priors' bounds, its bandwidths ``scale`` times Silverman's
    (:class:`BlockKernel`)."""
    return BlockKernel(blocks, {p.name: p.low for p in priors}, {p.name: p.high for p in priors}, scale)
