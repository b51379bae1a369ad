"""level1_equations(sample=0) draws every unit, as ``openhlm plot level1 --sample 0`` does
(it used to draw nothing and emit matplotlib's empty-legend warning)."""

from __future__ import annotations

import pytest

import openhlm
from openhlm.plots import level1_equations


@pytest.fixture(scope="module")
def results():
    return openhlm.fit("mathach = B0 + B1*group(ses) + R; B0 = G00 + G01*sector + U0; "
                       "B1 = G10 + U1", openhlm.datasets.hsb())


@pytest.mark.parametrize("sample", [0, None])
def test_zero_or_none_draws_all_units(results, sample):
    fig = level1_equations(results, sample=sample, by="sector")
    ax = fig.axes[0]
    assert len(ax.lines) == results.n_level2 == 160
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SECTOR = 0", "SECTOR = 1"]


def test_sample_draws_that_many(results):
    assert len(level1_equations(results, sample=12).axes[0].lines) == 12


def test_negative_sample_is_an_error(results):
    with pytest.raises(openhlm.SpecError, match="sample"):
        level1_equations(results, sample=-1)
