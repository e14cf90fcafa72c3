"""Layering, read from the syntax tree of every module and checked at run time (issue 15, item 3).

model (bottom: no Hydra, no OmegaConf, none of the packages above it) < common (what every entry point shares) <
calibration (never imports experiments) < experiments; benchmarks use the packages' public names only. The model
uses no global random state.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("model", "common", "calibration", "experiments")
# What each package may not import (top-level module names).
FORBIDDEN = {
    "model": {"hydra", "omegaconf", "common", "calibration", "experiments"},
    "common": {"calibration", "experiments"},
    "calibration": {"experiments"},
}


def test_model_never_imports_hydra_or_omegaconf():
    code = ("import sys, model.run, model.data, model.drivers, model.params, model.schema; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hydra', 'omegaconf')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# Each worker of `python -m experiments.forecast` re-imports the command's module (multiprocessing's spawn), and the
# tables' workers import the tables and figures: none of them may pull in the model's run code (numba, Mesa and the
# kernels, about 120 MB a process), which only the run workers need (docs/ODD.md §10.31: the forecast's memory).
RUN_CODE = ("numba", "mesa", "model.run", "model.model")


@pytest.mark.parametrize("imported", ["experiments.forecast",
                                      "experiments.post, experiments.tables, experiments.report, experiments.ensemble"])
def test_the_forecast_command_and_its_tables_workers_do_not_import_the_run_code(imported):
    code = f"import sys, {imported}; print(sorted(m for m in {RUN_CODE!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# pyabc draws its proposals from the global state: a forked sampler worker must reseed it, as pyabc's own workers do
# (else both processes would propose the same particles). No model or table code draws from it.
GLOBAL_STATE_RESEEDED = {"calibration/batching.py": ["np.random.seed", "import random"]}


def test_no_global_random_state_in_project_code():
    banned = ("np.random.seed", "np.random.rand(", "np.random.randint", "np.random.normal", "import random")
    for path in [*ROOT.glob("model/*.py"), *ROOT.glob("common/*.py"), *ROOT.glob("experiments/*.py"),
                 *ROOT.glob("calibration/*.py")]:
        text = path.read_text(encoding="utf-8")
        found = [b for b in banned if b in text]
        assert found == GLOBAL_STATE_RESEEDED.get(path.relative_to(ROOT).as_posix(), []), path


def test_mesa_step_logging_is_silenced(params, data, drivers, caplog):
    """Mesa 3.3.1 logs every step at INFO; importing the model package sets its logger to WARNING."""
    import logging

    from model.run import simulate

    assert logging.getLogger("MESA").getEffectiveLevel() >= logging.WARNING
    with caplog.at_level(logging.DEBUG):  # the root logger would show anything the MESA logger let through
        simulate(params, data, drivers, 1)
    assert not [r for r in caplog.records if r.name.startswith("MESA")]


def imports(path: Path) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, imported module, names taken from it) for every import in ``path``, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module, tuple(a.name for a in node.names)))
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def violations(package: str) -> list[str]:
    bad = []
    for path in modules(package):
        for line, module, names in imports(path):
            top = module.split(".")[0]
            taken = {f"{module}.{n}".split(".")[0] for n in names} | {top}
            for hit in sorted(taken & FORBIDDEN[package]):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {hit} ({module})")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    assert modules(package), f"{package} has no modules"
    assert violations(package) == []


def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch):
    """The check is not vacuous: a calibration module importing experiments, or model importing Hydra, is caught."""
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "bad.py").write_text("def f():\n    from experiments import forecast\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "bad.py").write_text("import omegaconf.errors\nfrom hydra import compose\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert violations("calibration") == ["calibration/bad.py:2 imports experiments (experiments)"]
    assert violations("model") == ["model/bad.py:1 imports omegaconf (omegaconf.errors)",
                                   "model/bad.py:2 imports hydra (hydra)"]


def private_uses(path: Path) -> list[str]:
    """Private names of the project's packages that ``path`` uses: imported by name or reached by attribute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    third_party = set()
    bad = []
    for line, module, names in imports(path):
        if module.split(".")[0] in PROJECT:
            bad += [f"{path.name}:{line} imports {module}.{n}" for n in names if n.startswith("_")]
        else:
            third_party.add(module.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in third_party):
                bad.append(f"{path.name}:{node.lineno} uses .{node.attr}")
    return bad


def test_benchmarks_use_public_names_only():
    paths = sorted((ROOT / "benchmarks").glob("*.py"))
    assert paths
    assert [b for p in paths for b in private_uses(p)] == []


def test_the_public_names_check_catches_a_private_use(tmp_path):
    bad = tmp_path / "bench_bad.py"
    bad.write_text("import mesa\nfrom model.data import _sipri\n\ndef f(m):\n    mesa.Agent._ids.clear()\n"
                   "    return m._target\n")
    assert private_uses(bad) == ["bench_bad.py:2 imports model.data._sipri", "bench_bad.py:6 uses ._target"]


def test_the_kernels_cache_is_keyed_by_every_model_source(tmp_path):
    """numba does not refresh a kernel whose callee in another module changed, so the cache folder changes with any
    source file of the package (model/__init__.py: kernel_cache_dir)."""
    import shutil

    import model

    package = tmp_path / "model"
    shutil.copytree(model.PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = model.kernel_cache_dir(package)
    assert before == model.kernel_cache_dir(package) and before.parent == tmp_path / ".numba_cache"
    rules = package / "rules.py"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# a change\n", encoding="utf-8")
    assert model.kernel_cache_dir(package) != before
    # A fresh process without the variable caches its kernels there (numba imported after the package sets it).
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    code = "import model.rules; from numba.core import config; print(config.CACHE_DIR)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=model.PACKAGE.parent)
    assert out.stdout.strip() == str(model.kernel_cache_dir())
