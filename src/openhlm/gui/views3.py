"""HTML of the three-level (HLM3) window: the MDM dialog with two IDs and three files, the
model window with level-1, level-2 and level-3 equations (pi, beta, gamma; e, r and u), and the
settings HLM3 runs take.

As in :mod:`openhlm.gui.views`: no statistics, every number comes from the library.
"""

from __future__ import annotations

from openhlm.gui.session import Session
from openhlm.gui.widgets import (
    button,
    checks,
    constraints_dialog,
    deviance_fields,
    e,
    glh_dialog,
    missing_data_fieldset,
    radio,
    show_predictor,
    subscripted,
    url,
    variable_menu,
    weights_fields,
)
from openhlm.spec.model import Predictor
from openhlm.spec.modelfile import RESIDUAL_FORMATS

__all__ = ["mdm_form3", "model_view3", "settings_view3"]



# ------------------------------------------------------------------------------ MDM dialog
def mdm_form3(s: Session) -> str:
    """HLM3's MDM dialog: the level-2 and level-3 IDs, the variables of each file."""
    t1 = s.tables["level1"][1]
    l2, l3 = s.tables.get("level2"), s.tables.get("level3")
    cols = {1: list(t1.columns), 2: list(l2[1].columns) if l2 else [],
            3: list(l3[1].columns) if l3 else []}
    if l2 and l3:
        lower2 = {c.lower() for c in cols[2]}
        ids2 = [c for c in cols[1] if c.lower() in lower2]
        ids3 = [c for c in cols[2] if c.lower() in {x.lower() for x in cols[3]}]
    else:
        ids2 = ids3 = cols[1]
    id2 = s.id_variable if s.id_variable in ids2 else (ids2[0] if ids2 else "")
    id3 = s.id3_variable if s.id3_variable in ids3 else (
        ids3[1] if len(ids3) > 1 and not (l2 and l3) else ids3[0] if ids3 else "")

    def options(names: list[str], chosen: str) -> str:
        return "".join(f'<option value="{e(c)}"{" selected" if c == chosen else ""}>{e(c)}'
                       '</option>' for c in names)

    ids = {id2.lower(), id3.lower()}

    def boxes(level: int, names: list[str], checked: bool) -> str:
        return "".join(
            f'<label class="chk"><input type="checkbox" name="vars{level}" value="{e(c)}" '
            f'id="vars{level}-{e(c)}"{" checked" if checked else ""}> {e(c)}</label>'
            for c in names if c.lower() not in ids) or '<span class="hint">(none)</span>'

    files = ", ".join(e(t[0]) for t in (s.tables["level1"], l2, l3) if t)
    rows = [f'<form id="mdm-form" hx-post="{url(s, "do/make_mdm")}" hx-indicator="#busy">',
            f'<h3>Variables ({files})</h3>',
            (f'<label>Level-2 ID <select name="id" id="id-select">{options(ids2, id2)}'
             '</select></label> '),
            (f'<label>Level-3 ID <select name="id3" id="id3-select">{options(ids3, id3)}'
             '</select></label>')]
    if l2 and l3:
        for level in (1, 2, 3):
            rows.append(f'<fieldset><legend>Level-{level} variables</legend>'
                        f'{boxes(level, cols[level], True)}</fieldset>')
    else:
        rows.append('<p class="hint">One file holding all three levels: tick the variables of '
                    'a level to choose them, or leave a level empty to let openhlm find its '
                    'variables (those constant within every level-3 unit are level-3 '
                    'variables, those constant within every level-2 unit level-2 '
                    'variables).</p>')
        for level in (1, 2, 3):
            rows.append(f'<fieldset><legend>Level-{level} variables</legend>'
                        f'{boxes(level, cols[1], False)}</fieldset>')
    rows.append(missing_data_fieldset(s))
    rows.append('<button type="submit" id="make-mdm">Make the MDM</button></form>')
    return "".join(rows)


# ---------------------------------------------------------------------------- model window
def _sub(name: str, level: int) -> str:
    return subscripted(name, level, levels=3)


def show_predictor3(p: Predictor, level: int) -> str:
    """HLM3's way: (X), group-centred (X - X̄ of the unit one level up), grand-centred."""
    return show_predictor(p, level, levels=3)


def equations_html3(s: Session) -> str:
    m = s.model
    if m.outcome is None:
        return ('<p class="hint" id="no-outcome">Click a level-1 variable and choose '
                '"outcome variable".</p>')
    terms = []
    for i, pi in enumerate(m.pis):
        name = f"&pi;<sub>{m.pi_index(i)}jk</sub>"
        terms.append(name if pi.predictor is None else
                     f"{name}*{show_predictor3(pi.predictor, 1)}")
    lines = [(f'<div class="eq level1"><span class="lvl">LEVEL 1 MODEL</span> '
              f'{_sub(m.outcome, 1)} = {" + ".join(terms + ["e<sub>ijk</sub>"])}</div>'),
             '<div class="lvl">LEVEL 2 MODEL</div>']
    level3 = []
    for i, pi in enumerate(m.pis):
        p = m.pi_index(i)
        parts = []
        for j, beta in enumerate(pi.betas):
            q = m.beta_index(i, j)
            name = f"&beta;<sub>{p}{q}k</sub>"
            parts.append(name if beta.predictor is None else
                         f"{name}*{show_predictor3(beta.predictor, 2)}")
            gammas = [f"&gamma;<sub>{p}{q}0</sub>"] if beta.intercept3 else []
            gammas += [f"&gamma;<sub>{p}{q}{k}</sub>*{show_predictor3(w, 3)}"
                       for k, w in enumerate(beta.level3, start=1)]
            u = button(s, "random3", f"u<sub>{p}{q}k</sub>", id=f"u{i}-{j}",
                       cls="u " + ("on" if beta.random else "off"),
                       title="click to make this coefficient random / fixed at level 3",
                       p=i, q=j, term="u")
            sel = button(s, "select_beta", name, id=f"beta{i}-{j}",
                         cls="beta" + (" selected" if s.level == 3 and s.selected_beta == (i, j)
                                       else ""),
                         title="click, then add level-3 variables to this equation", p=i, q=j)
            level3.append(f'<div class="eq level3">{sel} = {" + ".join(gammas + [u])}</div>')
        r = button(s, "random3", f"r<sub>{p}jk</sub>", id=f"r{i}",
                   cls="u " + ("on" if pi.random else "off"),
                   title="click to make this coefficient random / fixed at level 2", p=i,
                   term="r")
        sel = button(s, "select", f"&pi;<sub>{p}jk</sub>", id=f"pi{i}",
                     cls="beta" + (" selected" if s.level == 2 and s.selected == i else ""),
                     title="click, then add level-2 variables to this equation", q=i)
        lines.append(f'<div class="eq level2">{sel} = {" + ".join(parts + [r])}</div>')
    lines.append('<div class="lvl">LEVEL 3 MODEL</div>')
    return "".join(lines + level3)


def model_view3(s: Session) -> str:
    m = s.model
    level = s.level
    variables = {1: s.level1_variables, 2: s.level2_variables, 3: s.level3_variables}[level]
    lvl_buttons = "".join(
        button(s, "level", f"Level-{k}", id=f"level-{k}",
               cls="lvlbtn" + (" active" if level == k else ""), level=k) for k in (1, 2, 3))
    note = ""
    if level == 2 and m.pis:
        note = (f'<p class="hint">adding to the equation of &pi;<sub>'
                f'{m.pi_index(min(s.selected, len(m.pis) - 1))}jk</sub></p>')
    elif level == 3 and m.pis:
        p, q = s.selected_beta
        note = (f'<p class="hint">adding to the equation of &beta;<sub>{m.pi_index(p)}'
                f'{m.beta_index(p, q)}k</sub></p>')
    varlist = (f'<div class="varlist three"><div class="lvlbtns">{lvl_buttons}</div>{note}'
               f'<div class="var intercept">INTRCPT{level}</div>'
               + "".join(variable_menu(s, v, level) for v in variables) + "</div>")
    text = s.eq_draft if s.eq_draft is not None else m.equations_text()
    err = (f'<pre class="error" id="equation-error">{e(s.eq_error)}</pre>'
           if s.eq_error else "")
    return f"""<div class="modelwin">{varlist}
<div class="equations"><div class="eqbox" id="equations">{equations_html3(s)}</div>
<p class="hint">Click &pi; to add level-2 predictors to its equation, &beta; to add level-3
predictors to its equation; r and u make a coefficient random at level 2 / level 3.</p>
<form id="equation-form" hx-post="{url(s, "do/equations")}" hx-indicator="#busy">
<label for="equation-text">Equation text, HLM3's format (typing and clicking stay in
sync)</label>
<textarea name="text" id="equation-text" rows="7" spellcheck="false">{e(text)}</textarea>
<button type="submit" id="apply-equations">Apply the equations</button></form>{err}
{constraints_dialog3(s)}
<details class="dialog" id="modelfile-dialog">
<summary>Open a model file (.toml)</summary>
<form id="modelfile-form" hx-post="{url(s, "upload/modelfile")}" hx-encoding="multipart/form-data">
<input type="file" name="file" id="modelfile-file" accept=".toml">
<button type="submit" id="open-modelfile">Open</button></form>
<p class="hint">The data stay those of this session: paths in the file are not read.</p>
</details></div></div>"""


def constraints_dialog3(s: Session) -> str:
    """Constraints of gammas (``G001 = G010``), checked by the library's parser."""
    return constraints_dialog(s, "G001 = G010")


# --------------------------------------------------------------------------- settings
def settings_view3(s: Session) -> str:
    """The settings a three-level run takes: title, REML/ML, exact or HLM3's iterations (ML
    only), iterations, residual files of the three levels; the homogeneity test of sigma^2
    and a deviance test; heterogeneous sigma^2, weights at levels 1-3 and the precision weight,
    plausible values; general linear hypotheses."""
    st = s.model.settings
    l1 = s.level1_variables
    fmt = "".join(f'<option value="{f}"{" selected" if f == st.resid_format else ""}>{f}</option>'
                  for f in RESIDUAL_FORMATS)
    iters = "" if st.max_iterations is None else st.max_iterations
    resid = " ".join(
        f'<label><input type="checkbox" name="resid{k}" id="resid{k}"'
        f'{" checked" if getattr(st, f"resid{k}") else ""}> level-{k} residual file</label>'
        for k in (1, 2, 3))
    imputation = radio("imputation", [("none", "none"), ("plausible", "plausible values")],
                       st.imputation if st.imputation == "plausible" else "none")
    form = f"""<form id="settings-form" hx-post="{url(s, "do/settings")}" hx-trigger="change"
hx-indicator="#busy">
<fieldset><legend>Basic settings (HLM3)</legend>
<label>Title <input type="text" name="title" id="title" value="{e(st.title)}" size="40"></label>
<p>Method: {radio("method", [("reml", "restricted maximum likelihood"),
                              ("ml", "full maximum likelihood (as HLM3)")], st.method)}</p>
<p>Mode: {radio("mode", [("exact", "exact (to convergence)"),
                          ("hlm", "HLM3's iterations (full ML only)")], st.mode)}</p>
<p class="hint">HLM3 estimates by full maximum likelihood only; openhlm's default is REML, as for
two-level models. HLM mode follows HLM3's EM iterations and stopping rule (with ML).</p>
<label>Maximum iterations <input type="number" min="1" name="max_iterations"
 id="max_iterations" value="{e(iters)}" placeholder="default"></label>
<p>Residual files: {resid} <label>format <select name="resid_format"
 id="resid_format">{fmt}</select></label></p>
</fieldset>
<fieldset><legend>Hypothesis testing</legend>
<label><input type="checkbox" name="homogeneity" id="homogeneity"
{" checked" if st.homogeneity else ""}> test homogeneity of level-1 variance</label>
{deviance_fields(s)}
</fieldset>
<fieldset><legend>Estimation settings</legend>
<p>Heterogeneous sigma<sup>2</sup>: {checks("heterogeneous", l1, st.heterogeneous)}</p>
{weights_fields(s, (1, 2, 3))}
<p>Multiple imputation: {imputation}</p>
<p>Plausible values (outcome variables): {checks("plausible_values", l1,
                                                  st.plausible_values)}</p>
<p>Exploratory analysis: level 2 {checks("exploratory", s.level2_variables, st.exploratory)}
 &nbsp; level 3 {checks("exploratory3", s.level3_variables, st.exploratory3)}</p>
</fieldset></form>"""
    return form + glh_dialog(s)
