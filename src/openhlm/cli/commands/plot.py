"""``openhlm plot``: draw a graph of a fitted model to a PNG, SVG or PDF file.

::

    openhlm plot model --example hsb-model4 --x ses --by sector --quartiles-of meanses -o m4.png
    openhlm plot qq-mdist --example hsb-model4 -o qq.pdf
    openhlm plot eb-vs --example hsb-model4 --variable pracad -o pracad.svg
    openhlm plot caterpillar model4.toml --coefficient INTRCPT1 -o cat.png

Graphs: model, level1, qq-mdist, mdrsvar-hist, mdrsvar-qq, eb-vs, caterpillar.  The model and
data options are those of ``openhlm fit``.  Three-level models: every graph; ``--by`` and
``--quartiles-of`` take level-2 or level-3 variables; caterpillar and qq-mdist draw the level-3
units (``--units 3``, the default) or the level-2 units (``--units 2``); level1 draws the
level-2 units' lines (``--level3-units N``: all those of N level-3 units, one colour each);
mdrsvar-hist and mdrsvar-qq the level-2 units; eb-vs a level-2 variable against the r's or a
level-3 variable against the u's.
"""

from __future__ import annotations

import argparse
from typing import Any

from openhlm.cli.commands.residuals import add_model_arguments

__all__ = ["GRAPHS", "register"]

#: graph name -> (help, options it uses)
GRAPHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "model": ("predicted outcome vs a level-1 predictor by level-2 values (HLM model graph)",
              ("x", "by", "quartiles_of")),
    "level1": ("each unit's level-1 line from its EB coefficients", ("x", "sample", "by")),
    "qq-mdist": ("Q-Q plot of MDIST against CHIPCT", ()),
    "mdrsvar-hist": ("histogram of MDRSVAR", ()),
    "mdrsvar-qq": ("normal Q-Q plot of standardised MDRSVAR", ()),
    "eb-vs": ("EB residuals against a level-2 variable, with a LOWESS smoother",
              ("variable", "coefficient")),
    "caterpillar": ("EB estimates, sorted, with intervals", ("coefficient", "kind")),
}
_SUFFIXES = (".png", ".svg", ".pdf")


def register(subparsers: Any) -> None:
    """Add ``openhlm plot`` to ``subparsers``."""
    listing = "\n".join(f"  {name:<13} {text}" for name, (text, _) in GRAPHS.items())
    parser = subparsers.add_parser(
        "plot", help="draw a graph of a fitted model (PNG, SVG, PDF)",
        description="Fit a model and draw one of HLM's graphs or the seminar's model checks.",
        epilog=f"graphs:\n{listing}\n\nexample:\n  openhlm plot model --example hsb-model4 "
               "--x ses --by sector --quartiles-of meanses -o model4.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("graph", choices=list(GRAPHS), metavar="GRAPH",
                        help="which graph: " + ", ".join(GRAPHS))
    add_model_arguments(parser)
    g = parser.add_argument_group("graph")
    g.add_argument("-o", "--out", metavar="FILE", required=True,
                   help="file to write (.png, .svg or .pdf)")
    g.add_argument("--x", metavar="VAR", help="level-1 predictor on the x axis (model, level1)")
    g.add_argument("--by", metavar="VAR", help="level-2 variable (three-level models: or "
                                               "level-3): one line per value (model), "
                                               "colour (level1)")
    g.add_argument("--quartiles-of", metavar="VAR",
                   help="level-2 variable drawn at its quartiles (model)")
    g.add_argument("--sample", type=int, default=30, metavar="N",
                   help="units drawn (level1; 0 = all; default 30)")
    g.add_argument("--variable", metavar="VAR",
                   help="level-2 variable (eb-vs; three-level models: or level-3)")
    g.add_argument("--coefficient", default="INTRCPT1", metavar="NAME",
                   help="random coefficient (eb-vs, caterpillar; default INTRCPT1)")
    g.add_argument("--kind", choices=("residual", "coefficient"), default="residual",
                   help="caterpillar of EB residuals or EB coefficients")
    g.add_argument("--units", type=int, choices=(2, 3), default=3,
                   help="three-level models: caterpillar and qq-mdist of the level-3 (u, "
                        "default) or level-2 (r) units")
    g.add_argument("--level3-units", type=int, metavar="N",
                   help="three-level models, level1: the lines of all level-2 units of N "
                        "level-3 units drawn at random, one colour per level-3 unit")
    g.add_argument("--name", metavar="TEXT", help="model name in the title (e.g. 'Model 4')")
    g.add_argument("--dpi", type=int, default=150, help="resolution of PNG files")
    parser.set_defaults(func=_plot)


def _plot(args: argparse.Namespace) -> int:
    from pathlib import Path

    from openhlm.cli.commands.fit import job_from_args
    from openhlm.errors import DataError, SpecError
    from openhlm.plots import PLOTS

    out = Path(args.out)
    if out.suffix.lower() not in _SUFFIXES:
        raise SpecError(f"graph file '{out}': use a .png, .svg or .pdf name")
    if args.graph == "eb-vs" and not args.variable:
        raise SpecError("eb-vs needs --variable NAME (a level-2 variable, e.g. pracad)")
    from openhlm.runner import run

    job = job_from_args(args)
    if job.options.engine != "memory":
        from openhlm.cli.commands.fit import run_fit

        results: Any = run_fit(job)   # out of core: the files go to the engine
    else:
        results = run(job.model, job.mdm, job.options)
    options: dict[str, Any] = {"model_name": args.name}
    for key in GRAPHS[args.graph][1]:
        value = getattr(args, key)
        if key == "sample":
            value = None if value <= 0 else value
        options[key] = value
    from openhlm.results.three_level import HLM3Results

    if isinstance(results, HLM3Results):
        if args.graph in ("caterpillar", "qq-mdist"):
            options["level_of_units"] = args.units
        if args.level3_units is not None:
            if args.graph != "level1":
                raise SpecError("--level3-units applies to the level1 graph only")
            options["level3_units"] = args.level3_units
    elif args.level3_units is not None:
        raise SpecError("--level3-units applies to the level1 graph of three-level models only")
    figure = PLOTS[args.graph](results, **options)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # as for reports and residual files
        figure.savefig(out, dpi=args.dpi)
    except OSError as exc:
        raise DataError(f"cannot write graph '{out}': {exc.strerror or exc}") from None
    print(f"{args.graph} graph written to {out}")
    return 0
