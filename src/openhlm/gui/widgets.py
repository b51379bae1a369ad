"""Pieces of the window shared by the two-level views (:mod:`openhlm.gui.views`) and the
three-level ones (:mod:`openhlm.gui.views3`): escaping, URLs, buttons that post a click, radio
groups, the variable menus, the deviance-test runs and the general-linear-hypothesis dialog.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from openhlm.gui.session import Session
from openhlm.spec.model import Centering, Predictor

__all__ = ["button", "checks", "constraints_dialog", "deviance_fields", "e", "glh_dialog",
           "in_model", "in_model3", "missing_data_fieldset", "prior_runs", "radio", "select", "show_predictor",
           "subscripted", "url", "vals", "variable_menu", "weights_fields"]

#: the subscripts of a variable at each level: two-level (i, j) and three-level (i, j, k) models
_SUBSCRIPTS = {2: {1: "ij", 2: "j", 3: ""}, 3: {1: "ijk", 2: "jk", 3: "k", 4: ""}}


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def vals(**kw: Any) -> str:
    return e(json.dumps(kw))


def url(s: Session, path: str) -> str:
    return f"/s/{s.sid}/{path}"


def button(s: Session, action: str, label: str, *, id: str | None = None,
           cls: str = "", title: str = "", **values: Any) -> str:
    attrs = f' id="{e(id)}"' if id else ""
    attrs += f' class="{e(cls)}"' if cls else ""
    attrs += f' title="{e(title)}"' if title else ""
    hv = f" hx-vals='{vals(**values)}'" if values else ""
    return (f'<button type="button"{attrs} hx-post="{url(s, "do/" + action)}"{hv} '
            f'hx-indicator="#busy">{label}</button>')


def radio(name: str, options: list[tuple[str, str]], current: str) -> str:
    return " ".join(
        f'<label><input type="radio" name="{e(name)}" value="{e(v)}" id="{e(name)}-{e(v)}"'
        f'{" checked" if v == current else ""}> {e(label)}</label>' for v, label in options)


def select(name: str, options: list[str], current: str | None, blank: str = "none") -> str:
    opts = [f'<option value=""{" selected" if not current else ""}>{e(blank)}</option>']
    opts += [f'<option value="{e(o)}"{" selected" if o == current else ""}>{e(o)}</option>'
             for o in options]
    return f'<select name="{e(name)}" id="{e(name)}">{"".join(opts)}</select>'


def checks(name: str, options: tuple[str, ...], chosen: list[str]) -> str:
    return "".join(
        f'<label class="chk"><input type="checkbox" name="{e(name)}" value="{e(o)}" '
        f'id="{e(name)}-{e(o)}"{" checked" if o in chosen else ""}> {e(o)}</label>'
        for o in options) or '<span class="hint">(none)</span>'


def deviance_fields(s: Session) -> str:
    """The deviance test: against no model, a prior model typed in (its deviance in the
    standard or in HLM's convention, and its number of parameters), or an earlier run."""
    st = s.model.settings
    prior = [("none", "no deviance test"), ("typed", "a prior model typed in"), *prior_runs(s)]
    dval = "" if st.deviance_value is None else st.deviance_value
    dpar = "" if st.deviance_parameters is None else st.deviance_parameters
    convention = radio("deviance_convention", [
        ("standard", "-2 log-likelihood (openhlm, R, Stata, SAS)"),
        ("hlm", "as HLM prints it")], st.deviance_convention)
    return (f'<p>Deviance test against: {radio("deviance_source", prior, st.deviance_source)}'
            '</p><p class="typed-prior"><label>prior deviance <input type="text" '
            f'name="deviance_value" id="deviance_value" value="{e(dval)}" size="14"></label> '
            '<label>number of parameters <input type="number" name="deviance_parameters" '
            f'id="deviance_parameters" value="{e(dpar)}"></label> '
            f'<span class="convention">typed deviance: {convention}</span></p>')


def weights_fields(s: Session, levels: tuple[int, ...]) -> str:
    """Design weights at ``levels``, the precision weight and the normalisation."""
    st = s.model.settings
    variables = {1: s.level1_variables, 2: s.level2_variables, 3: s.level3_variables}
    design = " ".join(f'level {k} {select(f"level{k}_weight", list(variables[k]), getattr(st, f"level{k}_weight"))}'
                      for k in levels)
    normalize = radio("normalize", [("within", "within units"), ("overall", "overall"),
                                    ("none", "no")], st.normalize)
    return (f'<p>Weighting: {design} precision '
            f'{select("precision_weight", list(s.level1_variables), st.precision_weight)}'
            f' normalized: {normalize}</p>')


def variable_menu(s: Session, name: str, level: int) -> str:
    vid = f"var-{name}"
    if level == 1:
        items = [("outcome", "outcome variable", "outcome"),
                 ("add", "add variable uncentered", "none"),
                 ("add", "add variable group centered", "group"),
                 ("add", "add variable grand centered", "grand"),
                 ("remove", "delete variable from model", "")]
    elif level == 2 and s.three_level:   # HLM3: centred on the level-3 unit's mean
        items = [("add", "add variable uncentered", "none"),
                 ("add", "add variable group centered", "group"),
                 ("add", "add variable grand centered", "grand"),
                 ("remove", "delete variable from model", "")]
    else:
        items = [("add", "add variable uncentered", "none"),
                 ("add", "add variable grand centered", "grand"),
                 ("remove", "delete variable from model", "")]
    chosen = in_model(s, name, level)
    buttons = "".join(
        button(s, "variable", label, id=f"{vid}-{kind if kind != 'add' else c}",
               var=name, op=kind, centring=c or "none", level=level, q=s.selected)
        for kind, label, c in items)
    cls = "var in" if chosen else "var"
    return (f'<details class="{cls}" id="{e(vid)}"><summary>{e(name.upper())}</summary>'
            f'<div class="menu">{buttons}</div></details>')


def in_model(s: Session, name: str, level: int) -> bool:
    m = s.model
    if s.three_level:
        return in_model3(s, name, level)
    if level == 1:
        return name == m.outcome or any(c.predictor is not None and c.predictor.name == name
                                        for c in m.coefs)
    return any(p.name == name for p in m.coefs[s.selected].level2) if m.coefs else False


def prior_runs(s: Session) -> list[tuple[str, str]]:
    """Earlier runs with a deviance, for the deviance test."""
    return [(f"run:{r.number}", (f"run {r.number}: deviance {r.results.deviance:.6f}, "
                                  f"{r.results.n_parameters} parameters"))
            for r in s.runs if r.results is not None and r.results.deviance is not None]


def glh_dialog(s: Session) -> str:
    st = s.model.settings
    if s.model.outcome is None:
        return '<p class="hint">Build the model to set general linear hypotheses.</p>'
    gammas = s.model.spec().gamma_labels()
    gbuttons = " ".join(button(s, "glh_gamma", g, id=f"glh-{g}", cls="gamma", gamma=g)
                        for g in gammas)
    draft = "".join(
        f'<li><input type="text" name="row" value="{e(r)}" id="glh-row-{i}" size="30"></li>'
        for i, r in enumerate(s.glh_draft))
    done = "".join(
        f'<li id="glh-hyp-{i}">{e("; ".join(rows))} '
        f'{button(s, "glh_remove", "remove", id=f"glh-remove-{i}", n=i)}</li>'
        for i, rows in enumerate(st.glh, start=1))
    err = f'<pre class="error" id="glh-error">{e(s.glh_error)}</pre>' if s.glh_error else ""
    return f"""<fieldset id="glh"><legend>General linear hypotheses</legend>
<p class="hint">Click a gamma to add a row "gamma = 0" to the hypothesis being written; edit the
rows (e.g. <code>G01 - G11 = 0</code>); then add the hypothesis. Its rows are tested jointly.</p>
<p>{gbuttons}</p>
<form id="glh-form" hx-post="{url(s, "do/glh_add")}"><ol id="glh-draft">{draft}</ol>
<button type="submit" id="glh-add">Add hypothesis {len(st.glh) + 1}</button>
{button(s, "glh_clear", "clear rows", id="glh-clear")}</form>{err}
<ol id="glh-list">{done}</ol></fieldset>"""


def in_model3(s: Session, name: str, level: int) -> bool:
    m = s.model
    if not m.pis:
        return False
    if level == 1:
        return name == m.outcome or any(p.predictor is not None and p.predictor.name == name
                                        for p in m.pis)
    if level == 2:
        pi = m.pis[min(s.selected, len(m.pis) - 1)]
        return any(b.predictor is not None and b.predictor.name == name for b in pi.betas)
    p, q = s.selected_beta
    if p >= len(m.pis) or q >= len(m.pis[p].betas):
        return False
    return any(w.name == name for w in m.pis[p].betas[q].level3)


# -- the model window's equations (two- and three-level) ---------------------------------------

def subscripted(name: str, level: int, levels: int = 2) -> str:
    """``NAME`` with the subscripts of ``level`` in a model of ``levels`` levels (X_ij, W_j)."""
    return f"{e(name.upper())}<sub>{_SUBSCRIPTS[levels][level]}</sub>"


def show_predictor(p: Predictor, level: int, levels: int = 2) -> str:
    """HLM's way: uncentred (X), group-centred (X minus the mean of the unit one level up,
    X̄.j), grand-centred (X minus the grand mean, X̄..)."""
    x = subscripted(p.name, level, levels)
    if p.centering is Centering.NONE:
        return f"({x})"
    bar = f'<span class="bar">{e(p.name.upper())}</span>'
    if p.centering is Centering.GROUP:
        mean = f"{bar}<sub>&middot;{_SUBSCRIPTS[levels][level + 1]}</sub>"
    else:
        mean = f"{bar}<sub>{'&middot;' * (levels + 1 - level)}</sub>"
    return f'(<b class="centred">{x} &minus; {mean}</b>)'


def constraints_dialog(s: Session, example: str) -> str:
    """Constraints of gammas (one per line, e.g. ``example``), checked by the library's
    parser when set."""
    m = s.model
    cerr = (f'<pre class="error" id="constraint-error">{e(s.constraint_error)}</pre>'
            if s.constraint_error else "")
    gammas = " ".join(m.spec().gamma_labels()) if m.outcome else ""
    return (f'<details class="dialog" id="constraints-dialog"'
            f'{" open" if m.constraints or cerr else ""}>'
            '<summary>Constraints of fixed effects</summary>'
            f'<form id="constraint-form" hx-post="{url(s, "do/constraints")}">'
            f'<p class="hint">One per line, e.g. <code>{e(example)}</code>. Gammas: {e(gammas)}'
            f'</p><textarea name="constraints" id="constraint-text" rows="2">'
            f'{e(chr(10).join(m.constraints))}</textarea>'
            '<button type="submit" id="apply-constraints">Set</button></form>'
            f'{cerr}</details>')


def missing_data_fieldset(s: Session) -> str:
    """The MDM dialog's choice of when records with missing values are deleted (HLM's
    "Missing data?" options), for the two- and three-level dialogs."""
    chk = {m: (" checked" if s.missing == m else "") for m in ("analysis", "listwise")}
    return ('<fieldset><legend>Missing data</legend>'
            '<label><input type="radio" name="missing" value="analysis"'
            f'{chk["analysis"]}> delete when running analyses</label> '
            '<label><input type="radio" name="missing" value="listwise"'
            f'{chk["listwise"]}> delete when making the MDM</label></fieldset>')
