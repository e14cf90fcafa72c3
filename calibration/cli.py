"""The calibration's commands: the Hydra entry of each (:func:`common.cli.entry`) over its module's ``command``.

``python -m calibration.fit`` (and ``compare``, ``diagnostics``, ``hindcast``, ``npe``, ``predictive``, ``recovery``,
``report``, ``scores``) runs its module, whose ``__main__`` block checks the command line in one line
(:func:`common.cli.precheck`) and calls the entry of the same name here.
"""

from __future__ import annotations

from common.cli import entry

compare = entry("compare", "calibration.compare")
diagnostics = entry("calibrate", "calibration.diagnostics")
fit = entry("calibrate", "calibration.fit")
hindcast = entry("hindcast", "calibration.hindcast")
npe = entry("npe", "calibration.npe")
predictive = entry("calibrate", "calibration.predictive")
recovery = entry("recovery", "calibration.recovery")
report = entry("calibrate", "calibration.report")
scores = entry("scores", "calibration.scores")
