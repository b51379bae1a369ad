"""``openhlm residuals``: fit a model and write HLM's level-2 / level-1 residual files.

::

    openhlm residuals --example hsb-model4 --res2 res2.sav --extra2 pracad,size
    openhlm residuals model4.toml --res2 res2.dta --res1 res1.csv
    openhlm residuals ex4.hlm --level1 hsb1.sav --level2 hsb2.sav --id id --res2 res2.xpt

The model, data and estimation options are those of ``openhlm fit`` (the same fit, through
:func:`openhlm.runner.run`).  ``--res2``/``--res1`` replace the residual files a model file
names (TOML ``[output]``, command files' ``resfil`` keys); without them those are written.
Formats follow the suffix (.csv .sav .dta .xpt .parquet .xlsx) unless ``--format`` names one
(HLM's spss, stata, sas also work).
"""

from __future__ import annotations

import argparse
from typing import Any

from openhlm.cli.commands import fit as fit_command

__all__ = ["add_model_arguments", "register"]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``openhlm fit``'s model, data and estimation options."""
    fit_command.add_model_arguments(parser, example_help="a bundled example (hsb-model1 .. "
                                    "hsb-model4) instead")
    # what `openhlm fit` would also read; unused here
    parser.set_defaults(output=None, json=None, html=None, ols_units=None, full=False)


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
    out.add_argument("--res3", metavar="FILE",
                     help="level-3 residual file to write (three-level models)")
    out.add_argument("--extra2", metavar="A,B", type=_names, default=[],
                     help="extra level-2 variables for the level-2 file")
    out.add_argument("--extra1", metavar="A,B", type=_names, default=[],
                     help="extra level-1 or level-2 variables for the level-1 file")
    out.add_argument("--extra3", metavar="A,B", type=_names, default=[],
                     help="extra level-3 variables for the level-3 file (three-level models)")
    out.add_argument("--format", metavar="FMT",
                     help="csv, sav, dta, xpt, parquet, xlsx (or HLM's spss, stata, sas); "
                          "default: from each file's suffix")
    parser.set_defaults(func=_residuals)


def _residuals(args: argparse.Namespace) -> int:
    import dataclasses

    from openhlm.errors import SpecError
    from openhlm.runner import run
    from openhlm.spec.options import Residuals

    if "-" in (args.res2, args.res1, args.res3):
        raise SpecError("residual files are written to files (SPSS, Stata, SAS, CSV, ...), not to "
                        "standard output: give a file name such as res2.csv")
    job = fit_command.job_from_args(args)
    files = job.options.residuals
    if args.res2 is not None or args.res1 is not None or args.res3 is not None:
        files = Residuals(level1=args.res1, level2=args.res2, format=args.format,
                          extra_level1=tuple(args.extra1), extra_level2=tuple(args.extra2),
                          level3=args.res3, extra_level3=tuple(args.extra3))
    else:
        files = Residuals(files.level1, files.level2, args.format or files.format,
                          tuple(args.extra1) or files.extra_level1,
                          tuple(args.extra2) or files.extra_level2, files.level3,
                          tuple(args.extra3) or files.extra_level3)
    if not files.requested:
        raise SpecError("name a residual file to write: --res2 FILE and/or --res1 FILE")
    if job.options.engine != "memory":   # out of core: level-1 file streamed (docs/scale.md)
        job = dataclasses.replace(job, options=job.options.replace(residuals=files))
        results: Any = fit_command.run_fit(job)
    else:
        results = run(job.model, job.mdm, job.options)
    from openhlm.results.three_level import HLM3Results

    if isinstance(results, HLM3Results):
        written = results.write_residuals(level2=files.level2, level3=files.level3,
                                          level1=files.level1, format=files.format,
                                          extra_level1=files.extra_level1,
                                          extra_level2=files.extra_level2,
                                          extra_level3=files.extra_level3)
    else:
        if files.level3 is not None or files.extra_level3:
            raise SpecError("--res3 and --extra3 (the level-3 residual file) need a three-level "
                            "model")
        written = fit_command.write_residual_files(results, files)
    for level, path in written.items():
        rows = {"level1": results.n_level1, "level2": results.n_level2,
                "level3": getattr(results, "n_level3", 0)}[level]
        print(f"{level[:5]}-{level[5:]} residual file ({rows} records): {path}")
    return 0
