"""Judgement axes: the fixed behavioural parameters the forecasts depend on, varied by the forecast and, on request, by
the scores (issue 16, item 2).

``python -m experiments.judgement`` sets every fixed behavioural parameter in turn to the ends of its judgement range
and writes ``judgement.csv`` beside the posterior: a parameter whose range moves a main output's 2030 or 2040 median by
at least a tenth of its 90% band has the verdict ``forecasts depend on it``. Those parameters are the judgement axes.
The forecast draws each axis once per draw, over its judgement range, so its intervals carry what rests on judgement
and its tables can say how much (``share_judgement``; the sensitivity rows flagged ``judgement``).

*Draws.* Each axis has its own stream, keyed by (root seed, a constant, the axis's name): an axis's values do not
depend on which other axes there are, and the posterior's draws and the boldness uniforms (another stream) are those
of a forecast that varies no axis. A draw's value is uniform over the range on the scale the range was set on: its
logarithm for a ``factor`` range (``v / f`` to ``v x f``), its logit for a ``share``, whole numbers for an
``integer``, the value itself otherwise (``log-scale``, ``span``, ``override``). judgement: uniform, because the ranges
are judgement bounds with no more likely point inside; the default, which the calibration fixed, is the centre of
every range but the clipped ones.

*Caveat* (docs/ODD.md §10.9): the posterior was fitted with the axes at their defaults, so varying them afterwards
ignores how the calibrated parameters would have compensated; the forecast's intervals are those of the posterior and
the judgement ranges taken as independent.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.params import ConfigError, ModelParams, load_default_params, parameter_table, with_overrides
from model.schema import CHN_IDX, DOMESTIC_IDX

NO_DEPENDENCE, DEPENDENCE = "no measured dependence", "forecasts depend on it"
# Columns of the forecast's draw table that hold an axis's value: the prefix and the parameter's name.
PREFIX = "judgement:"
AXIS_FILE = "judgement.csv"
AXIS_COLUMNS = ("name", "default", "low", "high", "rule", "verdict")
RULES = ("integer", "log-scale", "share", "factor", "span", "override")
STREAM_KEY = 0xA7E5
SUPPLIER_CONSTANT_RANGE = next((r["low"], r["high"]) for r in parameter_table()
                               if r["name"] == "arms.supplier_constant")


@dataclass(frozen=True)
class Axis:
    """One judgement axis: a parameter (or list element) and the range the forecast draws it from."""

    name: str
    default: float
    low: float
    high: float
    rule: str


def load_axes(path: Path, exclude: Sequence[str] = (), key: str = "forecast.judgement") -> tuple[Axis, ...]:
    """The rows of ``judgement.csv`` whose verdict is :data:`DEPENDENCE`, sorted by name, less ``exclude`` (the
    posterior's own columns: a calibrated parameter is no judgement axis). A one-line ConfigError naming the setting
    ``key`` for a malformed file."""
    where = f"{key}: {path}"
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ConfigError(f"{where} cannot be read ({exc}); allowed: the judgement.csv of "
                          "python -m experiments.judgement") from None
    missing = [c for c in AXIS_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(f"{where}: no column {missing[0]!r}; allowed: the judgement.csv of "
                          "python -m experiments.judgement")
    known = {f"{r['name']}.{k}" for r in parameter_table() for k in range(r["length"])} | {
        r["name"] for r in parameter_table() if not r["length"]}
    # An integer parameter whose range an override narrowed is still drawn as whole numbers.
    whole = {r["name"] for r in parameter_table() if r["kind"] == "int" and not r["length"]}
    out = []
    for row in table[table["verdict"] == DEPENDENCE].itertuples():
        if row.name in exclude:
            continue
        if row.name not in known:
            raise ConfigError(f"{where}: {row.name!r} is not a model parameter; allowed: names of "
                              "model.params.parameter_table (list elements as arms.price.3)")
        if row.rule not in RULES:
            raise ConfigError(f"{where}: {row.name}: rule {row.rule!r}; allowed: {', '.join(RULES)}")
        low, high, default = float(row.low), float(row.high), float(row.default)
        if not (math.isfinite(low) and math.isfinite(high)) or not low <= default <= high:
            raise ConfigError(f"{where}: {row.name}: range [{row.low}, {row.high}] with default {row.default}; "
                              "allowed: finite low <= default <= high")
        rule = "integer" if row.rule == "override" and row.name in whole else str(row.rule)
        out.append(Axis(str(row.name), default, low, high, rule))
    axes = tuple(sorted(out, key=lambda a: a.name))
    check_pairs(axes, where)
    return axes


def check_pairs(axes: Sequence[Axis], where: str) -> None:
    """A one-line ConfigError when two axes at the ends of their ranges make parameters the model refuses.

    The audit checks each range alone on the defaults; the forecast draws the axes together, and the model's
    constraints between parameters (``arms.lag_min <= arms.lag_max``) are between pairs, so every pair's four corners
    are checked (on the defaults: no calibrated parameter takes part in such a constraint).
    """
    base = load_default_params()
    for i, a in enumerate(axes):
        for b in axes[i + 1:]:
            for va in (a.low, a.high):
                for vb in (b.low, b.high):
                    try:
                        with_overrides(base, axis_overrides(base, {a.name: va, b.name: vb}))
                    except ConfigError as exc:
                        raise ConfigError(f"{where}: {a.name} = {va:g} with {b.name} = {vb:g} is refused ({exc}); "
                                          "allowed: ranges whose ends the model accepts together, narrowed in "
                                          "experiments/judgement_overrides.csv and audited again") from None


def axis_values(axis: Axis, u: np.ndarray) -> np.ndarray:
    """The axis's values for uniforms ``u``: uniform over its range on the scale of its rule."""
    lo, hi = axis.low, axis.high
    if axis.rule == "integer":
        return np.minimum(np.floor(lo + u * (hi - lo + 1.0)), hi)
    if axis.rule == "factor" and lo > 0:
        return np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
    if axis.rule == "share" and lo > 0 and hi < 1:
        a, b = math.log(lo / (1 - lo)), math.log(hi / (1 - hi))
        return 1.0 / (1.0 + np.exp(-(a + u * (b - a))))
    return lo + u * (hi - lo)


def sample(axes: Sequence[Axis], draws: int, root_seed: int) -> pd.DataFrame:
    """One column per axis (``judgement:<name>``), one row per draw, each axis from its own stream."""
    columns = {}
    for axis in axes:
        key = (STREAM_KEY, zlib.crc32(axis.name.encode()))
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(root_seed, spawn_key=key)))
        columns[PREFIX + axis.name] = axis_values(axis, rng.random(draws))
    return pd.DataFrame(columns, index=range(draws))


def setting_values(p: ModelParams, name: str, value: float) -> dict[str, float]:
    """The overrides of one draw's parameters that set ``name`` to ``value``.

    A supplier's price and quality enter its utility beside its constant, and SIPRI's shares fix only their sum
    (docs/ODD.md §9): the constants are derived (or calibrated) net of the price and quality utility. So a price or
    quality element is varied with its supplier's constant re-derived, keeping that sum, and only what the element
    does beyond the constant moves (the quality x tech-capacity term; China's discount acts on the sum). The domestic
    industry's constant is a judgement, not derived from shares: its price and quality vary alone.
    """
    group, field, *index = name.split(".")
    if group != "arms" or field not in ("price", "quality") or int(index[0]) == DOMESTIC_IDX:
        return {name: value}
    j = int(index[0])
    ap = p.arms
    if field == "price":
        share = 1.0 - (p.china.discount if j == CHN_IDX else 0.0)
        utility = -ap.beta_price * share * (value - ap.price[j])
    else:
        utility = ap.beta_quality * (value - ap.quality[j])
    lo, hi = SUPPLIER_CONSTANT_RANGE
    return {name: value, f"arms.supplier_constant.{j}": float(np.clip(ap.supplier_constant[j] - utility, lo, hi))}


def axis_overrides(p: ModelParams, values: Mapping[str, float]) -> dict[str, float]:
    """The overrides of ``p`` that set every axis of ``values`` (:func:`setting_values` each; a supplier whose price
    and quality both move has its constant shifted by both)."""
    out: dict[str, float] = {}
    for name in sorted(values):
        for key, value in setting_values(p, name, float(values[name])).items():
            if key in out and key.startswith("arms.supplier_constant."):
                value = out[key] + value - p.arms.supplier_constant[int(key.rsplit(".", 1)[1])]
            out[key] = value
    return out


def with_axes(base: ModelParams, draws: Sequence[Mapping[str, float]], axes: Sequence[Axis],
              root_seed: int) -> list[dict[str, float]]:
    """Parameter draws (override dicts on ``base``) with each draw's judgement axes added (:func:`sample`'s values;
    a re-derived supplier constant replaces the draw's own, from which it is derived)."""
    if not axes:
        return [dict(d) for d in draws]
    table = sample(axes, len(draws), root_seed)
    column = {a.name: table[PREFIX + a.name].to_numpy(dtype=float) for a in axes}
    out = []
    for i, d in enumerate(draws):
        values = {name: float(v[i]) for name, v in column.items()}
        out.append({**d, **axis_overrides(with_overrides(base, dict(d)), values)})
    return out


def axis_columns(table: pd.DataFrame) -> list[str]:
    """The draw table's axis columns (``judgement:<name>``), in their order."""
    return [c for c in table.columns if c.startswith(PREFIX)]
