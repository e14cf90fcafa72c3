"""Shared fixtures: the validated data, default parameters and baseline drivers, loaded once per session."""

from __future__ import annotations

import pytest

from model.data import ModelData, load_data
from model.drivers import Drivers, build_drivers, load_default_drivers
from model.params import ModelParams, load_default_params


@pytest.fixture(scope="session")
def data() -> ModelData:
    return load_data()


@pytest.fixture(scope="session")
def params() -> ModelParams:
    return load_default_params()


@pytest.fixture(scope="session")
def drivers(data: ModelData) -> Drivers:
    return build_drivers(data, load_default_drivers())
