"""Priors over the free parameters, read from ``configs/calibration/*.yaml`` and checked against model/params.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyabc
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
        raise ConfigError(f"{key}: {name!r} needs {'an element index 0..' + str(meta['length'] - 1) if meta['length'] else 'no index'}")
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
            raise ConfigError(f"{key}.dist: {spec.get('dist') if isinstance(spec, Mapping) else spec!r}; allowed: {', '.join(DISTRIBUTIONS)}")
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
            raise ConfigError(f"{key}: [{numbers['low']}, {numbers['high']}] leaves the allowed range [{lo_allowed}, {hi_allowed}]")
        if spec["dist"] == "normal" and numbers["sd"] <= 0:
            raise ConfigError(f"{key}.sd: {numbers['sd']}; allowed: > 0")
        if not isinstance(spec.get("why"), str) or not spec["why"].strip():
            raise ConfigError(f"{key}.why: missing; allowed: a line on why this prior")
        out.append(Prior(name=name, dist=spec["dist"], why=spec["why"], **numbers))
    return out


def distribution(priors: list[Prior]) -> pyabc.Distribution:
    """The joint prior pyabc samples: independent standard logistic variables, one per parameter.

    Bounded priors make pyabc's kernel proposals fall outside the box in most of 30+ dimensions (almost every proposal
    then has prior density zero and is redrawn). Sampling z ~ Logistic(0, 1) and mapping it by :func:`to_parameters`
    (``x = F^-1(sigmoid(z))``, F the prior's CDF) gives exactly the stated prior, on an unbounded space.
    """
    return pyabc.Distribution({p.name: pyabc.RV("logistic", 0.0, 1.0) for p in priors})


def to_parameters(priors: list[Prior], z: dict) -> dict[str, float]:
    """Map a particle from pyabc's logistic space to parameter values (the prior's quantile of sigmoid(z))."""
    out = {}
    for p in priors:
        u = 1.0 / (1.0 + np.exp(-float(z[p.name])))
        u = min(max(u, 1e-12), 1.0 - 1e-12)
        out[p.name] = float(p.low + (p.high - p.low) * u) if p.dist == "uniform" else float(p.frozen().ppf(u))
    return out
