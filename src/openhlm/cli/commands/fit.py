"""``openhlm fit``: fit a model and print HLM's report.

::

    openhlm fit MODEL.toml [--output report.txt] [--json results.json] [--html report.html]
    openhlm fit --example hsb-model4 [--mode hlm] [--method ml]
    openhlm fit COMMANDFILE.hlm --level1 hsb1.sav --level2 hsb2.sav --id id

The model comes from a TOML model file (``docs/model-files.md``), a bundled example
(:mod:`openhlm.examples`) or an HLM 6 command file run on data files.  The text report goes to
stdout unless ``--output`` names a file.  Options given on the command line override the
file's settings.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openhlm.data.mdm import MDM
    from openhlm.results import HLMResults
    from openhlm.spec.model import ModelSpec

__all__ = ["FitJob", "job_from_args", "register", "run_job"]

STDOUT = "-"  # an output file name meaning standard output

_EPILOG = """examples:
  openhlm fit --example hsb-model4
  openhlm fit --example hsb-model1 --mode hlm
  openhlm fit model4.toml --json model4.json
  openhlm fit ex4.hlm --level1 hsb1.sav --level2 hsb2.sav --id id

Bundled examples: hsb-model1 .. hsb-model4 (the HLM seminar's models on the HS&B data).
The name of a bundled data file (hsb1.sav, hsb2.csv, ...) may be given as a data file."""


def add_model_arguments(parser: argparse.ArgumentParser, *,
                        example_help: str = "a bundled example (hsb-model1 .. hsb-model4)"
                        ) -> None:
    """The model, data and estimation options shared by ``fit``, ``residuals`` and ``plot``."""
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a TOML model file (.toml) or an HLM 6 command file (.hlm)")
    parser.add_argument("--example", metavar="NAME",
                        help=example_help)
    data = parser.add_argument_group("data (command files; overrides a TOML file's [data])")
    data.add_argument("--level1", metavar="FILE", help="level-1 data file (or the only file)")
    data.add_argument("--level2", metavar="FILE", help="level-2 data file")
    data.add_argument("--id", metavar="ID", help="ID variable linking the levels")
    data.add_argument("--mdm", metavar="FILE.mdmz", help="a saved MDM instead of data files")
    est = parser.add_argument_group("estimation (overrides the file's settings)")
    est.add_argument("--method", choices=("reml", "ml"), help="REML (default) or full ML")
    est.add_argument("--mode", choices=("exact", "hlm"),
                     help="exact: iterate to the optimum (default); hlm: HLM 6's iterations")
    est.add_argument("--max-iterations", type=_positive_int, metavar="N",
                     help="iteration limit")
    est.add_argument("--tolerance", type=_positive_float, metavar="X",
                     help="convergence criterion (a number > 0)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number greater than 0, not {text}")
    return value


def register(subparsers: Any) -> None:
    """Add ``openhlm fit`` to ``subparsers``."""
    parser = subparsers.add_parser(
        "fit", help="fit a two-level model and print HLM's report",
        description="Fit a two-level hierarchical linear model from a TOML model file, an HLM 6 "
                    "command file or a bundled example, and print HLM2's report.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_arguments(parser, example_help="fit a bundled example (hsb-model1 .. hsb-model4) instead")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="write the text report to FILE instead of stdout")
    out.add_argument("--json", metavar="FILE",
                     help="also write the results as JSON ('-': to stdout, instead of the text "
                          "report unless -o FILE is given)")
    out.add_argument("--html", metavar="FILE",
                     help="also write an HTML report ('-': to stdout, as for --json)")
    out.add_argument("--ols-units", type=int, metavar="N",
                     help="units shown in the level-1 OLS table (default 10; 0 = none)")
    out.add_argument("--full", action="store_true",
                     help="full output: also the iteration history")
    out.add_argument("--exploratory", metavar="VARS", action="append",
                     help="HLM's exploratory analysis: regress the EB residuals on these level-2 "
                          "variables not in the model (comma-separated, e.g. pracad,disclim; "
                          "replaces the file's [output] exploratory)")
    parser.set_defaults(func=_fit)


@dataclass
class FitJob:
    """Everything one run needs, gathered from the command line and the model's file."""

    model: str | ModelSpec
    mdm: MDM
    method: str = "reml"
    mode: str = "exact"
    max_iterations: int | None = None
    tolerance: float | None = None
    ols_units: int = 10
    full: bool = False
    title: str | None = None
    command_file: str | None = None
    report: Path | None = None
    json: Path | None = None
    html: Path | None = None
    residuals: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, Any] = field(default_factory=dict)   # fit(hypotheses=, homogeneity=, ...)
    tests_source: str | None = None                       # the file that asked for them
    weights: dict[str, Any] = field(default_factory=dict)  # fit(level1_weight=, ...)
    exploratory: tuple[str, ...] = ()                     # fit(exploratory=)
    exploratory_source: str | None = None                 # where they were named


# -- building the job ------------------------------------------------------------------------

def _mdm_from_args(args: argparse.Namespace, *, required: bool, what: str) -> MDM | None:
    from openhlm.errors import MDMError

    if args.mdm is not None:
        if args.level1 is not None:
            raise MDMError("give either --mdm or --level1/--level2/--id, not both")
        from openhlm.data.mdm import MDM

        return MDM.load(args.mdm)
    if args.level1 is None:
        if required:
            raise MDMError(f"{what} needs data: give --level1 FILE [--level2 FILE] --id ID "
                           "(or --mdm FILE.mdmz); HLM's own .mdm files cannot be read")
        return None
    if args.id is None:
        raise MDMError("--id is required with --level1 (the ID variable linking the levels)")
    from openhlm.data.mdm import build_mdm
    from openhlm.datasets import resolve_path

    return build_mdm(resolve_path(args.level1),
                     None if args.level2 is None else resolve_path(args.level2), id=args.id)


def _example_job(args: argparse.Namespace) -> FitJob:
    from openhlm.datasets import hsb
    from openhlm.examples import example

    if args.level1 is not None or args.mdm is not None:
        from openhlm.errors import SpecError

        raise SpecError("--example fits the bundled HS&B data; leave out --level1/--mdm")
    equations, method = example(args.example)
    # no title, as in the seminar's runs (HLM prints "Problem Title: no title")
    return FitJob(model=equations, mdm=hsb(), method=method)


def _toml_job(args: argparse.Namespace, path: Path) -> FitJob:
    from openhlm.spec.modelfile import EstimationSection, load_model_file

    mf = load_model_file(path)
    mdm = _mdm_from_args(args, required=False, what=str(path))
    if mdm is None:
        mdm = _mdm_from_model_file(mf)
    spec = mf.model_spec(mdm.level1_variables, mdm.level2_variables)
    w = mf.resolved_weights(mdm.level1_variables, mdm.level2_variables)
    est, defaults = mf.estimation, EstimationSection()
    job = FitJob(model=spec, mdm=mdm, method=est.method, mode=est.mode,
                 title=mf.title or None, report=mf.output.report, json=mf.output.json,
                 html=mf.output.html)
    if w.level1 or w.level2 or w.precision:
        job.weights = {"level1_weight": w.level1, "level2_weight": w.level2,
                       "precision_weight": w.precision, "normalize_weights": w.normalize}
    _add_tests(job, mf)
    if mf.output.exploratory:
        job.exploratory = mf.output.exploratory
        job.exploratory_source = f"{mf.source}: [output] exploratory"
    # HLM's iteration settings only mean something to the EM of hlm mode; in exact mode they
    # are passed on only when the file changes them.
    if est.mode == "hlm" or est.max_iterations != defaults.max_iterations:
        job.max_iterations = est.max_iterations
    if est.mode == "hlm" or est.tolerance != defaults.tolerance:
        job.tolerance = est.tolerance
    out = mf.output
    if out.level1_residuals is not None or out.level2_residuals is not None:
        job.residuals = {"level1": out.level1_residuals, "level2": out.level2_residuals,
                         # csv is [output]'s default: then a .sav/.dta/.xpt/... suffix decides
                         "format": None if out.format == "csv" else out.format}
    return job


def _mdm_from_model_file(mf: Any) -> MDM:
    from openhlm.errors import CommandFileError

    d = mf.data
    if d.mdm is not None:
        from openhlm.data.mdm import MDM

        return MDM.load(d.mdm)
    if d.level1 is None or d.id is None:
        raise CommandFileError(f"{mf.source}: [data] needs level1 and id (or mdm)")
    from openhlm.data.mdm import build_mdm

    return build_mdm(_data_path(d.level1, "level1", mf.source),
                     None if d.level2 is None else _data_path(d.level2, "level2", mf.source),
                     id=d.id, missing=d.missing)


def _data_path(path: Path, key: str, source: str) -> Path:
    """A TOML data path (already joined to the file's folder), or the bundled example file of
    that name when no such local file exists (``level1 = "hsb1.sav"`` works anywhere).

    Raises
    ------
    DataError
        Neither exists; the message names the model file, the key and the full path.
    """
    from openhlm.datasets import resolve_path
    from openhlm.errors import DataError

    if path.exists():
        return path
    bundled = resolve_path(path.name)
    if bundled.exists():
        return bundled
    raise DataError(f"{source}: [data] {key}: no such file {path} (paths are relative to the "
                    "model file's folder)")


def _command_file_job(args: argparse.Namespace, path: Path) -> FitJob:
    from openhlm.spec.commandfile import parse_command_file

    mdm = _mdm_from_args(args, required=True, what=f"the command file {path}")
    assert mdm is not None
    cf = parse_command_file(path, level1_variables=mdm.level1_variables,
                            level2_variables=mdm.level2_variables)
    o = cf.options
    job = FitJob(model=cf.spec, mdm=mdm, method=o.method, ols_units=o.lev1ols,
                 full=o.fulloutput, title=o.title, command_file=cf.source)
    if o.level1_weight or o.level2_weight or o.variance_known:
        # HLM 6 normalises design weights within units (hlm-statistics.md 13)
        job.weights = {"level1_weight": o.level1_weight, "level2_weight": o.level2_weight,
                       "precision_weight": o.variance_known}
    _add_tests(job, cf)
    job.max_iterations, job.tolerance = o.max_iterations, o.tolerance  # used in hlm mode only
    if o.resfil1 or o.resfil2:
        suffix = {"spss": ".sav", "stata": ".dta", "sas": ".xpt"}.get(o.resfil_type or "", ".csv")
        job.residuals = {
            "level1": Path(o.resfil1_name or f"resfil1{suffix}") if o.resfil1 else None,
            "level2": Path(o.resfil2_name or f"resfil2{suffix}") if o.resfil2 else None,
            "format": o.resfil_type,  # HLM: resfiltype decides, whatever the file's name
            "extra_level1": o.resfil1_variables, "extra_level2": o.resfil2_variables,
        }
    return job


def _add_tests(job: FitJob, source: Any) -> None:
    """The hypothesis tests the model file asks for (TOML ``[hypotheses]``; command files'
    ``gammaN``/``hypoth``, ``homvar``, ``deviance``/``df``), printed at the end of the report."""
    from openhlm.inference.hypotheses import requested_tests

    tests = requested_tests(source)
    job.tests = {k: v for k, v in tests.items() if v}
    job.tests_source = source.source


def job_from_args(args: argparse.Namespace) -> FitJob:
    """Gather the run's settings: the model's file first, then the command-line overrides."""
    from openhlm.errors import SpecError

    if (args.model is None) == (args.example is None):
        raise SpecError("give a model file (MODEL.toml or COMMANDFILE.hlm) or --example NAME "
                        "(one of them)")
    if args.example is not None:
        job = _example_job(args)
    else:
        path = Path(args.model)
        if not path.is_file():
            raise SpecError(f"model file {path} not found")
        job = _toml_job(args, path) if path.suffix.lower() == ".toml" else \
            _command_file_job(args, path)
    if args.method is not None:
        job.method = args.method
    if args.mode is not None:
        job.mode = args.mode
    if job.mode == "exact" and job.command_file is not None:
        job.max_iterations = job.tolerance = None  # numit/stopval are HLM's EM settings
    if args.max_iterations is not None:
        job.max_iterations = args.max_iterations
    if args.tolerance is not None:
        job.tolerance = args.tolerance
    if args.ols_units is not None:
        job.ols_units = max(args.ols_units, 0)
    job.full = job.full or args.full
    if getattr(args, "exploratory", None):
        job.exploratory = tuple(n.strip() for arg in args.exploratory for n in arg.split(",")
                                if n.strip())
        job.exploratory_source = "--exploratory"
    for name in ("output", "json", "html"):
        value = getattr(args, name)
        if value is not None:
            setattr(job, "report" if name == "output" else name, Path(value))
    return job


# -- running it ------------------------------------------------------------------------------

def run_job(job: FitJob) -> tuple[HLMResults, str]:
    """Fit the job's model and render the text report: ``(results, text)``."""
    from openhlm.api import fit
    from openhlm.errors import HypothesisError
    from openhlm.report.text import render_text

    results = fit(job.model, job.mdm, method=job.method, mode=job.mode,  # type: ignore[arg-type]
                  max_iterations=job.max_iterations, tolerance=job.tolerance,
                  ols_units=max(job.ols_units, 10), **job.weights)
    if job.tests:
        from openhlm.inference.hypotheses import with_tests

        try:
            results = with_tests(results, **job.tests)
        except HypothesisError as exc:
            raise HypothesisError(f"{job.tests_source}: {exc}") from None
    if job.exploratory:
        from openhlm.errors import SpecError
        from openhlm.inference.exploratory import with_exploratory

        try:
            results = with_exploratory(results, job.exploratory)
        except SpecError as exc:
            raise SpecError(f"{job.exploratory_source}: {exc}") from None
    text = render_text(results, ols_units=job.ols_units, full=job.full, title=job.title,
                       command_file=job.command_file)
    return results, text


def _write(path: Path, text: str) -> None:
    from openhlm.errors import DataError

    if _is_stdout(path):
        print(text, end="")
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None


def _is_stdout(path: Path | None) -> bool:
    return path is not None and str(path) == STDOUT


def _fit(args: argparse.Namespace) -> int:
    import json

    from openhlm.errors import SpecError

    job = job_from_args(args)
    to_stdout = [f"--{name}" for name in ("output", "json", "html")
                 if _is_stdout(getattr(job, "report" if name == "output" else name))]
    if len(to_stdout) > 1:
        raise SpecError(f"only one output can go to standard output ('-'), not "
                        f"{' and '.join(to_stdout)}")
    if _is_stdout(job.report):
        job.report = None
    results, text = run_job(job)
    if job.report is not None:
        _write(job.report, text)
    elif not (_is_stdout(job.json) or _is_stdout(job.html)):
        print(text, end="")
    if job.json is not None:
        from openhlm.report.json import results_to_dict

        _write(job.json, json.dumps(results_to_dict(results), indent=2, allow_nan=False) + "\n")
    if job.html is not None:
        from openhlm.report.html import render_html

        _write(job.html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>openhlm "
                         "report</title></head><body>\n" + render_html(results)
                         + "\n</body></html>\n")
    if job.residuals:
        from openhlm.report.residual_files import write_residuals

        r = job.residuals
        write_residuals(results, level2=r.get("level2"), level1=r.get("level1"),
                        extra_level2=r.get("extra_level2", ()),
                        extra_level1=r.get("extra_level1", ()), format=r.get("format"))
    return 0
