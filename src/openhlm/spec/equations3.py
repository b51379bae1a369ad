"""HLM3's equation format -> :class:`~openhlm.spec.model3.ModelSpec3`.

Grammar (the lexical rules, predictors and centring of :mod:`openhlm.spec.equation_syntax`)::

    level 1   OUTCOME = P0 + P1*x + ... + E
    level 2   Pp = Bp0 + Bp1*x + ... [+ Rp]   |  Pp = Rp
    level 3   Bpq = Gpq0 + Gpq1*w + ... [+ Upq]  |  Bpq = Upq

A ``Pp`` without an equation is ``Pp = Bp0`` (fixed); a ``Bpq`` without an equation is
``Bpq = Gpq0``.  ``group(x)`` centres a level-1 variable on its level-2 unit's mean and a level-2
variable on its level-3 unit's mean; ``grand(x)`` on the grand mean of its level.  Each error is a
:class:`~openhlm.errors.SpecError` pointing at the spot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from openhlm.errors import SpecError
from openhlm.spec.constraints import constraint_nodes, resolve_constraint
from openhlm.spec.equation_syntax import (
    ConstraintNode,
    Equation,
    EquationParser,
    Term,
    equation_statements,
)
from openhlm.spec.grammar import Statement, Token
from openhlm.spec.model import Centering, Predictor
from openhlm.spec.model3 import BetaCoefficient, Level3Equation, ModelSpec3, PiCoefficient
from openhlm.spec.names import close_matches, did_you_mean, left_out_of, left_out_problem

__all__ = ["looks_three_level", "parse_model3"]

_PI = re.compile(r"^P(\d)$", re.IGNORECASE)
_BETA = re.compile(r"^B(\d)(\d)$", re.IGNORECASE)
_GAMMA = re.compile(r"^G(\d)(\d)(\d)$", re.IGNORECASE)
_R = re.compile(r"^R(\d)$", re.IGNORECASE)
_U = re.compile(r"^U(\d)(\d)$", re.IGNORECASE)
_LEVEL_WORD = {1: "level-1", 2: "level-2", 3: "level-3"}


def looks_three_level(text: str) -> bool:
    """Whether model text is in HLM3's format (a ``P`` coefficient on the left of '=')."""
    return re.search(r"(^|[\n;])\s*P\d\s*=", text, re.IGNORECASE) is not None


class _Names:
    def __init__(self, levels: dict[int, Iterable[str]]):
        self.raw = dict(levels)
        self.levels = {lv: list(names) for lv, names in levels.items()}

    def resolve(self, stmt: Statement, tok: Token, level: int) -> str:
        key = tok.text.casefold()
        for lv, names in self.levels.items():
            for name in names:
                if name.casefold() == key:
                    if lv != level:
                        raise stmt.error_at(
                            f"'{tok.text}' is a {_LEVEL_WORD[lv]} variable and cannot enter a "
                            f"{_LEVEL_WORD[level]} equation", tok)
                    return name
        every = [n for names in self.levels.values() for n in names]
        left_out: dict[str, tuple[str, str]] = {}
        for names in self.raw.values():
            left_out.update(left_out_of(names))
        problem = left_out_problem(tok.text, left_out)
        if problem is not None:
            raise stmt.error_at(problem.message, tok, problem.hint)
        raise stmt.error_at(f"unknown variable '{tok.text}'", tok,
                            did_you_mean(close_matches(tok.text, every)))


def _predictor(stmt: Statement, term: Term, names: _Names, level: int) -> Predictor:
    assert term.predictor is not None
    node = term.predictor
    name = names.resolve(stmt, node.name, level)
    if node.centering is Centering.GROUP and level == 3:
        raise stmt.error_at("level-3 variables can only be grand-mean centred", node.func
                            or node.name)
    return Predictor(name, node.centering)


def parse_model3(text: str, *, level1_variables: Iterable[str], level2_variables: Iterable[str],
                 level3_variables: Iterable[str], source: str | None = None,
                 constraints: Iterable[object] = (), first_line: int = 1) -> ModelSpec3:
    """Parse HLM3's equation format against the MDM's variables of the three levels.

    Equality constraints on gammas (``G010 = G100``, as for two-level models) may be lines of
    the model text or ``constraints`` (strings or :class:`~openhlm.spec.model.Constraint`)."""
    names = _Names({1: level1_variables, 2: level2_variables, 3: level3_variables})
    equations: list[Equation] = []
    constraint_trees: list[ConstraintNode] = []
    for stmt in equation_statements(text, source=source, first_line=first_line):
        node = EquationParser(stmt).equation()
        if isinstance(node, ConstraintNode):
            constraint_trees.append(node)
            continue
        equations.append(node)
    constraint_trees += constraint_nodes(constraints)  # type: ignore[arg-type]
    if not equations:
        raise SpecError("the model is empty; write 'outcome = P0 + P1*x + E' and the level-2 "
                        "and level-3 equations")
    level1 = [e for e in equations if not (_PI.match(e.lhs.text) or _BETA.match(e.lhs.text))]
    if len(level1) != 1:
        if not level1:
            raise SpecError("no level-1 equation (outcome = P0 + P1*x + E)")
        eq = level1[1]
        raise eq.statement.error_at("a second level-1 equation", eq.lhs)
    eq1 = level1[0]
    stmt1 = eq1.statement
    outcome = names.resolve(stmt1, eq1.lhs, 1)
    pis: dict[int, tuple[Predictor | None, Token]] = {}
    has_e = False
    for term in eq1.terms:
        head = term.head
        if head.text.upper() == "E":
            if has_e or term.predictor is not None:
                raise stmt1.error_at("E (the level-1 residual) appears once, with no predictor",
                                     head)
            has_e = True
            continue
        m = _PI.match(head.text)
        if m is None:
            raise stmt1.error_at(f"expected a coefficient such as P1*x or E here, found "
                                 f"'{head.text}'", head)
        p = int(m[1])
        if p in pis:
            raise stmt1.error_at(f"duplicated term 'P{p}'", head)
        if p == 0 and term.predictor is not None:
            raise stmt1.error_at("P0 is the intercept and takes no predictor", head)
        if p > 0 and term.predictor is None:
            raise stmt1.error_at(f"P{p} needs a level-1 predictor (P{p}*x)", head)
        pis[p] = (None if p == 0 else _predictor(stmt1, term, names, 1), head)
    if not has_e:
        raise stmt1.error("the level-1 equation needs the residual E", len(stmt1.text.rstrip()))

    pi_eqs: dict[int, Equation] = {}
    beta_eqs: dict[tuple[int, int], Equation] = {}
    for eq in equations:
        if eq is eq1:
            continue
        m = _PI.match(eq.lhs.text)
        if m:
            p = int(m[1])
            if p not in pis:
                raise eq.statement.error_at(f"P{p} is not in the level-1 equation", eq.lhs)
            if p in pi_eqs:
                raise eq.statement.error_at(f"a second equation for P{p}", eq.lhs)
            pi_eqs[p] = eq
            continue
        m = _BETA.match(eq.lhs.text)
        assert m is not None
        key = (int(m[1]), int(m[2]))
        if key in beta_eqs:
            raise eq.statement.error_at(f"a second equation for {eq.lhs.text}", eq.lhs)
        beta_eqs[key] = eq

    out_pis = []
    declared: set[tuple[int, int]] = set()
    for p in sorted(pis):
        predictor, _ = pis[p]
        betas: list[tuple[int, Predictor | None]] = []
        random = False
        pi_eq = pi_eqs.get(p)
        if pi_eq is None:
            betas = [(0, None)]
        else:
            stmt = pi_eq.statement
            for term in pi_eq.terms:
                head = term.head
                mr = _R.match(head.text)
                if mr is not None:
                    if int(mr[1]) != p or term.predictor is not None or random:
                        raise stmt.error_at(f"the random effect of P{p} is R{p}", head)
                    random = True
                    continue
                mb = _BETA.match(head.text)
                if mb is None or int(mb[1]) != p:
                    raise stmt.error_at(f"expected B{p}0, B{p}1*x, ... or R{p} here, found "
                                        f"'{head.text}'", head)
                q = int(mb[2])
                if any(q == b for b, _ in betas):
                    raise stmt.error_at(f"duplicated term '{head.text}'", head)
                if q == 0 and term.predictor is not None:
                    raise stmt.error_at(f"B{p}0 is INTRCPT2 and takes no predictor", head)
                if q > 0 and term.predictor is None:
                    raise stmt.error_at(f"B{p}{q} needs a level-2 predictor", head)
                betas.append((q, None if q == 0 else _predictor(stmt, term, names, 2)))
        beta_objs = []
        for q, xq in betas:
            declared.add((p, q))
            beta_objs.append(BetaCoefficient(p, q, xq, _level3(beta_eqs.get((p, q)), p, q,
                                                              names)))
        out_pis.append(PiCoefficient(p, predictor, tuple(beta_objs), random))
    for key, eq in beta_eqs.items():
        if key not in declared:
            raise eq.statement.error_at(f"{eq.lhs.text} is not in a level-2 equation", eq.lhs)
    spec = ModelSpec3(outcome=outcome, pis=tuple(out_pis))
    if not spec.gamma_labels() and not spec.random_pis and not spec.random_betas:
        raise SpecError("the model has no fixed and no random effects")
    if constraint_trees:
        gammas = spec.gamma_labels()
        taken: dict[str, str] = {}
        resolved = tuple(resolve_constraint(node, gammas, taken) for node in constraint_trees)
        spec = ModelSpec3(outcome=outcome, pis=spec.pis,
                          constraints=tuple(dict.fromkeys(resolved)))
    return spec


def _level3(eq: Equation | None, p: int, q: int, names: _Names) -> Level3Equation:
    if eq is None:
        return Level3Equation()
    stmt = eq.statement
    intercept, random = False, False
    predictors: list[Predictor] = []
    for term in eq.terms:
        head = term.head
        mu = _U.match(head.text)
        if mu is not None:
            if (int(mu[1]), int(mu[2])) != (p, q) or term.predictor is not None or random:
                raise stmt.error_at(f"the random effect of B{p}{q} is U{p}{q}", head)
            random = True
            continue
        mg = _GAMMA.match(head.text)
        if mg is None or (int(mg[1]), int(mg[2])) != (p, q):
            raise stmt.error_at(f"expected G{p}{q}0, G{p}{q}1*w, ... or U{p}{q} here, found "
                                f"'{head.text}'", head)
        s = int(mg[3])
        if s == 0:
            if term.predictor is not None or intercept:
                raise stmt.error_at(f"G{p}{q}0 is INTRCPT3: once, with no predictor", head)
            intercept = True
        else:
            if term.predictor is None:
                raise stmt.error_at(f"G{p}{q}{s} needs a level-3 predictor", head)
            if s != len(predictors) + 1:
                raise stmt.error_at(f"number the level-3 predictors G{p}{q}1, G{p}{q}2, ... in "
                                    "order", head)
            predictors.append(_predictor(stmt, term, names, 3))
    return Level3Equation(intercept, tuple(predictors), random)
