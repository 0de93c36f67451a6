"""Shared test set-up: CPU float32 by default, ``--device=cuda`` on a GPU machine, CUDA tests skipped
where no GPU exists, one torch thread per xdist worker (2 workers on 2 cores)."""

from __future__ import annotations

import os

import pytest
import torch


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu", help="device for tests that take the `device` fixture (cpu, cuda)")


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def device(request) -> torch.device:
    name = request.config.getoption("--device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("--device=cuda given but no CUDA device is available")
    return torch.device(name)


@pytest.fixture(autouse=True)
def seeded_torch():
    """Seed torch before every test, so a test's random inputs and initial weights do not depend on which
    tests xdist ran before it on the same worker."""
    torch.manual_seed(0)
