"""Writing HLM 6 command files: :func:`write_command_file` (read back by
:func:`openhlm.spec.commandfile.parse_command_file`)."""

from __future__ import annotations

from openhlm.errors import CommandFileError
from openhlm.spec.commandfile_reader import CommandOptions
from openhlm.spec.model import Centering, Coefficient, ModelSpec

__all__ = ["write_command_file"]


def _yn(flag: bool) -> str:
    return "y" if flag else "n"


def _float_text(value: float) -> str:
    fixed = f"{value:.10f}"
    return fixed if float(fixed) == value else repr(value)


def _level1_line(spec: ModelSpec) -> str:
    codes = {Centering.NONE: "", Centering.GROUP: ",1", Centering.GRAND: ",2"}
    terms = ["INTRCPT1"] if spec.has_intercept else []
    terms += [
        f"{c.predictor.name.upper()}{codes[c.predictor.centering]}"
        for c in spec.coefficients
        if c.predictor is not None
    ]
    return f"level1:{spec.outcome.upper()}=" + "+".join(terms + ["RANDOM"])


def _level2_line(coef: Coefficient) -> str:
    eq = coef.equation
    terms = ["INTRCPT2"] if eq.intercept else []
    terms += [
        p.name.upper() + (",2" if p.centering is Centering.GRAND else "") for p in eq.predictors
    ]
    if eq.random:
        terms.append("random")
    lhs = "INTRCPT1" if coef.predictor is None else coef.predictor.name.upper()
    return f"level2:{lhs}=" + "+".join(terms) + "/"


def _nonlin_line(o: CommandOptions) -> str:
    """``nonlin:n``, or the HGLM's sampling model (trials / exposure in openhlm's form)."""
    if o.distribution == "normal":
        return "nonlin:n"
    variable = o.trials or o.exposure
    return f"nonlin:{o.distribution}" + (f",{variable.upper()}" if variable else "")


def _hglm_lines(o: CommandOptions) -> list[str]:
    """PQL's iteration settings (HGLMs only, when set)."""
    if o.distribution == "normal":
        return []
    return [f"{key}:{value}" for key, value in (
        ("macroit", o.macro_iterations), ("microit", o.micro_iterations),
        ("stopmacro", None if o.stop_macro is None else _float_text(o.stop_macro)),
        ("stopmicro", None if o.stop_micro is None else _float_text(o.stop_micro)))
        if value is not None]


def write_command_file(
    spec: ModelSpec, options: CommandOptions | None = None, *, mdm: str = "model.mdm"
) -> str:
    """An HLM 6 command file for ``spec`` and ``options``; it parses back to both.

    Names are written upper-case, as HLM does.  Constraints and heterogeneous sigma^2 use the
    openhlm forms ``constrain:G02=G12`` and ``heterol1var:FEMALE``.
    """
    o = options or CommandOptions()
    out = [
        f"#WHLM CMD FILE FOR {mdm}",
        _nonlin_line(o),
        f"numit:{o.max_iterations}",
        f"stopval:{_float_text(o.tolerance)}",
        _level1_line(spec),
        *[_level2_line(c) for c in spec.coefficients],
        "fixtau:3",
        f"lev1ols:{o.lev1ols}",
        f"accel:{o.accel}",
        *_hglm_lines(o),
        *o.hypotheses,
    ]
    if o.deviance is not None and o.df is not None:
        out += [f"deviance:{o.deviance!r}", f"df:{o.df}"]
    out += [
        f"level1weight:{o.level1_weight.upper() if o.level1_weight else 'none'}",
        f"level2weight:{o.level2_weight.upper() if o.level2_weight else 'none'}",
        f"varianceknown:{o.variance_known.upper() if o.variance_known else 'none'}",
        f"level1deletion:{o.level1_deletion}",
        f"hypoth:{_yn(o.hypoth)}",
    ]
    if o.resfil_type:
        out.append(f"resfiltype:{o.resfil_type}")
    for n, flag, name, variables in ((1, o.resfil1, o.resfil1_name, o.resfil1_variables),
                                     (2, o.resfil2, o.resfil2_name, o.resfil2_variables)):
        extra = "/" + ",".join(v.upper() for v in variables) if variables else ""
        out.append(f"resfil{n}:{_yn(flag)}{extra}")
        if name:
            out.append(f"resfil{n}name:{name}")
    constraints = ";".join(str(c).replace(" ", "") for c in spec.constraints)
    hetero = ",".join(v.upper() for v in spec.variance_predictors)
    out += [
        f"homvar:{_yn(o.homvar)}",
        f"constrain:{constraints or 'n'}",
        f"heterol1var:{hetero or 'n'}",
        f"title:{o.title}",
    ]
    if o.output:
        out.append(f"output:{o.output}")
    out += [f"fulloutput:{_yn(o.fulloutput)}", f"mlf:{_yn(o.method == 'ml')}"]
    for line in out:
        if "\n" in line or "\r" in line:
            raise CommandFileError(f"cannot write a command file line with a line break: {line!r}")
    return "\n".join(out) + "\n"
