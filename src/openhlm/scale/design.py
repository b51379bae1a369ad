"""From merged per-unit statistics to the design and the estimates, without the level-1 rows.

:func:`summary_design` turns the per-unit statistics of the raw level-1 variables
(:class:`openhlm.scale.partial.PartialStats`) and the level-2 table into

* a :class:`SummaryDesign`: the :class:`~openhlm.estimation.design.Design` of the model with
  everything per unit (unit IDs, counts, W, level-2 weights, level-2 data, centring means,
  deletion counts) and no level-1 rows (``X`` has 0 rows; ``n_level1`` is the analysis count);
* the per-unit moments of the design's columns [X, y] (:class:`UnitMoments`), which are all the
  exact estimator reads.

Centring: the level-1 column of coefficient p is x_v - c_jp with c_jp = 0 (uncentred), the
grand mean of x_v over the analysis rows (grand-mean centring: sum_j n_j m_jv / sum_j n_j, from
the merged totals) or the unit's own mean m_jv (group-mean centring).  A per-unit shift changes
the means by c_jp and leaves the centred cross-products C_j unchanged, so [X, y] has

    mean_j = m_j L + s_j,   C_j(X, y) = L' C_j(raw) L,

L the 0/1 map from the raw variables to the columns (the intercept column is the constant 1:
mean 1, no variation).  The level-2 side (W, grand-mean centring of level-2 predictors over the
analysis units, level-2 weights and their normalisation, constraints) is built by the ordinary
:func:`~openhlm.estimation.design.build_design` on a one-row-per-unit stand-in MDM, so it is
the same code as an in-memory fit.

:func:`estimate_from_moments` is exact-mode estimation (:func:`openhlm.estimation.fit.estimate`,
``mode="exact"``) from given moments instead of a design's rows; it wraps the engine's public
functions (``stats_from_raw``, ``working_basis``, ``Basis.stats``, ``check_identified``,
``fit_exact_homogeneous``) exactly as ``estimation.fit._estimate_exact`` does after its first
line.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from openhlm.data import MDM
from openhlm.data.ids import canonical_ids
from openhlm.errors import DataError, DataWarning, EstimationError, MDMError
from openhlm.estimation.design import Design, build_design
from openhlm.estimation.estimates import Estimates
from openhlm.estimation.exact import working_basis
from openhlm.estimation.fit import check_max_iterations, check_tolerance, estimate_exact_from
from openhlm.estimation.statistics import UnitMoments
from openhlm.estimation.sufficient import stats_from_raw
from openhlm.scale.partial import PartialStats
from openhlm.scale.weights import (
    LevelOneWeights,
    WeightedStats,
    check_positive,
    normalised_moments,
    weighting_spec,
)
from openhlm.spec.model import Centering, ModelSpec
from openhlm.spec.options import Weights

__all__ = ["SummaryDesign", "design_moments", "estimate_from_moments", "summary_design"]

_LISTED = 10


@dataclass(frozen=True)
class SummaryDesign(Design):
    """A :class:`Design` whose level-1 rows were never in memory (``X`` has 0 rows).

    ``n_rows`` is the number of analysis rows; ``engine`` what made the statistics and
    ``passes`` the passes over the level-1 data.
    """

    n_rows: int = 0
    engine: str = "memory"
    passes: int = 1
    rows_read: int = 0
    seconds: float = 0.0
    #: (J, 2) per-unit mean and centred sum of squares of the outcome: what identifies the
    #: outcome values when the rows are not in memory (deviance tests compare them)
    outcome_moments: np.ndarray | None = None
    #: the level-1 data the statistics were made from (files, "<dask DataFrame>")
    sources: tuple[str, ...] = ()
    #: (J,) the unit IDs as stored in the level-1 data (the join key of a second pass)
    unit_keys: np.ndarray | None = None
    #: where the rows are, for the passes after the fit (level-1 residual file;
    #: :class:`openhlm.scale.residuals.RowSource`)
    level1_rows: Any = None
    #: what the passes after the first are for (the report's note)
    later_passes: tuple[str, ...] = ()
    #: the unweighted per-unit moments of [X, y] (what the rows would give)
    moments: UnitMoments | None = None
    #: with level-1 design or precision weights, the moments of [X, y] without the weights
    #: (what LNTOTVAR and MDRSVAR of the level-2 residual file read, as in memory); else None
    plain_moments: UnitMoments | None = None
    #: what later passes found, kept for the fit (``"ranges"``: each unit's range of the raw
    #: level-1 variables, :mod:`openhlm.scale.ranges`)
    derived: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    #: inference must not look for level-1 rows (EB residual files, plots)
    rows_in_memory = False

    @property
    def n_level1(self) -> int:  # type: ignore[override]
        return int(self.n_rows)

    def unit_column_means(self) -> np.ndarray:
        """(J, P) every unit's unweighted mean of each column of X (from the statistics)."""
        mom = self.plain_moments if self.plain_moments is not None else self.moments
        assert mom is not None
        return np.asarray(mom.mean[:, :-1])

    def unit_column_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), each (J, P): every unit's range of each column of X, from one pass
        over the rows made the first time it is asked for (:mod:`openhlm.scale.ranges`)."""
        from openhlm.scale.ranges import unit_column_ranges

        return unit_column_ranges(self)

    @property
    def statistics_note(self) -> str:
        """The report's note on how the statistics were made."""
        name = {"duckdb": "DuckDB (out of core)", "dask": "Dask (distributed)"}.get(
            self.engine, self.engine)
        later = "".join(f"; {what}" for what in self.later_passes)
        return (f"Per-unit statistics computed by {name} in {self.passes} pass"
                f"{'es' if self.passes != 1 else ''} over {self.rows_read:,} level-1 records "
                f"({self.seconds:.1f} s){later}; the level-1 rows were not held in memory: the "
                "level-2 residual file and the exploratory analysis come from the per-unit "
                "statistics, the level-1 residual file (Parquet or CSV) and the units' ranges "
                "for the graphs of the level-1 equations from a pass over the rows.")


def _listed(ids: np.ndarray) -> str:
    shown = ", ".join(str(u) for u in ids[:_LISTED])
    return shown + (f" ... ({len(ids)} in all)" if len(ids) > _LISTED else "")


def _resolve(columns: list[str], name: str, where: str) -> str:
    if name in columns:
        return name
    lower = {c.lower(): c for c in columns}
    if name.lower() in lower:
        return lower[name.lower()]
    raise MDMError(f"the {where} has no variable '{name}' (available: {', '.join(columns)})")


def _level2_from_table(stats: PartialStats, keys: np.ndarray, level2: pd.DataFrame,
                       id_name: str, names: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """(position in ``keys`` of each level-2 unit with rows, their level-2 values)."""
    cols = [str(c) for c in level2.columns]
    idc = _resolve(cols, id_name, "level-2 table")
    raw2 = level2[idc].to_numpy()
    if raw2.dtype.kind in "iu" and stats.ids.dtype.kind in "iu":
        # integer IDs on both sides: match the integers (the canonical text of an integer is
        # its decimal form, so the result is the same, without a Python call per unit)
        mine, theirs = pd.Index(stats.ids), pd.Index(raw2)
        keys2 = raw2.astype(str).astype(object)
    else:
        codes, keys2 = canonical_ids(level2[idc])
        if (codes < 0).any():
            raise MDMError(f"the level-2 table has {int((codes < 0).sum())} record(s) with a "
                           "missing ID")
        if len(keys2) != len(level2):
            dup = pd.Series(keys2[codes]).duplicated(keep=False)
            raise MDMError(f"duplicated IDs in the level-2 table: "
                           f"{_listed(np.unique(keys2[codes][dup.to_numpy()]))}")
        mine, theirs = pd.Index(keys), pd.Index(keys2)
    if not theirs.is_unique:
        dup = theirs[theirs.duplicated()]
        raise MDMError(f"duplicated IDs in the level-2 table: {_listed(np.asarray(dup))}")
    pos = mine.get_indexer(theirs)
    unknown = np.asarray(keys)[~mine.isin(theirs)]
    if unknown.size:
        raise MDMError(f"{unknown.size} level-1 ID(s) have no record in the level-2 table: "
                       f"{_listed(unknown)}")
    if (pos < 0).any():
        warnings.warn(f"{int((pos < 0).sum())} level-2 unit(s) have no level-1 records and are "
                      f"dropped: {_listed(keys2[pos < 0])}", DataWarning, stacklevel=4)
    resolved = [_resolve(cols, n, "level-2 table") for n in names]
    frame = pd.DataFrame({n: pd.to_numeric(level2[r], errors="coerce").to_numpy(dtype=float)
                          for n, r in zip(names, resolved)}, index=pd.RangeIndex(len(level2)))
    frame = frame.loc[pos >= 0].reset_index(drop=True)
    order = pos[pos >= 0]
    missing = frame.isna().any(axis=1).to_numpy()
    if missing.any():
        bad = [n for n in names if frame[n].isna().any()]
        raise MDMError(f"level-2 variable(s) {', '.join(bad)} are missing for unit(s) "
                       f"{_listed(keys[order][missing])}")
    return order, frame


def _level2_from_rows(stats: PartialStats, keys: np.ndarray) -> pd.DataFrame:
    lo, hi = stats.level2_min, stats.level2_max
    assert lo is not None and hi is not None
    for k, name in enumerate(stats.level2_variables):
        varies = np.isfinite(lo[:, k]) & (hi[:, k] != lo[:, k])
        if varies.any():
            raise MDMError(f"level-2 variable '{name}' varies within unit(s) "
                           f"{_listed(keys[varies])} (across the rows of the files); give a "
                           "level-2 table with level2=... or fix the data")
        missing = ~np.isfinite(lo[:, k])
        if missing.any():
            raise MDMError(f"level-2 variable '{name}' is missing for unit(s) "
                           f"{_listed(keys[missing])}")
    return pd.DataFrame({n: lo[:, k] for k, n in enumerate(stats.level2_variables)},
                        index=pd.RangeIndex(stats.n_units))


def summary_design(spec: ModelSpec, stats: PartialStats, *, id_name: str,
                   level2: pd.DataFrame | None = None, weights: Weights | None = None,
                   engine: str = "memory", passes: int = 1,
                   sources: tuple[str, ...] = (), seconds: float = 0.0,
                   extra_level2: tuple[str, ...] = ()) -> tuple[SummaryDesign, UnitMoments]:
    """The design of ``spec`` and the moments of its [X, y] (module docstring).

    ``stats`` holds the moments of ``(*spec.level1_variables() (unique), spec.outcome)`` and, when
    ``level2`` is None, the level-2 variables' per-unit minimum and maximum.  ``extra_level2``:
    further level-2 variables kept in ``level2_data`` (exploratory candidates, extra variables
    of the residual files), checked like the model's.

    Raises
    ------
    DataError
        Infinite values; no analysis rows.
    MDMError
        Level-1 IDs without a level-2 record, duplicated or missing level-2 IDs, missing level-2
        values, a level-2 variable varying within a unit.
    """
    for name, count in zip(stats.variables, stats.infinite):
        if count:
            raise DataError(f"level-1 variable '{name}' has {int(count)} infinite value(s); "
                            "recode them as missing or fix the data")
    if stats.ids.dtype.kind in "iu":
        keys = stats.ids.astype(str).astype(object)
    else:
        _, keys = canonical_ids(stats.ids)
    if len(keys) != stats.n_units:
        raise MDMError("two level-1 ID values denote the same unit (e.g. 12 and '12.0') in "
                       "different files; store the ID with one type")
    l2_names = list(dict.fromkeys([*spec.level2_variables(),
                                   *([weights.level2] if weights and weights.level2 else []),
                                   *extra_level2]))
    if level2 is not None:
        order, l2 = _level2_from_table(stats, keys, level2, id_name, l2_names)
    else:
        # units in ID order (the files' row order is not meaningful out of core)
        order = np.argsort(stats.ids, kind="stable")
        l2 = _level2_from_rows(stats, keys).iloc[order].reset_index(drop=True)
    mom_all = stats.moments
    n_kept = mom_all.n[order]
    present = n_kept > 0
    dropped = tuple(str(k) for k in keys[order][~present])
    if not present.any():
        raise DataError("no level-1 rows are left after deleting rows with missing values in "
                        f"{', '.join(stats.variables)}")
    sel = order[present]
    J = int(sel.size)
    unit_ids = keys[sel]
    mom = UnitMoments(weight=mom_all.weight[sel], mean=mom_all.mean[sel],
                      centred=mom_all.centred[sel], n=mom_all.n[sel],
                      sum_log_w=mom_all.sum_log_w[sel])
    l2 = l2.loc[present].reset_index(drop=True)
    fit_mom, lw, wsel = mom, None, None
    if stats.weighted is not None and weights is not None:
        # level-1 design / precision weights (scale.weights): the weighted moments with the
        # design weights normalised; the unweighted ones still give the centring means
        lw = LevelOneWeights(weights.level1, weights.precision, str(weights.normalize))
        w = stats.weighted
        wm = w.moments
        wsel = WeightedStats(UnitMoments(weight=wm.weight[sel], mean=wm.mean[sel],
                                         centred=wm.centred[sel], n=wm.n[sel],
                                         sum_log_w=wm.sum_log_w[sel]),
                             w.positive[sel], None if w.checks is None else w.checks[sel])
        check_positive(wsel, unit_ids, lw)
        fit_mom = normalised_moments(wsel, lw)

    # the level-2 side from the ordinary design builder on a one-row-per-unit stand-in
    level1_names = list(dict.fromkeys([spec.outcome, *spec.level1_variables()]))
    stand_in = MDM(id_name=id_name, unit_ids=unit_ids,
                   level1=pd.DataFrame({n: np.zeros(J) for n in level1_names}),
                   unit_index=np.arange(J), level2=l2, sources=sources)
    level2_weights = (Weights(level2=weights.level2, normalize=weights.normalize)
                      if weights and weights.level2 else None)
    base = build_design(spec, stand_in, weights=level2_weights)

    moments, means = design_moments(spec, stats.variables, fit_mom, centring=mom)
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(Design)}
    if lw is not None and wsel is not None:
        fields["weighting"] = weighting_spec(wsel, lw, mom.n, base.weighting)
    P = len(spec.coefficients)
    fields.update(
        y=np.zeros(0), X=np.zeros((0, P)), unit=np.zeros(0, dtype=np.int64),
        n_per_unit=np.rint(mom.n).astype(np.int64),
        centering_means={**means, **{k: v for k, v in base.centering_means.items()
                                     if k.startswith("level2:")}},
        deleted_rows=int(stats.rows.sum() - mom_all.n.sum()), dropped_units=dropped,
        level1_data=pd.DataFrame(columns=level1_names))
    design = SummaryDesign(**fields, n_rows=round(float(mom.n.sum())), engine=engine,
                           passes=passes, rows_read=int(stats.rows.sum()), seconds=seconds,
                           outcome_moments=np.column_stack([moments.mean[:, -1],
                                                            moments.centred[:, -1, -1]]),
                           sources=tuple(sources), unit_keys=stats.ids[sel], moments=moments,
                           plain_moments=None if lw is None else design_moments(
                               spec, stats.variables, mom)[0])
    return design, moments


def design_moments(spec: ModelSpec, variables: tuple[str, ...], raw: UnitMoments,
                   centring: UnitMoments | None = None
                   ) -> tuple[UnitMoments, dict[str, float]]:
    """Moments of the design's columns [X, y] from those of the raw variables (centring
    applied as per-unit shifts; module docstring), and the grand means used.

    ``centring``: the unweighted moments the centring means come from when ``raw`` is
    weighted by level-1 weights (an in-memory fit centres on unweighted means too)."""
    c_mom = raw if centring is None else centring
    J, m = raw.mean.shape
    P = len(spec.coefficients)
    L = np.zeros((m, P + 1))
    shift = np.zeros((J, P + 1))
    index = {v: k for k, v in enumerate(variables)}
    total = float(c_mom.weight.sum())
    means: dict[str, float] = {}
    for p, coef in enumerate(spec.coefficients):
        if coef.predictor is None:
            shift[:, p] = 1.0
            continue
        k = index[coef.predictor.name]
        L[k, p] = 1.0
        if coef.predictor.centering is Centering.GRAND:
            c = float(c_mom.weight @ c_mom.mean[:, k]) / total
            means[f"level1:{coef.predictor.name}"] = c
            shift[:, p] = -c
        elif coef.predictor.centering is Centering.GROUP:
            shift[:, p] = -c_mom.mean[:, k]
    L[index[spec.outcome], P] = 1.0
    mean = raw.mean @ L + shift
    # L selects one raw variable per column (none for the intercept): C = L'C_raw L by indexing
    pick = np.array([int(np.flatnonzero(L[:, a])[0]) if L[:, a].any() else -1
                     for a in range(P + 1)])
    on = np.flatnonzero(pick >= 0)
    centred = np.zeros((J, P + 1, P + 1))
    centred[:, on[:, None], on[None, :]] = raw.centred[:, pick[on][:, None], pick[on][None, :]]
    return UnitMoments(weight=raw.weight.copy(), mean=mean, centred=centred, n=raw.n.copy(),
                       sum_log_w=raw.sum_log_w.copy()), means


def estimate_from_moments(design: Design, mom: UnitMoments, *, method: str = "reml",
                          max_iterations: int | None = None,
                          tolerance: float | None = None) -> Estimates:
    """Exact-mode (RE)ML from the per-unit moments of [X, y] (module docstring)."""
    reml = method.lower() == "reml"
    check_max_iterations(max_iterations)
    check_tolerance(tolerance)
    uw = (np.ones(design.n_level2) if design.unit_weights is None
          else np.asarray(design.unit_weights, dtype=float))
    stats = stats_from_raw(mom.raw(), design.G(), design.random_columns, mom.n, mom.sum_log_w, uw)
    basis = working_basis(design, mom)
    wstats = basis.stats(mom, design.random_columns, uw)
    check_identified_from_moments(design, mom, wstats)
    return estimate_exact_from(design, stats, mom, basis, wstats, reml,
                               max_iterations=max_iterations, tolerance=tolerance,
                               advice="check the model for collinear predictors")


def check_identified_from_moments(design: Design, mom: UnitMoments, wstats: Any) -> None:
    """The refusals of :func:`openhlm.estimation.fit.check_identified`, decided from the
    per-unit moments instead of the level-1 rows (which an out-of-core fit never holds).

    Variance components: one level-2 unit, every unit with one record, a constant outcome, an
    outcome constant within every unit.  Fixed effects: constant or collinear columns, from the
    equilibrated cross-products of the working basis (offsets and units already removed).
    """
    if design.n_random == 0:
        raise EstimationError("the model has no random coefficient: add U0 (or another Uq) to a "
                              "level-2 equation")
    outcome = design.spec.outcome
    J = int(mom.n.shape[0])
    if J < 2:
        raise DataError("the data hold only one level-2 unit: the level-2 variance (tau) cannot "
                        "be estimated from one unit; use data with several units or fit a "
                        "single-level regression")
    if float(np.max(mom.n)) <= 1:
        raise EstimationError(f"every level-2 unit has only one level-1 record (N = J = {J}): "
                              "sigma^2 and tau00 are not separately identified; a two-level "
                              "model needs units with several records")
    w = np.asarray(mom.weight, dtype=float)
    yi = mom.centred.shape[1] - 1
    within = float(np.sum(mom.centred[:, yi, yi]))
    ybar = float(w @ mom.mean[:, yi] / max(float(w.sum()), 1e-300))
    between = float(w @ (mom.mean[:, yi] - ybar) ** 2)
    scale = max(abs(ybar), float(np.max(np.abs(mom.mean[:, yi]))), 1e-300)
    if within + between <= (1e-13 * scale) ** 2 * float(w.sum()):
        raise DataError(f"the outcome '{outcome}' is constant: there is no variation to model; "
                        "check the outcome variable")
    if within <= 1e-24 * (within + between):
        raise DataError(f"the outcome '{outcome}' is constant within every level-2 unit, so the "
                        "level-1 variance sigma^2 is 0 and the model cannot be estimated; check "
                        "the outcome (is it a level-2 variable or an aggregate?)")
    AA = np.asarray(wstats.sum_AA, dtype=float)
    if AA.size == 0:
        return
    d = np.diag(AA)
    K = design.constraint_matrix
    labels = [design.gamma_labels[int(np.flatnonzero(K[:, k])[0])] for k in range(K.shape[1])]
    if d.min() <= 0:
        bad = [g for g, x in zip(labels, d) if x <= 0]
        raise EstimationError(f"the fixed effects are not identified: the columns for "
                              f"{', '.join(bad)} are zero; remove them")
    corr = AA / np.sqrt(np.outer(d, d))
    ev, vec = np.linalg.eigh(corr)
    if ev[0] <= 1e-10 * ev[-1]:
        involved = [g for g, x in zip(labels, vec[:, 0]) if abs(x) > 1e-3]
        raise EstimationError("the fixed effects are not identified: the columns for "
                              f"{', '.join(involved)} are constant, zero or collinear (a "
                              "predictor is constant or a linear combination of others in this "
                              "model); remove one of them")
