"""HTML of the window: menu, Data, Model, Settings, Output, Graphs and History views.

Plain server-rendered HTML; htmx (vendored, ``static/htmx.min.js``) posts each click to the
server and swaps ``#main``.  Every number shown comes from the library (the report renderers,
``MDM.describe()``, ``openhlm.compare``).
"""

from __future__ import annotations

from typing import Any

from openhlm.gui.session import Run, Session
from openhlm.gui.views3 import mdm_form3, model_view3, settings_view3
from openhlm.gui.widgets import (
    button,
    checks,
    constraints_dialog,
    deviance_fields,
    e,
    glh_dialog,
    missing_data_fieldset,
    radio,
    select,
    show_predictor,
    subscripted,
    url,
    variable_menu,
    weights_fields,
)
from openhlm.spec.modelfile import RESIDUAL_FORMATS

VIEWS = (("data", "Data (MDM)"), ("model", "Model"), ("settings", "Settings"),
         ("output", "Run & output"), ("graphs", "Graphs"), ("history", "History"))
FILE_TYPES = {
    "any": ("Anything openhlm reads", ()),
    "spss": ("SPSS/Windows (.sav, .zsav, .por)", (".sav", ".zsav", ".por")),
    "stata": ("Stata (.dta)", (".dta",)),
    "sas": ("SAS (.sas7bdat, .xpt)", (".sas7bdat", ".xpt")),
    "csv": ("Delimited text (.csv, .tsv, .txt, .dat)", (".csv", ".tsv", ".txt", ".dat")),
    "excel": ("Excel (.xlsx)", (".xlsx",)),
    "parquet": ("Parquet (.parquet)", (".parquet",)),
}
#: HLM's "Distribution of outcome variable" (Basic Settings)
SAMPLING_LABELS = {
    "normal": "Normal (continuous)",
    "bernoulli": "Bernoulli (0 or 1)",
    "poisson": "Poisson (constant exposure)",
    "binomial": "Binomial (number of trials)",
    "poisson_exposure": "Poisson (variable exposure)",
}
HGLM_METHOD_LABELS = {"pql": "PQL (penalised quasi-likelihood, HLM's default)",
                      "laplace": "Laplace (ML)",
                      "agq": "adaptive Gauss-Hermite quadrature (ML)"}
GRAPHS = (("model", "Model graph"), ("level1", "Level-1 equations"),
          ("qq-mdist", "Q-Q plot of Mahalanobis distances"),
          ("mdrsvar-hist", "Histogram of MDRSVAR"), ("mdrsvar-qq", "Q-Q plot of MDRSVAR"),
          ("eb-vs", "EB residuals against a level-2 variable"),
          ("caterpillar", "Caterpillar plot of EB residuals"))


def page(s: Session, token_query: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>openhlm</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/gui.css{token_query}">
<script src="/static/htmx.min.js{token_query}"></script>
</head>
<body hx-target="#main" hx-swap="innerHTML" data-session="{e(s.sid)}">
<header><span class="brand">openhlm</span> <span class="sub">HLM2, HGLM and HLM3 in the browser</span>
<span id="busy" class="htmx-indicator">working&hellip;</span></header>
<div id="main">{main(s)}</div>
</body></html>"""


def main(s: Session) -> str:
    tabs = "".join(
        button(s, "view", label, id=f"tab-{name}", cls="tab" + (" active" if s.view == name
                                                                    else ""), name=name)
        for name, label in VIEWS)
    if s.mdm is None:
        status = "no MDM yet"
    elif s.three_level:
        status = (f"MDM (HLM3): <b>{e(s.mdm_label)}</b>, {s.mdm.n_level1} level-1, "
                  f"{s.mdm.n_level2} level-2 and {s.mdm.n_level3} level-3 units")
    else:
        status = (f"MDM: <b>{e(s.mdm_label)}</b>, {s.mdm.n_level1} level-1 and "
                  f"{s.mdm.n_level2} level-2 units")
    msgs = "".join(f'<div class="msg {e(kind)}" role="alert"><pre>{e(text)}</pre></div>'
                   for kind, text in s.pop_messages())
    body = {"data": data_view, "model": model_view, "settings": settings_view,
            "output": output_view, "graphs": graphs_view, "history": history_view}[s.view](s)
    run = button(s, "run", "Run analysis", id="run", cls="primary") if s.mdm is not None else ""
    return (f'<nav>{tabs}{run}<span class="status" id="mdm-status">{status}</span></nav>'
            f'<div id="messages">{msgs}</div><section id="view-{e(s.view)}">{body}</section>')


# ------------------------------------------------------------------------------- data view
def data_view(s: Session) -> str:
    from openhlm.data.readers import supported_suffixes

    known = supported_suffixes()
    suffixes = [x for x in FILE_TYPES.get(s.file_type, ("",))[1] if x in known] or list(known)
    accept = ",".join(suffixes)
    types = "".join(f'<option value="{k}"{" selected" if k == s.file_type else ""}>'
                    f'{e(label)}</option>' for k, (label, _) in FILE_TYPES.items())
    hlm3 = s.mdm_type == "hlm3"
    mdm_types = radio("mdm_type", [("hlm2", "HLM2 (two levels)"),
                                    ("hlm3", "HLM3 (three levels)")], s.mdm_type)
    level3_input = (f'<label>Level-3 file <input type="file" name="level3" '
                    f'id="level3-file" accept="{e(accept)}"></label> ' if hlm3 else "")
    out = ['<h2>Make an MDM</h2>',
           (f'<form id="mdm-type-form" hx-post="{url(s, "do/mdm_type")}" '
            f'hx-trigger="change"><p>MDM type: {mdm_types}</p></form>'),
           (f'<p><label>Input file type <select name="file_type" id="file-type" '
           f'hx-post="{url(s, "do/file_type")}" hx-trigger="change">{types}</select></label> '
           '<span class="hint">(the file is read by its suffix; this choice filters the '
           'file dialog)</span></p>'),
           (f'<form id="tables-form" hx-post="{url(s, "upload/tables")}" '
           'hx-encoding="multipart/form-data" hx-indicator="#busy">'),
           (f'<label>Level-1 file <input type="file" name="level1" id="level1-file" '
           f'accept="{e(accept)}"></label> '),
           (f'<label>Level-2 file{"" if hlm3 else " (optional)"} <input type="file" name="level2" '
           f'id="level2-file" accept="{e(accept)}"></label> '), level3_input,
           '<button type="submit" id="read-files">Read the files</button></form>',
           '<p class="hint">HLM3: the level-1 file holds the level-2 ID, the level-2 file both '
           'IDs, the level-3 file the level-3 ID; or one file holding all three levels.</p>'
           if hlm3 else "",
           '<div class="alt">or ',
           button(s, "bundled", "open the bundled High School and Beyond data",
                  id="open-hsb"),
           (f' &nbsp; or open a saved MDM: <form class="inline" id="mdmz-form" '
           f'hx-post="{url(s, "upload/mdmz")}" hx-encoding="multipart/form-data">'
           '<input type="file" name="mdmz" id="mdmz-file" accept=".mdmz">'
           '<button type="submit" id="open-mdmz">Open</button></form></div>')]
    if s.tables:
        out.append(mdm_form3(s) if hlm3 else mdm_form(s))
    if s.mdm is not None:
        out.append(f'<h2>MDM: {e(s.mdm_label)}</h2>')
        out.append(f'<p><a id="save-mdm" href="{url(s, "download/model.mdmz")}" download>'
                   'Save the MDM (.mdmz)</a></p>')
        if s.three_level:
            out.append(f'<h3>Descriptive statistics</h3><pre class="report" id="describe-3">'
                       f'{e(s.mdm.describe_text())}</pre>')
        else:
            out.append(describe_table(s))
            out.append(imputed_form(s))
    return "".join(out)


def mdm_form(s: Session) -> str:
    l1name, t1 = s.tables["level1"]
    cols1 = [c for c in t1.columns]
    l2 = s.tables.get("level2")
    cols2 = list(l2[1].columns) if l2 else []
    common = [c for c in cols1 if not l2 or c.lower() in {x.lower() for x in cols2}]
    guess = next((c for c in common if c.lower() == "id"), common[0] if common else "")
    ident = s.id_variable or guess
    opts = "".join(f'<option value="{e(c)}"{" selected" if c == ident else ""}>{e(c)}</option>'
                   for c in common)

    def boxes(level: int, cols: list[str]) -> str:
        return "".join(
            f'<label class="chk"><input type="checkbox" name="vars{level}" value="{e(c)}" '
            f'checked> {e(c)}</label>' for c in cols if c != ident)

    rows = [f'<form id="mdm-form" hx-post="{url(s, "do/make_mdm")}" hx-indicator="#busy">',
            f'<h3>Variables ({e(l1name)}{", " + e(l2[0]) if l2 else ""})</h3>',
            f'<label>Level-2 ID <select name="id" id="id-select">{opts}</select></label>',
            f'<fieldset><legend>Level-1 variables</legend>{boxes(1, cols1)}</fieldset>']
    if l2:
        rows.append(f'<fieldset><legend>Level-2 variables</legend>{boxes(2, cols2)}</fieldset>')
    rows.append(missing_data_fieldset(s))
    rows.append('<button type="submit" id="make-mdm">Make the MDM</button></form>')
    return "".join(rows)


def describe_table(s: Session) -> str:
    frame = s.mdm.describe()
    out = ['<h3>Descriptive statistics</h3>']
    for level in (1, 2):
        part = frame[frame["level"] == level].drop(columns=["level"])
        if not len(part):
            continue
        head = "".join(f"<th>{e(c)}</th>" for c in part.columns)
        body = []
        for _, row in part.iterrows():
            cells = []
            for c in part.columns:
                v = row[c]
                cells.append(f"<td>{e(f'{v:.3f}' if isinstance(v, float) else v)}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        out.append(f'<table class="stats" id="describe-{level}"><caption>Level-{level} '
                   f'descriptive statistics</caption><tr>{head}</tr>{"".join(body)}</table>')
    return "".join(out)


def imputed_form(s: Session) -> str:
    n = len(s.imputed)
    return ('<details class="dialog" id="imputed-dialog"><summary>Multiply imputed data sets '
            f'({n + 1} data set{"s" if n else ""})</summary>'
            f'<form id="imputed-form" hx-post="{url(s, "upload/imputed")}" '
            'hx-encoding="multipart/form-data"><p>Level-1 files of the other completed data '
            'sets (same variables, ID and level-2 file as this MDM); then choose "multiply '
            'imputed data sets" in Settings.</p>'
            '<input type="file" name="files" id="imputed-files" multiple> '
            '<button type="submit" id="add-imputed">Add</button> '
            f'{button(s, "clear_imputed", "remove them", id="clear-imputed") if n else ""}'
            '</form></details>')


# ------------------------------------------------------------------------------ model view
def _sub(name: str, level: int) -> str:
    return subscripted(name, level)


def equations_html(s: Session) -> str:
    m = s.model
    if m.outcome is None:
        return ('<p class="hint" id="no-outcome">Click a level-1 variable and choose '
                '"outcome variable".</p>')
    terms = []
    for q, c in enumerate(m.coefs):
        beta = f"&beta;<sub>{q}j</sub>"
        terms.append(beta if c.predictor is None else f"{beta}*{show_predictor(c.predictor, 1)}")
    if m.settings.normal:
        level1 = (f'<div class="eq level1"><span class="lvl">LEVEL 1 MODEL</span> '
                  f'{_sub(m.outcome, 1)} = {" + ".join(terms + ["r<sub>ij</sub>"])}</div>')
    else:
        level1 = hglm_level1(m.settings, m.outcome, " + ".join(terms))
    lines = [level1, '<div class="lvl">LEVEL 2 MODEL</div>']
    for q, c in enumerate(m.coefs):
        parts = [f"&gamma;<sub>{q}0</sub>"] if c.intercept2 else []
        parts += [f"&gamma;<sub>{q}{k}</sub>*{show_predictor(p, 2)}"
                  for k, p in enumerate(c.level2, start=1)]
        u = button(s, "random", f"u<sub>{q}j</sub>", id=f"u{q}",
                   cls="u " + ("on" if c.random else "off"),
                   title="click to make this coefficient random / fixed", q=q)
        sel = button(s, "select", f"&beta;<sub>{q}j</sub>", id=f"beta{q}",
                     cls="beta" + (" selected" if s.level == 2 and s.selected == q else ""),
                     title="click, then add level-2 variables to this equation", q=q)
        lines.append(f'<div class="eq level2">{sel} = {" + ".join(parts + [u])}</div>')
    return "".join(lines)


def hglm_level1(st: Any, outcome: str, rhs: str) -> str:
    """HLM's level-1 model of an HGLM in the window: the sampling model, the link and the
    linear predictor eta (no r, no sigma^2; with over-dispersion the variance is sigma^2
    times V(Y|beta))."""
    y = _sub(outcome, 1)
    eta = "&eta;<sub>ij</sub>"
    over = "&sigma;<sup>2</sup>" if st.overdispersion else ""
    if st.distribution == "bernoulli":
        rows = [f"Prob({y} = 1|&beta;<sub>j</sub>) = &phi;<sub>ij</sub>",
                f"log[&phi;<sub>ij</sub>/(1 &minus; &phi;<sub>ij</sub>)] = {eta}"]
    elif st.distribution == "binomial":
        m = _sub(st.sampling_variable or "m", 1)
        rows = [(f"E({y}|&beta;<sub>j</sub>) = {m}&phi;<sub>ij</sub>, "
                 f"Var({y}|&beta;<sub>j</sub>) = {over}{m}&phi;<sub>ij</sub>"
                 f"(1 &minus; &phi;<sub>ij</sub>)"),
                f"log[&phi;<sub>ij</sub>/(1 &minus; &phi;<sub>ij</sub>)] = {eta}"]
    else:
        exposure = _sub(st.sampling_variable, 1) if st.sampling_variable else ""
        rows = [(f"E({y}|&beta;<sub>j</sub>) = {exposure}&lambda;<sub>ij</sub>, "
                 f"Var({y}|&beta;<sub>j</sub>) = {over}{exposure}&lambda;<sub>ij</sub>"),
                f"log[&lambda;<sub>ij</sub>] = {eta}"]
    rows.append(f"{eta} = {rhs}")
    return ('<div class="eq level1" id="hglm-level1"><span class="lvl">LEVEL 1 MODEL '
            f'({e(SAMPLING_LABELS[st.sampling])})</span>'
            + "".join(f'<div class="hglm">{r}</div>' for r in rows) + "</div>")


def model_view(s: Session) -> str:
    if s.mdm is None:
        return '<p class="hint">Make or open an MDM in the Data view first.</p>'
    if s.three_level:
        return model_view3(s)
    level = s.level
    variables = s.level1_variables if level == 1 else s.level2_variables
    lvl_buttons = (button(s, "level", "Level-1", id="level-1", cls="lvlbtn" +
                          (" active" if level == 1 else ""), level=1)
                   + button(s, "level", "Level-2", id="level-2", cls="lvlbtn" +
                            (" active" if level == 2 else ""), level=2))
    intercept = ("INTRCPT1" if level == 1 else "INTRCPT2")
    note = "" if level == 1 else (
        f'<p class="hint">adding to the equation of &beta;<sub>{s.selected}j</sub></p>')
    varlist = (f'<div class="varlist"><div class="lvlbtns">{lvl_buttons}</div>{note}'
               f'<div class="var intercept">{intercept}</div>'
               + "".join(variable_menu(s, v, level) for v in variables) + "</div>")
    if s.mixed and s.model.outcome is not None:
        from openhlm.spec.printing import format_mixed

        mixed = format_mixed(s.model.spec())
        label = "MIXED MODEL"
        if not s.model.settings.normal:   # the linear predictor: no level-1 r
            mixed, label = mixed.removesuffix(" + r"), "MIXED MODEL (linear predictor)"
        eqs = (f'<div class="eq mixed" id="mixed"><span class="lvl">{label}</span> '
               f'{e(mixed)}</div>')
    else:
        eqs = equations_html(s)
    toggle = button(s, "mixed", "Equations" if s.mixed else "Mixed", id="mixed-toggle")
    text = s.eq_draft if s.eq_draft is not None else s.model.equations_text()
    err = (f'<pre class="error" id="equation-error">{e(s.eq_error)}</pre>'
           if s.eq_error else "")
    return f"""<div class="modelwin">{varlist}
<div class="equations"><div class="eqbox" id="equations">{eqs}</div>
<div class="bar-below">{toggle} {button(s, "intercept", "toggle INTRCPT1", id="intercept")}
</div>
<form id="equation-form" hx-post="{url(s, "do/equations")}" hx-indicator="#busy">
<label for="equation-text">Equation text (typing and clicking stay in sync)</label>
<textarea name="text" id="equation-text" rows="5" spellcheck="false">{e(text)}</textarea>
<button type="submit" id="apply-equations">Apply the equations</button></form>{err}
{constraints_dialog(s, "G02 = G12")}
<details class="dialog" id="modelfile-dialog">
<summary>Open a model file (.toml) or an HLM command file (.hlm)</summary>
<form id="modelfile-form" hx-post="{url(s, "upload/modelfile")}" hx-encoding="multipart/form-data">
<input type="file" name="file" id="modelfile-file" accept=".toml,.hlm,.cmd,.txt">
<button type="submit" id="open-modelfile">Open</button></form>
<p class="hint">The data stay those of this session: paths in the file are not read.</p>
</details></div></div>"""


# --------------------------------------------------------------------------- settings view
_select, _checks = select, checks


def outcome_fieldset(s: Session) -> str:
    """HLM's Basic Settings for the outcome: its distribution (with the number-of-trials or
    exposure variable), over-dispersion, and the HGLM estimation method."""
    st = s.model.settings
    dist = radio("sampling", list(SAMPLING_LABELS.items()), st.sampling)
    needs = {"binomial": "number of trials", "poisson_exposure": "exposure"}.get(st.sampling)
    variable = (f'<label>{needs}: {_select("sampling_variable", list(s.level1_variables), st.sampling_variable, "(choose a level-1 variable)")}</label>'
                if needs else "")
    if st.normal:
        return (f'<fieldset id="outcome-settings"><legend>Distribution of the outcome'
                f'</legend><p>{dist}</p></fieldset>')
    points = "" if st.quadrature_points is None else st.quadrature_points
    agq = (f' <label>points per random effect <input type="number" min="1" '
           f'name="quadrature_points" id="quadrature_points" value="{e(points)}" '
           f'placeholder="default" size="4"></label>' if st.hglm_method == "agq" else "")
    return (f'<fieldset id="outcome-settings"><legend>Distribution of the outcome</legend>'
            f'<p>{dist}</p><p>{variable}'
            f' <label><input type="checkbox" name="overdispersion" id="overdispersion"'
            f'{" checked" if st.overdispersion else ""}> over-dispersion</label></p>'
            f'<p>Estimation: {radio("hglm_method", list(HGLM_METHOD_LABELS.items()), st.hglm_method)}'
            f'{agq}</p><p class="hint">The level-1 model has no r and no sigma<sup>2</sup> '
            '(sigma<sup>2</sup> scales the variance only with over-dispersion, PQL). PQL '
            'gives no deviance; Laplace and quadrature give -2 log L.</p></fieldset>')


def method_fields(st: Any) -> str:
    """REML / ML; for an HGLM estimated by PQL the likelihood of the linearised model
    (restricted PQL, HLM's default, or full PQL), as HLM's dialog offers them."""
    if st.normal:
        return (f'<p>Method: {radio("method", [("reml", "restricted maximum likelihood"), ("ml", "full maximum likelihood")], st.method)}</p>')
    if st.hglm_method == "pql":
        return (f'<p>PQL: {radio("method", [("reml", "restricted PQL (REML, HLM default)"), ("ml", "full PQL (ML)")], st.method)}</p>')
    return (f'<input type="hidden" name="method" value="{e(st.method)}">'
            '<p class="hint">Laplace and quadrature maximise the likelihood (ML).</p>')


def pql_iteration_fields(st: Any) -> str:
    """HLM-mode PQL's iteration settings (HLM's MACROIT, MICROIT, STOPMACRO, STOPMICRO; empty:
    HLM's defaults)."""
    from openhlm.spec.defaults import HLM_PQL_LIMITS as d

    def box(name: str, label: str, value: Any, default: Any, kind: str = "text") -> str:
        shown = "" if value is None else value
        return (f'<label>{label} <input type="{kind}" name="{name}" id="{name}" '
                f'value="{e(shown)}" placeholder="{e(default)}" size="7"></label>')

    return ('<fieldset id="pql-iterations"><legend>HLM-mode PQL iterations</legend><p>'
            + box("macro_iterations", "macro iterations", st.macro_iterations,
                  d.max_macro, "number")
            + box("micro_iterations", "micro iterations", st.micro_iterations,
                  d.max_micro, "number")
            + box("stop_macro", "macro criterion", st.stop_macro, f"{d.stop_macro:g}")
            + box("stop_micro", "micro criterion", st.stop_micro, f"{d.stop_micro:g}")
            + '</p><p class="hint">Empty: HLM\'s defaults (shown greyed).</p></fieldset>')


def settings_view(s: Session) -> str:
    if s.mdm is None:
        return '<p class="hint">Make or open an MDM in the Data view first.</p>'
    if s.three_level:
        return settings_view3(s)
    st = s.model.settings
    l1, l2 = s.level1_variables, s.level2_variables
    fmt = "".join(f'<option value="{f}"{" selected" if f == st.resid_format else ""}>{f}</option>'
                  for f in RESIDUAL_FORMATS)
    iters = "" if st.max_iterations is None else st.max_iterations
    tol = "" if st.tolerance is None else st.tolerance
    hlm_pql = not st.normal and st.hglm_method == "pql" and st.mode == "hlm"
    mode_label = "HLM 6's PQL iterations" if not st.normal else "HLM 6's iterations"
    form = f"""<form id="settings-form" hx-post="{url(s, "do/settings")}" hx-trigger="change"
hx-indicator="#busy">
<fieldset><legend>Basic settings</legend>
<label>Title <input type="text" name="title" id="title" value="{e(st.title)}" size="40"></label>
{outcome_fieldset(s)}
{method_fields(st)}
<p>Mode: {radio("mode", [("exact", "exact (to convergence)"), ("hlm", mode_label)], st.mode)}</p>
{pql_iteration_fields(st) if hlm_pql else ""}
<label>Maximum iterations <input type="number" min="1" name="max_iterations"
 id="max_iterations" value="{e(iters)}" placeholder="default"></label>
<label>Convergence criterion <input type="text" name="tolerance" id="tolerance"
 value="{e(tol)}" placeholder="default"></label>
<p>Residual files: <label><input type="checkbox" name="resid1" id="resid1"
{" checked" if st.resid1 else ""}> level-1 residual file</label>
<label><input type="checkbox" name="resid2" id="resid2"{" checked" if st.resid2 else ""}>
 level-2 residual file</label> <label>format <select name="resid_format"
 id="resid_format">{fmt}</select></label></p>
<p>Extra variables in the level-1 file: {checks("resid1_extra", l1, st.resid1_extra)}</p>
<p>Extra variables in the level-2 file: {checks("resid2_extra", l2, st.resid2_extra)}</p>
</fieldset>
<fieldset><legend>Hypothesis testing</legend>
<label><input type="checkbox" name="homogeneity" id="homogeneity"
{" checked" if st.homogeneity else ""}> test homogeneity of level-1 variance</label>
{deviance_fields(s)}
</fieldset>
<fieldset><legend>Estimation settings</legend>
<p>Heterogeneous sigma<sup>2</sup> (full ML): {checks("heterogeneous", l1, st.heterogeneous)}</p>
{weights_fields(s, (1, 2))}
<p>Multiple imputation: {radio("imputation", [("none", "none"),
  ("files", f"multiply imputed data sets ({len(s.imputed) + 1 if s.imputed else 0} files)"),
  ("plausible", "plausible values")], st.imputation)}</p>
<p>Plausible values (outcome variables): {checks("plausible_values", l1,
                                                  st.plausible_values)}</p>
<p>Exploratory analysis (level 2): {checks("exploratory", l2, st.exploratory)}</p>
</fieldset></form>"""
    return form + glh_dialog(s)


# ----------------------------------------------------------------------------- output view
def output_view(s: Session) -> str:
    running = s.running()
    top: list[str] = []
    if running is not None:
        return "".join(top) + progress(s, running)
    run = s.run(s.shown_run) if s.shown_run else None
    if run is None:
        return "".join(top) + '<p class="hint">No run yet.</p>'
    return "".join(top) + run_html(s, run)


def progress(s: Session, run: Run) -> str:
    import time

    seconds = time.monotonic() - run.started
    return (f'<div id="progress" hx-get="{url(s, "status")}" hx-trigger="every 400ms" '
            f'hx-target="this" hx-swap="outerHTML"><span class="spinner"></span> '
            f'Run {run.number} is running&hellip; {seconds:.0f} s'
            f'<pre class="eqtext">{e(run.equations)}</pre></div>')


def run_html(s: Session, run: Run) -> str:
    head = f'<h2 id="run-title">Run {run.number}{": " + e(run.title) if run.title else ""}</h2>'
    eqs = f'<pre class="eqtext">{e(run.equations)}</pre>'
    if run.error is not None:
        return head + eqs + f'<pre class="error" id="run-error">{e(run.error)}</pre>'
    r = run.results
    warn = "".join(f'<div class="msg warning"><pre>{e(w)}</pre></div>' for w in run.warnings)
    base = url(s, f"run/{run.number}/")
    st = run.settings
    files = [f'<a id="dl-txt" href="{base}report.txt" download>report (text)</a>',
             f'<a id="dl-html" href="{base}report.html" download>report (HTML)</a>',
             f'<a id="dl-json" href="{base}results.json" download>results (JSON)</a>',
             f'<a id="dl-toml" href="{base}model.toml" download>model file (TOML)</a>']
    two_level = not getattr(run.state, "three_level", False)
    if two_level and (st.normal or (st.hglm_method == "pql" and not st.overdispersion)):
        files.append(f'<a id="dl-hlm" href="{base}model.hlm" download>command file (.hlm)</a>')
    if not hasattr(r, "write_residuals"):
        pass
    elif getattr(run.state, "three_level", False):
        files += [f'<a id="dl-resid{k}" href="{base}resid{k}.{st.resid_format}" download>'
                  f'level-{k} residual file (.{st.resid_format})</a>'
                  for k in (1, 2, 3) if getattr(st, f"resid{k}")]
    elif st.resid1:
        files.append(f'<a id="dl-resid1" href="{base}resid1.{st.resid_format}" download>'
                     f'level-1 residual file (.{st.resid_format})</a>')
    if st.resid2 and not getattr(run.state, "three_level", False) and \
            hasattr(r, "write_residuals"):
        files.append(f'<a id="dl-resid2" href="{base}resid2.{st.resid_format}" download>'
                     f'level-2 residual file (.{st.resid_format})</a>')
    fmt = s.output_format
    switch = (button(s, "output_format", "HTML tables", id="show-html",
                     cls="tab" + (" active" if fmt == "html" else ""), format="html")
              + button(s, "output_format", "HLM text output", id="show-text",
                       cls="tab" + (" active" if fmt == "text" else ""), format="text"))
    if fmt == "text":
        text = r.report(**run.state.report_options())
        body = f'<pre class="report" id="report-text">{e(text)}</pre>'
    else:
        body = f'<div id="report-html">{r._repr_html_()}</div>'
    deviance = ("no deviance (PQL)" if r.deviance is None else
                f'deviance <b id="deviance">{r.deviance:.6f}</b>')
    summary = (f'<p id="run-summary">{deviance}, '
               f'<span id="n-parameters">{r.n_parameters}</span> parameters, '
               f'{run.seconds:.2f} s</p>')
    return (head + summary + warn + '<p class="downloads">Download: ' + " &middot; ".join(files)
            + "</p>" + f'<div class="switch">{switch}</div>' + body)


# ----------------------------------------------------------------------------- graphs view
def graph_kinds(results: Any) -> tuple[tuple[str, str], ...]:
    """The graphs ``openhlm.plots`` draws for a run: all of them for a two-level linear or a
    three-level model; the model graph, the level-1 equations (probability / rate scale) and
    the Q-Q plot of the Mahalanobis distances for an HGLM."""
    from openhlm.results.glmm import GLMMResults
    from openhlm.results.three_level import HLM3Results

    if isinstance(results, GLMMResults):
        return GRAPHS[:3]
    if isinstance(results, HLM3Results):
        return GRAPHS
    return GRAPHS


def _random_effects3(results: Any) -> list[tuple[str, str]]:
    """HLM3's random effects for the caterpillar plot and the EB residual graph: u (level-3
    units), then r (level 2)."""
    spec = results.spec
    out = [("INTRCPT1", "INTRCPT1 (r0 or u00, by the units' level)")]
    out += [(f"U{b.p}{b.q}", f"U{b.p}{b.q}, {label} (level-3 units)")
           for b, label in zip(spec.random_betas, results.tau_beta_labels, strict=True)]
    out += [(f"R{p.index}", f"R{p.index}, {label} (level-2 units)")
            for p, label in zip(spec.random_pis, results.tau_pi_labels, strict=True)]
    return out


def _labelled_select(name: str, options: list[tuple[str, str]], current: str | None) -> str:
    chosen = current if current in dict(options) else (options[0][0] if options else "")
    return (f'<select name="{e(name)}" id="{e(name)}">' + "".join(
        f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(label)}</option>'
        for v, label in options) + "</select>")


def graphs_view(s: Session) -> str:
    from openhlm.results import HLMResults
    from openhlm.results.glmm import GLMMResults
    from openhlm.results.three_level import HLM3Results

    runs = [r for r in s.runs if isinstance(r.results, (HLMResults, GLMMResults, HLM3Results))]
    if not runs:
        return ('<p class="hint">Run a model first: graphs are drawn from its results '
                '(runs of multiply imputed data have none).</p>')
    g = s.graph
    number = int(g.get("run") or runs[-1].number)
    run = s.run(number)
    run = run if run in runs else runs[-1]
    r = run.results
    three = isinstance(r, HLM3Results)
    hglm = isinstance(r, GLMMResults)
    available = graph_kinds(r)
    kind = g.get("kind", "model")
    if kind not in dict(available):
        kind = "model"
    l1 = list(r.spec.level1_variables())
    upper = list(s.level2_variables) + (list(s.level3_variables) if three else [])
    kinds = "".join(f'<option value="{k}"{" selected" if k == kind else ""}>'
                    f'{e(label)}</option>' for k, label in available)
    run_opts = "".join(f'<option value="{x.number}"{" selected" if x is run else ""}>'
                       f'run {x.number}</option>' for x in runs)
    coefs = [c.short_label for c in r.spec.random_coefficients] if not three else []
    by_label = "lines by (level 2 or 3)" if three else "lines by (level 2)"
    fields = {
        "x": f'<label>X focus {_select("x", l1, g.get("x"), "first level-1 predictor")}</label>',
        "by": f'<label>{by_label} {_select("by", upper, g.get("by"), "none")}</label>',
        "quartiles_of": f'<label>quartiles of '
                        f'{_select("quartiles_of", upper, g.get("quartiles_of"), "none")}</label>',
        "sample": f'<label>units drawn <input type="number" min="1" name="sample" id="sample" '
                  f'value="{e(g.get("sample") or 30)}"></label>',
        "coefficient": (f'<label>random effect '
                        f'{_labelled_select("coefficient", _random_effects3(r), g.get("coefficient"))}'
                        '</label>' if three else
                        f'<label>random coefficient '
                        f'{_select("coefficient", coefs, g.get("coefficient"), "INTRCPT1")}</label>'),
        "variable": f'<label>{"level-2 or level-3" if three else "level-2"} variable '
                    f'{_select("variable", upper, g.get("variable"), "(choose)")}</label>',
        "scale": "",
        "units": (f'<label>units {_labelled_select("units", [("3", "level 3 (u)"), ("2", "level 2 (r)")], g.get("units"))}</label>'
                  if three else ""),
    }
    if hglm:
        logit = r.link == "logit"
        scales = [("response", "probability" if logit else "rate"),
                  ("link", "logit (linear predictor)" if logit else "log rate (linear "
                   "predictor)")]
        fields["scale"] = f'<label>scale {_labelled_select("scale", scales, g.get("scale"))}</label>'

    shown = {"model": ("x", "by", "quartiles_of", "scale"),
             "level1": ("x", "sample", "by", "scale"), "qq-mdist": ("units",),
             "eb-vs": ("variable", "coefficient"), "caterpillar": ("coefficient",)}
    form = (f'<form id="graph-form" hx-post="{url(s, "do/graph")}" hx-trigger="change">'
            f'<label>Graph <select name="kind" id="graph-kind">{kinds}</select></label> '
            f'<label>of <select name="run" id="graph-run">{run_opts}</select></label> '
            + " ".join(fields[f] for f in shown.get(kind, ()) if fields[f]) + "</form>")
    params = {k: v for k, v in g.items() if v}
    params["run"], params["kind"] = str(run.number), kind
    from urllib.parse import urlencode

    from openhlm.errors import OpenHLMError
    from openhlm.gui.graphs import graph_png

    try:
        graph_png(s, params)
    except (OpenHLMError, ValueError, KeyError) as exc:
        return form + f'<pre class="error" id="graph-error">{e(exc)}</pre>'
    query = e(urlencode(sorted(params.items())))
    links = (f'<p>Download: <a id="graph-png" href="{url(s, "graph.png?" + query)}" '
             f'download="graph.png">PNG</a> &middot; <a id="graph-svg" '
             f'href="{url(s, "graph.svg?" + query)}" download="graph.svg">SVG</a></p>')
    return (form + links + f'<img id="graph" src="{url(s, "graph.png?" + query)}" '
            f'alt="{e(dict(available).get(kind, "graph"))}">')


# ---------------------------------------------------------------------------- history view
def history_view(s: Session) -> str:
    if not s.runs:
        return '<p class="hint">No runs yet.</p>'
    rows = []
    for r in s.runs:
        res = r.results
        dev = ("error" if r.error else "running") if res is None else (
            "(PQL)" if res.deviance is None else f"{res.deviance:.6f}")
        par = res.n_parameters if res is not None else ""
        method = res.method.upper() if res is not None else ""
        rows.append(f'<tr id="history-{r.number}"><td>{r.number}</td><td>{e(r.title)}</td>'
                    f'<td><pre>{e(r.equations)}</pre></td><td>{method}</td><td>{dev}</td>'
                    f'<td>{par}</td><td>'
                    f'{button(s, "show_run", "show", id=f"show-{r.number}", n=r.number)}'
                    '</td></tr>')
    done = [r for r in s.runs if r.results is not None]
    numbers = [r.number for r in done]
    a, b = (numbers[-1] if numbers else 0, numbers[-2] if len(numbers) > 1 else 0)
    if s.compare_pair is not None and s.compare_pair[2] == len(s.runs):
        a, b = s.compare_pair[:2]    # the pair last compared, until another run
    opts_a = "".join(f'<option value="{n}"{" selected" if n == a else ""}>run {n}</option>'
                     for n in numbers)
    opts_b = "".join(f'<option value="{n}"{" selected" if n == b else ""}>run {n}</option>'
                     for n in numbers)
    cmp = (f'<form id="compare-form" hx-post="{url(s, "do/compare")}">Deviance test: '
           f'<select name="a" id="compare-a">{opts_a}</select> against '
           f'<select name="b" id="compare-b">{opts_b}</select> '
           '<button type="submit" id="compare">Compare</button></form>')
    text = (f'<pre id="compare-text">{e(s.compare_text)}</pre>' if s.compare_text else "")
    return ('<table class="history"><tr><th>run</th><th>title</th><th>model</th><th>method</th>'
            '<th>deviance</th><th>parameters</th><th></th></tr>' + "".join(rows) + "</table>"
            + cmp + text)
