"""Reading HLM 6 command files of three-level models (HLM3 ``.hlm``) into a ModelSpec3.

No SSI document of the HLM3 command file was found; the format below is the one written by
two public generators of HLM 6 HLM3 command files, which agree with each other and with the
HLM2 format (:mod:`openhlm.spec.commandfile`): Sean F. Reardon's Stata package ``hlm``
(``hlm3.ado``, version 2.0, 2005; "writes an hlm3 command file ... hlm v.6") and an R wrapper
that renders HLM3 ``.hlm`` files from a model list (its directive list and the depth-first
order of the equations).  docs/three-level.md cites them::

    #WHLM CMD FILE FOR eg.mdm
    nonlin:n
    numit:100
    stopval:0.0000010000
    level1:MATH=INTRCPT1+YEAR+RANDOM
    level2:INTRCPT1=INTRCPT2+FEMALE,1+random/
    level3:INTRCPT2=INTRCPT3+MOBILITY,2+random/
    level3:FEMALE=INTRCPT3+LOWINC/
    level2:YEAR=INTRCPT2+random/
    level3:INTRCPT2=INTRCPT3+random/

* ``level1:`` as for HLM2: the outcome, ``INTRCPT1``, level-1 predictors (``,1`` group-mean
  centred within level-2 units, ``,2`` grand-mean centred) and ``RANDOM``;
* one ``level2:`` line per level-1 coefficient (``INTRCPT1`` or the predictor's name), with
  ``INTRCPT2``, level-2 predictors (``,1`` centred on the level-3 unit's mean, ``,2`` on the
  grand mean) and ``random`` (the r of that coefficient), ending in ``/``;
* after each ``level2:`` line, one ``level3:`` line per coefficient of that equation
  (``INTRCPT2`` or the level-2 predictor's name), with ``INTRCPT3``, level-3 predictors (``,2``
  grand-mean centred; level-3 variables have no group to centre on) and ``random`` (the u).
  A coefficient without a ``level3:`` line is fixed (``B = G``).

Keys read: ``nonlin`` (``n`` only), ``numit``, ``stopval``, ``level1``, ``level2``, ``level3``,
``accel`` (only 5, HLM's default, is implemented); display and bookkeeping keys written by those
generators (``fixtau2``, ``fixtau3``, ``fishertype``, ``graphgammas``, ``title``, ``output``,
``fulloutput``, ``level1deletion``) are recorded in ``ignored_keys``; ``hypoth``,
``resfil1-3``, ``constrain``, ``lvr-beta``, ``level1-3weight`` and ``varianceknown`` are
accepted when switched off (``n``/``none``) and refused otherwise.  Every other key (including
HLM2-only ones such as ``mlf``, ``homvar``, ``heterol1var``: HLM3 estimates by full ML only) is
a :class:`~openhlm.errors.CommandFileError` naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openhlm.errors import CommandFileError, SpecError
from openhlm.spec.commandfile_model import OFF_VALUES, CommandLine, split_command_lines
from openhlm.spec.defaults import HLM_LIMITS
from openhlm.spec.equations3 import parse_model3
from openhlm.spec.model3 import ModelSpec3
from openhlm.spec.names import close_matches, did_you_mean, left_out_of, left_out_problem

__all__ = ["CommandFile3", "parse_command_file3"]

_IGNORED = {"fixtau2", "fixtau3", "fishertype", "graphgammas", "title", "output",
            "fulloutput", "level1deletion"}
_OFF_ONLY = {"hypoth": "hypothesis tests from a command file",
             "resfil1": "residual files from a command file",
             "resfil2": "residual files from a command file",
             "resfil3": "residual files from a command file",
             "constrain": "constraints", "lvr-beta": "latent variable regression",
             "level1weight": "weights", "level2weight": "weights", "level3weight": "weights",
             "varianceknown": "known variances"}
_KNOWN = {"nonlin", "numit", "stopval", "level1", "level2", "level3", "accel"} | _IGNORED \
    | set(_OFF_ONLY)


@dataclass(frozen=True)
class CommandFile3:
    """An HLM3 command file read: the model, the equations it was read into, HLM's iteration
    settings and the keys ignored."""

    source: str
    mdm: str
    spec: ModelSpec3
    equations: str
    max_iterations: int
    tolerance: float
    ignored_keys: tuple[str, ...]


class _Names:
    def __init__(self, level1, level2, level3):
        self.levels = {1: list(level1), 2: list(level2), 3: list(level3)}
        self.left_out = {**left_out_of(level1), **left_out_of(level2), **left_out_of(level3)}

    def resolve(self, line: CommandLine, name: str, level: int, col: int) -> str:
        for lev, names in self.levels.items():
            found = [n for n in names if n.lower() == name.lower()]
            if found and lev == level:
                return found[0]
            if found:
                raise line.error(f"'{name}' is a level-{lev} variable and cannot enter a "
                                 f"level-{level} equation", col, len(name))
        problem = left_out_problem(name, self.left_out)
        if problem is not None:
            raise line.error(problem.message, col, len(name), problem.hint)
        hint = did_you_mean(close_matches(name, self.levels[level]))
        raise line.error(f"unknown level-{level} variable '{name}'", col, len(name), hint)


def _terms(line: CommandLine) -> tuple[str, list[tuple[str, int]]]:
    """(left-hand side, [(term, column)]) of ``LHS=T1+T2+.../``."""
    value = line.value.rstrip()
    if "=" not in value:
        raise line.error("expected NAME=TERM+TERM+...")
    lhs, rhs = value.split("=", 1)
    col = line.value_start + len(lhs) + 1
    rhs = rhs.removesuffix("/")
    out = []
    for term in rhs.split("+"):
        if not term.strip():
            raise line.error("empty term", col, 1)
        out.append((term.strip(), col + len(term) - len(term.lstrip())))
        col += len(term) + 1
    return lhs.strip(), out


def _predictor(line: CommandLine, names: _Names, term: str, col: int, level: int) -> str:
    name, _, centre = term.partition(",")
    name = names.resolve(line, name.strip(), level, col)
    centre = centre.strip()
    if centre in ("", "0"):
        return name
    if centre == "2":
        return f"grand({name})"
    if centre == "1" and level < 3:
        return f"group({name})"
    if centre == "1":
        raise line.error(f"level-3 variable '{name}' cannot be group-mean centred (,1): "
                         "level-3 variables can only be grand-mean centred (,2)", col, len(term))
    raise line.error(f"unknown centring code ',{centre}' (HLM: ,1 group mean, ,2 grand mean)",
                     col, len(term))


def _read(path_or_text: str | Path) -> tuple[str, str]:
    if isinstance(path_or_text, str) and ("\n" in path_or_text
                                          or path_or_text.lstrip().startswith("#WHLM")):
        return path_or_text, "<command file>"
    path = Path(path_or_text)
    try:
        return path.read_text(encoding="latin-1"), str(path)
    except OSError as exc:
        raise CommandFileError(f"{path}: cannot read the command file ({exc.strerror})") from None


def parse_command_file3(path_or_text: str | Path, *, level1_variables, level2_variables,
                        level3_variables) -> CommandFile3:
    """Read an HLM 6 HLM3 command file (module docstring) against the MDM's variables."""
    text, source = _read(path_or_text)
    mdm, lines = split_command_lines(text, source)
    names = _Names(level1_variables, level2_variables, level3_variables)
    seen: dict[str, int] = {}
    ignored: list[str] = []
    level1: CommandLine | None = None
    blocks: list[tuple[CommandLine, list[CommandLine]]] = []
    numit, stopval = HLM_LIMITS.max_iterations, HLM_LIMITS.tolerance
    for line in lines:
        key = line.key
        if key not in _KNOWN:
            hint = did_you_mean(close_matches(key, sorted(_KNOWN)))
            raise line.error(f"key '{key}' is not read from HLM3 command files (not in the "
                             "documented HLM3 format)", 0, len(key) or 1, hint)
        if key not in ("level2", "level3"):
            if key in seen:
                raise line.error(f"key '{key}' given twice (first in line {seen[key]})", 0,
                                 len(key))
            seen[key] = line.number
        value = line.value.strip()
        if key == "nonlin" and value.lower() not in ("n", "no", ""):
            raise line.error(f"three-level HGLM (nonlin:{value}) is not supported")
        elif key == "numit":
            numit = _number(line, int)
        elif key == "stopval":
            stopval = _number(line, float)
        elif key == "accel" and value not in ("5", ""):
            raise line.error(f"accel:{value}: only HLM's default accelerator (accel:5) is "
                             "implemented")
        elif key in _OFF_ONLY:
            if value.lower() not in OFF_VALUES:
                raise line.error(f"{_OFF_ONLY[key]} ({key}:{value}) are not read from HLM3 "
                                 "command files", hint=f" (remove the line or set {key}:n)")
            ignored.append(key)
        elif key in _IGNORED:
            ignored.append(key)
        elif key == "level1":
            level1 = line
        elif key == "level2":
            blocks.append((line, []))
        elif key == "level3":
            if not blocks:
                raise line.error("a level3: line must follow the level2: line of its "
                                 "level-1 coefficient", 0, len(key))
            blocks[-1][1].append(line)
    if level1 is None:
        raise CommandFileError(f"{source}: no level1: line (the level-1 equation)")
    equations = _equations(level1, blocks, names)
    try:
        spec = parse_model3(equations, level1_variables=level1_variables,
                            level2_variables=level2_variables,
                            level3_variables=level3_variables)
    except SpecError as exc:
        raise CommandFileError(f"{source}: the model read from the command file is not valid: "
                               f"{exc}") from None
    return CommandFile3(source=source, mdm=mdm, spec=spec, equations=equations,
                        max_iterations=numit, tolerance=stopval, ignored_keys=tuple(ignored))


def _number(line: CommandLine, kind: type) -> int | float:
    try:
        x = kind(line.value.strip().split(",")[0])
    except ValueError:
        raise line.error(f"expected a number, not '{line.value.strip()}'") from None
    if x <= 0:
        raise line.error(f"{line.key} must be positive")
    return x


def _equations(level1: CommandLine, blocks, names: _Names) -> str:
    outcome, terms = _terms(level1)
    outcome = names.resolve(level1, outcome, 1, level1.value_start)
    coefs: dict[str, int] = {}
    rhs, p, has_e = [], 0, False
    for term, col in terms:
        upper = term.upper()
        if upper == "INTRCPT1":
            coefs["INTRCPT1"] = 0
            rhs.append("P0")
        elif upper == "RANDOM":
            has_e = True
        else:
            p += 1
            pred = _predictor(level1, names, term, col, 1)
            coefs[term.partition(",")[0].strip().upper()] = p
            rhs.append(f"P{p}*{pred}")
    if not has_e:
        raise level1.error("the level-1 equation needs RANDOM (the level-1 residual)")
    lines = [f"{outcome} = {' + '.join(rhs)} + E"]
    done: set[int] = set()
    level3_lines = []
    for line, level3 in blocks:
        lhs, terms = _terms(line)
        if lhs.upper() not in coefs:
            raise line.error(f"'{lhs}' is not a coefficient of the level-1 equation "
                             f"({', '.join(coefs)})", line.value_start, len(lhs))
        p = coefs[lhs.upper()]
        if p in done:
            raise line.error(f"a second level2: line for {lhs}", line.value_start, len(lhs))
        done.add(p)
        rhs, q, betas = [], 0, {}
        random = False
        for term, col in terms:
            upper = term.upper()
            if upper == "INTRCPT2":
                betas["INTRCPT2"] = 0
                rhs.append(f"B{p}0")
            elif upper == "RANDOM":
                random = True
            else:
                q += 1
                pred = _predictor(line, names, term, col, 2)
                betas[term.partition(",")[0].strip().upper()] = q
                rhs.append(f"B{p}{q}*{pred}")
        if random:
            rhs.append(f"R{p}")
        if not rhs:
            raise line.error("an empty level-2 equation")
        lines.append(f"P{p} = {' + '.join(rhs)}")
        seen3: set[int] = set()
        for l3 in level3:
            lhs3, terms3 = _terms(l3)
            if lhs3.upper() not in betas:
                raise l3.error(f"'{lhs3}' is not a coefficient of the level-2 equation of "
                               f"{lhs} (line {line.number}: {', '.join(betas)})",
                               l3.value_start, len(lhs3))
            q = betas[lhs3.upper()]
            if q in seen3:
                raise l3.error(f"a second level3: line for {lhs3}", l3.value_start, len(lhs3))
            seen3.add(q)
            rhs3, s, random3 = [], 0, False
            for term, col in terms3:
                upper = term.upper()
                if upper == "INTRCPT3":
                    rhs3.append(f"G{p}{q}0")
                elif upper == "RANDOM":
                    random3 = True
                else:
                    s += 1
                    rhs3.append(f"G{p}{q}{s}*{_predictor(l3, names, term, col, 3)}")
            if random3:
                rhs3.append(f"U{p}{q}")
            if not rhs3:
                raise l3.error("an empty level-3 equation")
            level3_lines.append(f"B{p}{q} = {' + '.join(rhs3)}")
    return "\n".join(lines + level3_lines) + "\n"
