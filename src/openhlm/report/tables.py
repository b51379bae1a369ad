"""The report's tables as rows of formatted strings: the one intermediate layer shared by the
text report (:mod:`openhlm.report.text`) and the HTML fragment (:mod:`openhlm.report.html`).

Every builder takes an :class:`~openhlm.results.HLMResults`, reads its fields and formats them
with :mod:`openhlm.report.numfmt`; nothing is computed here beyond the layout (which rows, in
which order, with which labels).  The text renderer places the cells in HLM 6's fixed-width
columns; the HTML renderer puts the very same strings in ``<table>`` cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openhlm.report import numfmt
from openhlm.results import HLMResults

__all__ = [
    "CONSTRAINED_NOTE",
    "FEW_UNITS_WARNING",
    "NO_UNITS_NOTE",
    "Row",
    "Table",
    "coefficient_index_labels",
    "fixed_effects_table",
    "model_fit_table",
    "ols_table",
    "plausible_values_table",
    "reliability_table",
    "tau_table",
    "units_note",
    "variance_components_table",
]

#: HLM's warning printed after the robust fixed-effects table when there are few level-2 units.
FEW_UNITS_WARNING = ("The robust standard errors are appropriate for datasets having a moderate "
                     "to large number of level 2 units. These data do not meet this criterion.")

#: HLM's footnote under a fixed-effects table with constrained gammas.
CONSTRAINED_NOTE = 'The "*" gammas have been constrained.  See the table on the header page.'


@dataclass(frozen=True)
class Row:
    """One table row.  ``kind`` is ``"data"`` or ``"heading"`` (a group heading such as
    HLM's ``For INTRCPT1, B0``)."""

    cells: tuple[str, ...]
    kind: str = "data"


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells, with the notes HLM prints under it."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()

    def data_rows(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.kind == "data")


def coefficient_index_labels(results: HLMResults) -> dict[str, str]:
    """Tau label (``"INTRCPT1"``, ``"SES"``) -> its coefficient code (``"B0"``, ``"B1"``)."""
    coefs = results.spec.random_coefficients
    return {label: f"B{c.index}" for label, c in zip(results.tau_labels, coefs)}


#: printed instead of an empty statistic when no unit had sufficient data for it
NO_UNITS_NOTE = ("Note: The {what} are not computed: no level-2 unit had sufficient\n"
                 "data (full-rank level-1 data with more records than random coefficients).\n"
                 "Fixed effects and variance components are based on all the data.")


def units_note(what: str, used: int, total: int) -> str:
    """HLM's note when only ``used`` of ``total`` units had sufficient data."""
    return (f"Note: The {what} reported above are based on only {used} of {total}\n"
            "units that had sufficient data for computation.  Fixed effects and variance\n"
            "components are based on all the data.")


# -- fixed effects ---------------------------------------------------------------------------

def fixed_effects_table(results: HLMResults, robust: bool = False) -> Table:
    """"Final estimation of fixed effects" (model-based or robust SEs).

    Heading rows: (coefficient label, ``Bq``).  Data rows: (predictor, gamma, marker,
    coefficient, standard error, t-ratio, d.f., p-value); the marker is ``*`` for a constrained
    gamma.
    """
    rows: list[Row] = []
    current: int | None = None
    constrained = False
    for fe in results.fixed.rows:
        if fe.coefficient_index != current:
            current = fe.coefficient_index
            rows.append(Row((fe.coefficient, f"B{fe.coefficient_index}"), kind="heading"))
        se, t, p = (fe.robust_se, fe.robust_t, fe.robust_p) if robust else (fe.se, fe.t, fe.p)
        constrained |= fe.constrained
        rows.append(Row((fe.predictor, fe.gamma, "*" if fe.constrained else "",
                         numfmt.estimate(fe.estimate, 6), numfmt.estimate(se, 6), numfmt.fixed(t, 3),
                         numfmt.integer(fe.df), numfmt.p_value(p))))
    notes = [CONSTRAINED_NOTE] if constrained else []
    if robust and results.few_units_warning:
        notes.append(FEW_UNITS_WARNING)
    title = ("Final estimation of fixed effects (with robust standard errors)" if robust
             else "Final estimation of fixed effects")
    return Table(key="fixed_robust" if robust else "fixed", title=title,
                 columns=("Fixed Effect", "Coefficient", "Standard error", "t-ratio",
                          "Approx. d.f.", "p-value"),
                 rows=tuple(rows), notes=tuple(notes))


# -- variance components ---------------------------------------------------------------------

def variance_components_table(results: HLMResults) -> Table:
    """"Final estimation of variance components".

    Data rows: (coefficient label, effect, SD, variance, d.f., chi-square, p); the level-1
    row has effect ``R`` and empty test cells.
    """
    rows = []
    for vc in results.variance.rows:
        rows.append(Row((vc.coefficient, vc.effect, numfmt.estimate(vc.sd, 5),
                         numfmt.estimate(vc.variance, 5), numfmt.integer(vc.df),
                         numfmt.fixed(vc.chi2, 5), numfmt.chi2_p_value(vc.p))))
    notes: tuple[str, ...] = ()
    table = results.variance
    untested = [vc.coefficient for vc in table.rows if vc.effect != "R" and vc.df is None]
    if table.units_used == 0 and untested:
        notes = (NO_UNITS_NOTE.format(what="chi-square statistics"),)
    elif untested:
        notes = ((f"Note: No chi-square test for {', '.join(untested)}: only "
                  f"{table.units_used} units had sufficient data, no more than the\n"
                  "level-2 coefficients of the equation (the test needs more units)."),)
    if 0 < table.units_used < table.n_units:
        notes += (units_note("chi-square statistics", table.units_used, table.n_units),)
    return Table(key="variance", title="Final estimation of variance components",
                 columns=("Random Effect", "Standard Deviation", "Variance Component", "d.f.",
                          "Chi-square", "p-value"),
                 rows=tuple(rows), notes=notes)


def reliability_table(results: HLMResults) -> Table:
    """Reliability of the OLS level-1 coefficients: rows (label, ``Bq``, reliability)."""
    codes = coefficient_index_labels(results)
    rows = tuple(Row((label, codes.get(label, ""), numfmt.fixed(value, 3)))
                 for label, value in results.reliability.items())
    notes: tuple[str, ...] = ()
    used, total = results.reliability_units_used, results.n_level2
    if used == 0 and rows:
        notes = (NO_UNITS_NOTE.format(what="reliability estimates"),)
    elif 0 < used < total:
        notes = (units_note("reliability estimates", used, total),)
    return Table(key="reliability", title="Reliability estimates",
                 columns=("Random level-1 coefficient", "Reliability estimate"),
                 rows=rows, notes=notes)


def tau_table(results: HLMResults, which: str = "tau") -> Table | None:
    """The Tau matrix (``"tau"``), its standard errors (``"se"``) or correlations (``"corr"``).

    Rows: (label ``INTRCPT1,B0``, cell, cell, ...).  Returns ``None`` for standard errors that
    are not available (all NaN).
    """
    matrix, decimals, title = {
        "tau": (results.tau, 5, "Tau"),
        "se": (results.tau_se, 5, "Standard Errors of Tau"),
        "corr": (results.tau_correlations, 3, "Tau (as correlations)"),
    }[which]
    m = np.asarray(matrix, dtype=float)
    if which == "se" and (m.size == 0 or bool(np.all(np.isnan(m)))):
        return None
    codes = coefficient_index_labels(results)
    labels = tuple(f"{label},{codes.get(label, '')}" for label in results.tau_labels)
    fmt = numfmt.fixed if which == "corr" else numfmt.estimate
    rows = tuple(Row((labels[i],) + tuple(fmt(v, decimals) for v in m[i]))
                 for i in range(len(labels)))
    return Table(key=f"tau_{which}", title=title, columns=("",) + labels, rows=rows)


# -- level-1 OLS -----------------------------------------------------------------------------

def ols_table(results: HLMResults, n_units: int = 10) -> Table | None:
    """"Level-1 OLS regressions" for the first ``n_units`` units held in the results, with
    the average OLS coefficients as notes; ``None`` when there is nothing to show."""
    ols = results.level1_ols
    if n_units > 0 and ols.units_used == 0 == results.reliability_units_used \
            and results.n_level2 > 0:
        # no unit had sufficient data for any per-unit OLS: say so rather than dropping the
        # table silently.  (An OLS table with no units but reliabilities computed is how
        # results reproducing an HLM run without the table are stored: nothing printed.)
        return Table(key="ols", title="Level-1 OLS regressions",
                     columns=("Level-2 Unit",) + tuple(ols.labels), rows=(),
                     notes=(("No level-2 unit had sufficient data for a level-1 OLS "
                             "regression (full-rank level-1 data with more records than "
                             "coefficients)."),))
    if n_units <= 0 or len(ols.unit_ids) == 0:
        return None
    coefs = np.asarray(ols.coefficients, dtype=float)
    rows = tuple(Row((uid,) + tuple(numfmt.estimate(v, 5) for v in coefs[i]))
                 for i, uid in enumerate(ols.unit_ids[:n_units]))
    avg = np.asarray(ols.average, dtype=float)
    notes = tuple(f"The average OLS level-1 coefficient for {label} = {numfmt.estimate(v, 5)}"
                  for label, v in zip(ols.labels, avg) if not numfmt.is_missing(v))
    if notes and 0 < ols.units_used < results.n_level2:
        notes += ((f"(averages over the {ols.units_used} of {results.n_level2} units that "
                   "had sufficient data)"),)
    return Table(key="ols", title="Level-1 OLS regressions",
                 columns=("Level-2 Unit",) + tuple(ols.labels), rows=rows, notes=notes)


# -- derived quantities ----------------------------------------------------------------------

def plausible_values_table(results: HLMResults, level: float = 0.95) -> Table:
    """95% plausible-value ranges of the random coefficients (level-2 predictors at 0).

    Rows: (coefficient label, ``Bq``, mean, SD, lower, upper).
    """
    frame = results.plausible_value_ranges(level)
    codes = [f"B{c.index}" for c in results.spec.random_coefficients]
    rows = tuple(Row((str(r["coefficient"]), code, numfmt.estimate(r["mean"], 5),
                      numfmt.estimate(r["sd"], 5), numfmt.estimate(r["lower"], 5),
                      numfmt.estimate(r["upper"], 5)))
                 for code, (_, r) in zip(codes, frame.iterrows()))
    pct = f"{level * 100:g}%"
    return Table(key="plausible_values", title=f"{pct} plausible-value ranges",
                 columns=("Random coefficient", "Mean", "SD", "Lower", "Upper"), rows=rows)


def model_fit_table(results: HLMResults) -> Table:
    """"Statistics for current covariance components model": rows (label, value).

    In exact mode the standard deviance leads; in hlm mode HLM 6's printed convention does
    (so the line reads as in HLM's output), each followed by the other, labelled.
    """
    standard = ("Deviance", numfmt.fixed(results.deviance, 6))
    hlm = ("Deviance (HLM 6 convention)", numfmt.fixed(results.deviance_hlm, 6))
    if results.mode == "hlm":
        first, second = ("Deviance", hlm[1]), ("Deviance (standard -2 log L)", standard[1])
    else:
        first, second = standard, hlm
    rows = (Row(first), Row(second),
            Row(("Number of estimated parameters", numfmt.integer(results.n_parameters))))
    return Table(key="model_fit", title="Statistics for current covariance components model",
                 columns=("Statistic", "Value"), rows=rows)
