"""``openhlm fit``: fit a model and print HLM's report.

::

    openhlm fit MODEL.toml [--output report.txt] [--json results.json] [--html report.html]
    openhlm fit --example hsb-model4 [--mode hlm] [--method ml]
    openhlm fit COMMANDFILE.hlm --level1 hsb1.sav --level2 hsb2.sav --id id

The model comes from a TOML model file (``docs/model-files.md``), a bundled example
(:mod:`openhlm.examples`) or an HLM 6 command file run on data files.  The text report goes to
stdout unless ``--output`` names a file.  Options given on the command line override the
file's settings: the run is one :class:`~openhlm.spec.options.FitOptions`, fitted by
:func:`openhlm.runner.run` (as ``openhlm residuals`` and ``openhlm plot`` do).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openhlm.data.mdm import MDM
    from openhlm.results import HLMResults
    from openhlm.spec.model import ModelSpec
    from openhlm.spec.options import FitOptions, Residuals

__all__ = ["FitJob", "job_from_args", "register", "run_job", "write_residual_files"]

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
    data.add_argument("--level3", metavar="FILE",
                      help="level-3 data file (three-level models; --id L2ID,L3ID)")
    data.add_argument("--id", metavar="ID",
                      help="ID variable linking the levels (three levels: L2ID,L3ID)")
    data.add_argument("--mdm", metavar="FILE.mdmz", help="a saved MDM instead of data files")
    data.add_argument("--engine", choices=("memory", "duckdb", "dask"),
                      help="what computes the per-unit statistics: memory (default); duckdb: "
                           "Parquet/CSV files (--level1 may be a glob or a folder) out of core; "
                           "dask: on Dask (docs/scale.md)")
    data.add_argument("--scheduler", metavar="ADDRESS",
                      help="with --engine dask: a Dask scheduler, e.g. tcp://host:8786")
    est = parser.add_argument_group("estimation (overrides the file's settings)")
    est.add_argument("--method", choices=("reml", "ml", "pql", "laplace", "agq"),
                     help="linear model: REML (default) or full ML; non-normal outcome: pql "
                          "(default), laplace or agq")
    est.add_argument("--mode", choices=("exact", "hlm"),
                     help="exact: iterate to the optimum (default); hlm: HLM 6's iterations")
    est.add_argument("--max-iterations", type=_positive_int, metavar="N",
                     help="iteration limit")
    est.add_argument("--distribution", choices=("normal", "bernoulli", "binomial", "poisson"),
                     help="level-1 sampling model (HGLM; default normal = linear model)")
    est.add_argument("--trials", metavar="VAR", help="binomial: number-of-trials variable")
    est.add_argument("--exposure", metavar="VAR", help="Poisson: exposure variable")
    est.add_argument("--quadrature-points", type=_positive_int, metavar="N",
                     help="--method agq: Gauss-Hermite nodes per random effect (default 10)")
    est.add_argument("--overdispersion", action="store_true", default=None,
                     help="PQL (binomial, Poisson): estimate an over-dispersion scale")
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
        "fit", help="fit a model (two- or three-level, linear or HGLM) and print HLM's report",
        description="Fit a two- or three-level model (linear, or an HGLM with --distribution) "
                    "from a TOML model file, an HLM 6 command file or a bundled example, and "
                    "print HLM's report (HLM2's or HLM3's).",
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
    out.add_argument("--exploratory3", metavar="VARS", action="append",
                     help="three-level models: HLM3's exploratory analysis of level-3 "
                          "variables not in the model, regressed on the level-3 EB residuals "
                          "(comma-separated; replaces the file's [output] exploratory3)")
    parser.set_defaults(func=_fit)


@dataclass(frozen=True)
class FitJob:
    """One run as the command line gives it: the model, the data and the options
    (:class:`~openhlm.spec.options.FitOptions`: the model file's settings, then the command
    line's overrides)."""

    model: str | ModelSpec
    mdm: MDM | ScaledData
    options: FitOptions


@dataclass(frozen=True)
class ScaledData:
    """The level-1 files (a path, glob or folder), level-2 file and ID of an out-of-core
    (``engine="duckdb"``) or Dask fit: read by the engine, never into an MDM."""

    level1: str
    level2: str | None
    id: str

    def run_arguments(self) -> dict[str, Any]:
        return {"id": self.id, "level2": self.level2}


# -- building the job ------------------------------------------------------------------------

def _mdm_from_args(args: argparse.Namespace, *, required: bool, what: str) -> Any:
    from openhlm.errors import MDMError

    if args.mdm is not None:
        if args.level1 is not None:
            raise MDMError("give either --mdm or --level1/--level2/--id, not both")
        from openhlm.data.build import load_any_mdm

        return load_any_mdm(args.mdm)
    if args.level1 is None:
        if required:
            raise MDMError(f"{what} needs data: give --level1 FILE [--level2 FILE] --id ID "
                           "(or --mdm FILE.mdmz); HLM's own .mdm files cannot be read")
        return None
    if args.id is None:
        raise MDMError("--id is required with --level1 (the ID variable linking the levels)")
    from openhlm.datasets import resolve_path

    level3 = getattr(args, "level3", None)
    if level3 is not None or "," in args.id:
        from openhlm.data.mdm3 import build_mdm3

        ids = tuple(n.strip() for n in args.id.split(","))
        return build_mdm3(resolve_path(args.level1),
                          None if args.level2 is None else resolve_path(args.level2),
                          None if level3 is None else resolve_path(level3), id=ids)
    from openhlm.data.mdm import build_mdm

    return build_mdm(resolve_path(args.level1),
                     None if args.level2 is None else resolve_path(args.level2), id=args.id)


def _example_job(args: argparse.Namespace, overrides: dict[str, Any]) -> FitJob:
    from openhlm.datasets import hsb
    from openhlm.examples import example
    from openhlm.spec.options import FitOptions

    if args.level1 is not None or args.mdm is not None:
        from openhlm.errors import SpecError

        raise SpecError("--example fits the bundled HS&B data; leave out --level1/--mdm")
    equations, method = example(args.example)
    # no title, as in the seminar's runs (HLM prints "Problem Title: no title")
    options = FitOptions(method=method).with_overrides(**overrides)
    if options.engine != "memory":
        return FitJob(equations, _example_files(hsb()), options)
    return FitJob(equations, hsb(), options)


def _example_files(mdm: Any) -> ScaledData:
    """The bundled example as Parquet files (level 1 with its ID; level 2) in a temporary
    folder removed at exit, for ``--example ... --engine duckdb|dask``: the out-of-core engines
    read data files, and the example ships as SPSS files."""
    import atexit
    import shutil
    import tempfile

    from openhlm.scale.sources import require

    require("pyarrow")
    folder = Path(tempfile.mkdtemp(prefix="openhlm-example-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    level1 = mdm.level1.copy()
    level1.insert(0, mdm.id_name, mdm.unit_ids[mdm.unit_index])
    level2 = mdm.level2.copy()
    level2.insert(0, mdm.id_name, mdm.unit_ids)
    level1.to_parquet(folder / "level1.parquet", index=False)
    level2.to_parquet(folder / "level2.parquet", index=False)
    return ScaledData(str(folder / "level1.parquet"), str(folder / "level2.parquet"),
                      mdm.id_name)


def _toml_job(args: argparse.Namespace, path: Path, overrides: dict[str, Any]) -> FitJob:
    from openhlm.spec.modelfile import load_model_file
    from openhlm.spec.options import FitOptions

    mf = load_model_file(path)
    engine = overrides.get("engine") or mf.data.engine
    if engine != "memory":
        return _scaled_toml_job(args, mf, overrides)
    mdm = _mdm_from_args(args, required=False, what=str(path))
    if mdm is None:
        mdm = _mdm_from_model_file(mf)
    from openhlm.data.mdm3 import MDM3

    if isinstance(mdm, MDM3):
        from openhlm.errors import CommandFileError, SpecError
        from openhlm.runner.three_level import refuse_unsupported3
        from openhlm.spec.equations3 import parse_model3

        options = FitOptions.from_model_file(mf, level1_variables=mdm.level1_variables,
                                             level2_variables=mdm.level2_variables, **overrides)
        refuse_unsupported3(options)
        try:   # errors quote the line of the TOML file
            spec3 = parse_model3(mf.model.equations, level1_variables=mdm.level1_variables,
                                 level2_variables=mdm.level2_variables,
                                 level3_variables=mdm.level3_variables, source=mf.source,
                                 first_line=mf.model.equations_line)
        except SpecError as exc:
            raise CommandFileError(f"[model] equations: {exc}") from None
        return FitJob(spec3, mdm, options)  # type: ignore[arg-type]
    options = FitOptions.from_model_file(mf, level1_variables=mdm.level1_variables,
                                         level2_variables=mdm.level2_variables, **overrides)
    if not options.outcome.normal and mf.model.distribution == "normal":
        # distribution given on the command line: the equations need no R
        mf = dataclasses.replace(mf, model=dataclasses.replace(
            mf.model, distribution=options.outcome.distribution))
    spec = mf.model_spec(mdm.level1_variables, mdm.level2_variables)
    return FitJob(spec, mdm, options)


def _scaled_toml_job(args: argparse.Namespace, mf: Any, overrides: dict[str, Any]) -> FitJob:
    """A TOML model file fitted out of core: the files go to the engine, not into an MDM."""
    from openhlm.errors import MDMError
    from openhlm.spec.options import FitOptions

    d = mf.data
    level1 = args.level1 if args.level1 is not None else d.level1
    level2 = args.level2 if args.level1 is not None else d.level2
    id_name = args.id or d.id
    if level1 is None or id_name is None or args.mdm is not None:
        raise MDMError(f"{mf.source}: an out-of-core fit needs level1 files and id "
                       "(not an mdm)")
    options = FitOptions.from_model_file(mf, **overrides)
    return FitJob(mf.model.equations, ScaledData(str(level1), None if level2 is None
                                                 else str(level2), id_name), options)


def _mdm_from_model_file(mf: Any) -> Any:
    from openhlm.errors import CommandFileError

    d = mf.data
    if d.mdm is not None:
        from openhlm.data.build import load_any_mdm

        return load_any_mdm(d.mdm)
    if d.level1 is None or d.id is None:
        raise CommandFileError(f"{mf.source}: [data] needs level1 and id (or mdm)")
    if d.three_level:
        from openhlm.data.mdm3 import build_mdm3

        return build_mdm3(_data_path(d.level1, "level1", mf.source),
                          None if d.level2 is None else _data_path(d.level2, "level2", mf.source),
                          None if d.level3 is None else _data_path(d.level3, "level3", mf.source),
                          id=(d.id, d.id3), missing=d.missing)
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


def _command_file_job(args: argparse.Namespace, path: Path, overrides: dict[str, Any]
                      ) -> FitJob:
    from openhlm.spec.commandfile import parse_command_file
    from openhlm.spec.options import FitOptions

    if overrides.get("engine") not in (None, "memory"):
        return _scaled_command_file_job(args, path, overrides)
    mdm = _mdm_from_args(args, required=True, what=f"the command file {path}")
    assert mdm is not None
    from openhlm.data.mdm3 import MDM3

    if isinstance(mdm, MDM3):
        from openhlm.spec.commandfile3 import parse_command_file3

        cf3 = parse_command_file3(path, level1_variables=mdm.level1_variables,
                                  level2_variables=mdm.level2_variables,
                                  level3_variables=mdm.level3_variables)
        hlm = overrides.get("mode") == "hlm"
        # HLM3 estimates by full ML only; numit/stopval are its EM settings (HLM mode)
        options3 = FitOptions(
            method="ml", max_iterations=cf3.max_iterations if hlm else None,
            tolerance=cf3.tolerance if hlm else None,
            sources={"command_file": cf3.source}).with_overrides(**overrides)
        return FitJob(cf3.equations, mdm, options3)
    cf = parse_command_file(path, level1_variables=mdm.level1_variables,
                            level2_variables=mdm.level2_variables)
    return FitJob(cf.spec, mdm, FitOptions.from_command_file(cf, **overrides))


def _scaled_command_file_job(args: argparse.Namespace, path: Path, overrides: dict[str, Any]
                             ) -> FitJob:
    """An HLM 6 command file fitted out of core: the command file gives the model and the
    settings, ``--level1 FILES`` (a file, glob or folder), ``--level2 FILE`` and ``--id`` the
    data, read by the engine (the names are matched against the files' columns)."""
    from openhlm.errors import MDMError
    from openhlm.scale.run import variable_names
    from openhlm.spec.commandfile import parse_command_file
    from openhlm.spec.options import FitOptions

    engine = overrides["engine"]
    if args.mdm is not None or args.level1 is None or args.id is None:
        raise MDMError(f"--engine {engine} with the command file {path} reads data files: give "
                       "--level1 FILES (a file, a glob or a folder) --id ID [--level2 FILE], "
                       "not --mdm")
    if getattr(args, "level3", None) is not None or "," in args.id:
        raise MDMError(f"--engine {engine} fits two-level models only; fit three-level "
                       "command files with --engine memory")
    level1, level2 = variable_names(args.level1, args.id, args.level2)
    cf = parse_command_file(path, level1_variables=level1, level2_variables=level2)
    return FitJob(cf.spec, ScaledData(args.level1, args.level2, args.id),
                  FitOptions.from_command_file(cf, **overrides))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The command line's settings (``None``: not given, the file's setting stays)."""
    out: dict[str, Any] = {
        "method": args.method, "mode": args.mode, "max_iterations": args.max_iterations,
        "tolerance": args.tolerance, "full": True if getattr(args, "full", False) else None,
        "distribution": getattr(args, "distribution", None),
        "trials": getattr(args, "trials", None), "exposure": getattr(args, "exposure", None),
        "quadrature_points": getattr(args, "quadrature_points", None),
        "overdispersion": getattr(args, "overdispersion", None),
        "engine": getattr(args, "engine", None), "scheduler": getattr(args, "scheduler", None)}
    ols_units = getattr(args, "ols_units", None)
    out["ols_units"] = None if ols_units is None else max(ols_units, 0)
    for key in ("exploratory", "exploratory3"):
        if getattr(args, key, None):
            out[key] = tuple(n.strip() for arg in getattr(args, key)
                             for n in arg.split(",") if n.strip())
    for name, key in (("output", "report"), ("json", "json"), ("html", "html")):
        value = getattr(args, name, None)
        out[key] = None if value is None else Path(value)
    return out


def job_from_args(args: argparse.Namespace) -> FitJob:
    """Gather the run's settings: the model's file first, then the command-line overrides."""
    from openhlm.errors import SpecError

    if (args.model is None) == (args.example is None):
        raise SpecError("give a model file (MODEL.toml or COMMANDFILE.hlm) or --example NAME "
                        "(one of them)")
    overrides = _overrides(args)
    if args.example is not None:
        job = _example_job(args, overrides)
    else:
        path = Path(args.model)
        if not path.is_file():
            raise SpecError(f"model file {path} not found")
        job = (_toml_job if path.suffix.lower() == ".toml" else _command_file_job)(
            args, path, overrides)
    given = [key for key in ("exploratory", "exploratory3") if key in overrides]
    if given:
        sources = {**job.options.sources, **{key: f"--{key}" for key in given}}
        job = FitJob(job.model, job.mdm, job.options.replace(sources=sources))
    return job


# -- running it ------------------------------------------------------------------------------

def run_fit(job: FitJob) -> HLMResults:
    """:func:`openhlm.runner.run` on the job (an MDM, or files for an out-of-core engine)."""
    from openhlm.errors import SpecError
    from openhlm.runner import run

    if isinstance(job.mdm, ScaledData):
        return run(job.model, job.mdm.level1, job.options, **job.mdm.run_arguments())
    if job.options.engine != "memory":
        raise SpecError(f"engine={job.options.engine!r} reads data files: give --level1 FILES "
                        "--id ID (and --level2 FILE) or a TOML model file with [data] files")
    return run(job.model, job.mdm, job.options)


def run_job(job: FitJob) -> tuple[Any, str]:
    """Fit the job's model (:func:`openhlm.runner.run`) and render the text report:
    ``(results, text)``; three-level models give ``HLM3Results`` and HLM3's report."""
    from openhlm.report.text import render_text
    from openhlm.results.three_level import HLM3Results

    results: Any = run_fit(job)
    if isinstance(results, HLM3Results) or not job.options.outcome.normal:
        return results, results.report()
    o = job.options.output
    text = render_text(results, ols_units=o.ols_units, full=o.full, title=o.title,
                       command_file=job.options.sources.get("command_file"))
    return results, text


def write_residual_files(results: HLMResults, residuals: Residuals) -> dict[str, Path]:
    """Write the residual files ``residuals`` names; ``{level: path}``."""
    return results.write_residuals(level2=residuals.level2, level1=residuals.level1,
                                   extra_level2=residuals.extra_level2,
                                   extra_level1=residuals.extra_level1, format=residuals.format)


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
    o = job.options.output
    to_stdout = [f"--{name}" for name, path in (("output", o.report), ("json", o.json),
                                                 ("html", o.html)) if _is_stdout(path)]
    if len(to_stdout) > 1:
        raise SpecError(f"only one output can go to standard output ('-'), not "
                        f"{' and '.join(to_stdout)}")
    report = None if _is_stdout(o.report) else o.report
    results: Any
    results, text = run_job(job)
    from openhlm.results.three_level import HLM3Results

    if report is not None:
        _write(report, text)
    elif not (_is_stdout(o.json) or _is_stdout(o.html)):
        print(text, end="")
    if o.json is not None:
        from openhlm.report.json import results_to_dict

        data = (results_to_dict(results)
                if job.options.outcome.normal and not isinstance(results, HLM3Results)
                else results.to_dict())
        _write(o.json, json.dumps(data, indent=2, allow_nan=False) + "\n")
    if o.html is not None:
        from openhlm.report.html import render_html
        from openhlm.report.text_glmm import glmm_html

        body = (results._repr_html_() if isinstance(results, HLM3Results)
                else render_html(results) if job.options.outcome.normal
                else glmm_html(results))  # type: ignore[arg-type]
        _write(o.html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>openhlm "
                       "report</title></head><body>\n" + body
                       + "\n</body></html>\n")
    if isinstance(results, HLM3Results):
        r = job.options.residuals
        if r.level1 is not None or r.level2 is not None or r.level3 is not None:
            results.write_residuals(level2=r.level2, level3=r.level3, level1=r.level1,
                                    format=r.format, extra_level1=r.extra_level1,
                                    extra_level2=r.extra_level2, extra_level3=r.extra_level3)
    elif job.options.residuals.requested:     # linear models and HGLMs alike
        write_residual_files(results, job.options.residuals)
    return 0
