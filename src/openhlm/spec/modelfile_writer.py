"""Writing TOML model files (:func:`format_model_file`) and converting HLM 6 command files
to model files (:func:`model_file_from_command_file`)."""

from __future__ import annotations

import json
from pathlib import Path, PureWindowsPath
from typing import Any, Literal

from openhlm.spec.model import ModelSpec
from openhlm.spec.modelfile_sections import (
    RESIDUAL_FORMATS,
    DataSection,
    DevianceTest,
    EstimationSection,
    HypothesesSection,
    ModelFile,
    ModelSection,
    OutputSection,
    WeightsSection,
)

__all__ = ["format_model_file", "model_file_from_command_file"]


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_path(path: Path, base: Path | None) -> str:
    if base is not None and path.is_relative_to(base):
        return _toml_string(path.relative_to(base).as_posix())
    return _toml_string(str(path))


def _toml_equations(text: str) -> str:
    q = "'" * 3
    if q not in text and "\r" not in text and not text.endswith("'"):
        return q + "\n" + text + q  # TOML drops the line break right after the opening quotes
    return _toml_string(text)


def format_model_file(mf: ModelFile) -> str:
    """The TOML text of a model file; :func:`parse_model_file` reads it back to ``mf``.

    Paths inside the folder of ``mf.path`` are written relative to it, others as they are.
    """
    base = mf.path.parent if mf.path is not None else None
    d, m, e, w, h, o = mf.data, mf.model, mf.estimation, mf.weights, mf.hypotheses, mf.output
    out = [f"title = {_toml_string(mf.title)}", "", "[data]"]
    for key in ("level1", "level2", "level3", "mdm"):
        if getattr(d, key) is not None:
            out.append(f"{key} = {_toml_path(getattr(d, key), base)}")
    if d.id is not None and d.id3 is not None:
        out.append(f"id = [{_toml_string(d.id)}, {_toml_string(d.id3)}]")
    elif d.id is not None:
        out.append(f"id = {_toml_string(d.id)}")
    out.append(f"missing = {_toml_string(d.missing)}")
    if d.engine != "memory":
        out.append(f"engine = {_toml_string(d.engine)}")
    if d.scheduler is not None:
        out.append(f"scheduler = {_toml_string(d.scheduler)}")
    out += ["", "[model]",
            f"equations = {_toml_equations(m.equations)}"]
    out.append("constraints = [" + ", ".join(map(_toml_string, m.constraints)) + "]")
    out.append("heterogeneous_sigma2 = ["
               + ", ".join(map(_toml_string, m.heterogeneous_sigma2)) + "]")
    if m.distribution != "normal":
        out.append(f"distribution = {_toml_string(m.distribution)}")
        for key in ("trials", "exposure"):
            if getattr(m, key) is not None:
                out.append(f"{key} = {_toml_string(getattr(m, key))}")
        if m.overdispersion:
            out.append("overdispersion = true")
    out += ["", "[estimation]", f"method = {_toml_string(e.method)}",
            f"mode = {_toml_string(e.mode)}", f"max_iterations = {e.max_iterations}",
            f"tolerance = {e.tolerance!r}"]
    if e.quadrature_points is not None:
        out.append(f"quadrature_points = {e.quadrature_points}")
    for key in ("macro_iterations", "micro_iterations", "stop_macro", "stop_micro"):
        if getattr(e, key) is not None:
            out.append(f"{key} = {getattr(e, key)!r}")
    out += ["", "[weights]"]
    for key in ("level1", "level2", "level3", "precision"):
        if getattr(w, key, None) is not None:
            out.append(f"{key} = {_toml_string(getattr(w, key))}")
    normalize = (_toml_string(w.normalize) if isinstance(w.normalize, str)
                 else "true" if w.normalize else "false")
    out += [f"normalize = {normalize}", "", "[hypotheses]"]
    glh = ", ".join("[" + ", ".join(map(_toml_string, rows)) + "]" for rows in h.glh)
    out += [f"glh = [{glh}]", f"homogeneity = {'true' if h.homogeneity else 'false'}"]
    if h.deviance_test is not None:
        convention = ("" if h.deviance_test.convention == "standard" else
                      f", convention = {_toml_string(h.deviance_test.convention)}")
        out.append(f"deviance_test = {{deviance = {h.deviance_test.deviance!r}, "
                   f"parameters = {h.deviance_test.parameters}{convention}}}")
    out += ["", "[output]"]
    for key in ("report", "json", "html", "level1_residuals", "level2_residuals",
                "level3_residuals"):
        if getattr(o, key) is not None:
            out.append(f"{key} = {_toml_path(getattr(o, key), base)}")
    out.append(f"format = {_toml_string(o.format)}")
    for key in ("exploratory", "exploratory3"):
        if getattr(o, key):
            out.append(f"{key} = [" + ", ".join(map(_toml_string, getattr(o, key))) + "]")
    return "\n".join(out) + "\n"


def _contrast_text(row: tuple[float, ...], gammas: tuple[str, ...]) -> str:
    """``(0, 1, 0, 0, -1, 0)`` -> ``"G01 - G11 = 0"``."""
    terms: list[str] = []
    for value, gamma in zip(row, gammas):
        if value == 0:
            continue
        size = abs(value)
        coef = "" if size == 1 else f"{size:g}*"
        sign = "-" if value < 0 else "+"
        if not terms:
            terms.append(("-" if value < 0 else "") + coef + gamma)
        else:
            terms.append(f"{sign} {coef}{gamma}")
    return (" ".join(terms) or "0") + " = 0"


def model_file_from_command_file(
    command: Any, data: DataSection, *, path: str | Path | None = None,
    title: str | None = None, mode: Literal["exact", "hlm"] = "hlm",
) -> ModelFile:
    """Turn a parsed HLM 6 command file into a model file (for ``openhlm`` TOML users).

    Parameters
    ----------
    command
        A :class:`~openhlm.spec.commandfile.CommandFile`.
    data
        Where the data are: HLM's ``.mdm`` named in the command file cannot be read.
    path
        Where the TOML file will be written (relative paths are written relative to it).
    title
        Defaults to the command file's title (``"no title"`` becomes ``""``).
    mode
        ``"hlm"`` (default: reproduce HLM 6's iterations, as the command file came from HLM)
        or ``"exact"``.

    Notes
    -----
    The hypotheses' contrast rows become rows such as ``"G01 - G11 = 0"``; weights are carried
    over; the output and residual files keep their file names (HLM's folders are Windows
    folders) in the TOML file's folder; display-only settings are dropped.
    """
    from openhlm.spec.printing import format_equations

    options = command.options
    spec = command.spec
    file = Path(path) if path is not None else None
    base = file.parent if file is not None else None
    gammas = spec.gamma_labels()
    glh = tuple(tuple(_contrast_text(row, gammas) for row in rows)
                for rows in command.contrasts())
    equations_only = ModelSpec(spec.outcome, spec.coefficients)

    def out(name: str | None) -> Path | None:
        if not name:
            return None
        p = Path(PureWindowsPath(name).name)  # HLM's paths are Windows paths: keep the name
        return p if base is None else base / p

    fmt = (options.resfil_type or "csv").lower()
    fmt = {"spss": "sav", "stata": "dta", "sas": "xpt"}.get(fmt, fmt)
    if fmt not in RESIDUAL_FORMATS:
        fmt = "csv"
    deviance = (DevianceTest(options.deviance, options.df)
                if options.deviance is not None and options.df is not None else None)
    return ModelFile(
        path=file,
        title=title if title is not None else
        ("" if options.title.strip().lower() == "no title" else options.title),
        data=data,
        model=ModelSection(
            equations=format_equations(equations_only) + "\n",
            constraints=tuple(str(c) for c in spec.constraints),
            heterogeneous_sigma2=spec.variance_predictors,
            distribution=getattr(options, "distribution", "normal") or "normal",
            trials=getattr(options, "trials", None),
            exposure=getattr(options, "exposure", None),
        ),
        estimation=EstimationSection(options.method, mode, options.max_iterations,
                                     options.tolerance),
        weights=WeightsSection(options.level1_weight, options.level2_weight,
                               options.variance_known),
        hypotheses=HypothesesSection(glh, options.homvar, deviance),
        output=OutputSection(
            report=out(options.output),
            level1_residuals=out(options.resfil1_name) if options.resfil1 else None,
            level2_residuals=out(options.resfil2_name) if options.resfil2 else None,
            format=fmt,
        ),
    )
