"""Docs follow code: generated references are current, and the ODD and README name what the code has."""

from __future__ import annotations

from pathlib import Path

from model.params import parameter_table, parameters_markdown
from model.schema import VARIABLE_NAMES, variables_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_generated_references_are_current():
    assert (ROOT / "docs" / "variables.md").read_text(encoding="utf-8") == variables_markdown(), \
        "run: python -m model.schema > docs/variables.md"
    assert (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8") == parameters_markdown(), \
        "run: python -m model.params > docs/parameters.md"


def test_odd_names_every_parameter_and_variable():
    odd = (ROOT / "docs" / "ODD.md").read_text(encoding="utf-8")
    missing = [row["name"] for row in parameter_table() if f"`{row['name']}`" not in odd]
    assert not missing, missing
    assert not [v for v in VARIABLE_NAMES if v not in odd]


def test_readme_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Quick start")
    block = readme[start:readme.index("```", readme.index("```", start) + 3)]
    commands = [line.strip() for line in block.splitlines() if line.strip().startswith("make")]
    assert commands == ["make run", "make test"]
