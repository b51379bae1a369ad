"""Regression: ``--tolerance -1`` / ``--tolerance nan`` / ``--tolerance 0`` were accepted
silently by ``openhlm fit/residuals/plot`` (hlm mode then ran to the iteration limit); they are
now usage errors naming the option, as ``max_iterations = 0`` in a TOML file already was."""

from __future__ import annotations

import pytest

from openhlm.cli.main import main


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_bad_tolerance_is_a_usage_error(capsys, value):
    assert main(["fit", "--example", "hsb-model1", "--tolerance", value]) == 2
    err = capsys.readouterr().err
    assert "argument --tolerance: must be a number greater than 0" in err


@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_iteration_limit_is_a_usage_error(capsys, value):
    assert main(["residuals", "--example", "hsb-model1", "--max-iterations", value,
                 "--res2", "unused.csv"]) == 2
    assert "argument --max-iterations: must be at least 1" in capsys.readouterr().err


def test_good_values_still_work(capsys):
    assert main(["fit", "--example", "hsb-model1", "--mode", "hlm", "--tolerance", "1e-6",
                 "--max-iterations", "50"]) == 0
    assert "Iterations stopped due to small change in likelihood function" in \
        capsys.readouterr().out
