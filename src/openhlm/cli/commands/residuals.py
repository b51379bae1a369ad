"""``openhlm residuals``: fit a model and write HLM's level-2 / level-1 residual files.

::

    openhlm residuals --example hsb-model4 --res2 res2.sav --extra2 pracad,size
    openhlm residuals model4.toml --res2 res2.dta --res1 res1.csv
    openhlm residuals ex4.hlm --level1 hsb1.sav --level2 hsb2.sav --id id --res2 res2.xpt

The model and data options are those of ``openhlm fit``.  Formats follow the suffix (.csv .sav
.dta .xpt .parquet .xlsx) unless ``--format`` names one (HLM's spss, stata, sas also work).
"""

from __future__ import annotations

import argparse
from typing import Any

from openhlm.cli.commands import fit as fit_command

__all__ = ["add_model_arguments", "fit_from_args", "register"]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``openhlm fit``'s model, data and estimation options."""
    fit_command.add_model_arguments(parser, example_help="a bundled example (hsb-model1 .. "
                                    "hsb-model4) instead")
    # what `openhlm fit` would also read; unused here
    parser.set_defaults(output=None, json=None, html=None, ols_units=None, full=False)


def fit_from_args(args: argparse.Namespace) -> tuple[Any, Any]:
    """Fit the model the options describe: ``(results, job)`` (``job`` as ``openhlm fit``)."""
    from openhlm.api import fit
    from openhlm.cli.commands.fit import job_from_args

    job = job_from_args(args)
    results = fit(job.model, job.mdm, method=job.method, mode=job.mode,
                  max_iterations=job.max_iterations, tolerance=job.tolerance)
    return results, job


def register(subparsers: Any) -> None:
    """Add ``openhlm residuals`` to ``subparsers``."""
    parser = subparsers.add_parser(
        "residuals", help="write HLM's level-2 and level-1 residual files",
        description="Fit a model and write HLM's residual files: level 2 (EB and OLS residuals, "
                    "fitted values, EB coefficients, posterior variances, MDIST/CHIPCT, log SDs) "
                    "and level 1 (fitted values and residuals).",
        epilog="examples:\n  openhlm residuals --example hsb-model4 --res2 res2.sav "
               "--extra2 pracad,size,disclim\n  openhlm residuals model4.toml --res1 res1.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser)
    out = parser.add_argument_group("residual files")
    out.add_argument("--res2", metavar="FILE", help="level-2 residual file to write")
    out.add_argument("--res1", metavar="FILE", help="level-1 residual file to write")
    out.add_argument("--extra2", metavar="A,B", type=_names, default=[],
                     help="extra level-2 variables for the level-2 file")
    out.add_argument("--extra1", metavar="A,B", type=_names, default=[],
                     help="extra level-1 or level-2 variables for the level-1 file")
    out.add_argument("--format", metavar="FMT",
                     help="csv, sav, dta, xpt, parquet, xlsx (or HLM's spss, stata, sas); "
                          "default: from each file's suffix")
    parser.set_defaults(func=_residuals)


def _residuals(args: argparse.Namespace) -> int:
    from openhlm.errors import SpecError

    if args.res2 is None and args.res1 is None:
        raise SpecError("name a residual file to write: --res2 FILE and/or --res1 FILE")
    if "-" in (args.res2, args.res1):
        raise SpecError("residual files are written to files (SPSS, Stata, SAS, CSV, ...), not to "
                        "standard output: give a file name such as res2.csv")
    results, _ = fit_from_args(args)
    written = results.write_residuals(level2=args.res2, level1=args.res1,
                                      extra_level2=args.extra2, extra_level1=args.extra1,
                                      format=args.format)
    for level, path in written.items():
        rows = results.n_level2 if level == "level2" else results.n_level1
        print(f"{level[:5]}-{level[5:]} residual file ({rows} records): {path}")
    return 0
