"""Hand-built HLMResults (HLM 6.08's printed numbers) shared with the golden tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "golden"))

import hand_results


@pytest.fixture
def model4():
    return hand_results.model4_hlm()


@pytest.fixture
def model4_exact():
    return hand_results.model4_exact()


@pytest.fixture
def constrained():
    return hand_results.constrained_ml()


@pytest.fixture
def female():
    return hand_results.female_random_only_ml()
