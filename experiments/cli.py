"""The experiments' Hydra commands: the entry of each (:func:`common.cli.entry`) over its module's ``command``.

``python -m experiments.forecast``, ``experiments.simulate``, ``experiments.dose``, ``experiments.live`` and
``experiments.judgement`` run their module, whose ``__main__`` block checks the command line in one line
(:func:`common.cli.precheck`) and calls the entry of the same name here. (``python -m experiments.gather`` takes
plain arguments, no config.)
"""

from __future__ import annotations

from common.cli import entry

forecast = entry("forecast", "experiments.forecast")
simulate = entry("config", "experiments.simulate")
dose = entry("dose", "experiments.dose")
live = entry("live", "experiments.live")
judgement = entry("judgement", "experiments.judgement")
