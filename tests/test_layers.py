"""Layering: the model runs without Hydra or OmegaConf, and uses no global random state."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_model_never_imports_hydra_or_omegaconf():
    code = ("import sys, model.run, model.data, model.drivers, model.params, model.schema; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_global_random_state_in_project_code():
    banned = ("np.random.seed", "np.random.rand(", "np.random.randint", "np.random.normal", "import random")
    for path in [*ROOT.glob("model/*.py"), *ROOT.glob("experiments/*.py"), *ROOT.glob("calibration/*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not [b for b in banned if b in text], path


def test_mesa_step_logging_is_silenced(params, data, drivers, caplog):
    """Mesa 3.3.1 logs every step at INFO; importing the model package sets its logger to WARNING."""
    import logging

    from model.run import simulate

    assert logging.getLogger("MESA").getEffectiveLevel() >= logging.WARNING
    with caplog.at_level(logging.DEBUG):  # the root logger would show anything the MESA logger let through
        simulate(params, data, drivers, 1)
    assert not [r for r in caplog.records if r.name.startswith("MESA")]
