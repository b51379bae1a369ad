"""``openhlm mdm``: build, save and describe multilevel data matrices.

::

    openhlm mdm build --level1 hsb1.sav --level2 hsb2.sav --id id -o hsb.mdmz
    openhlm mdm describe hsb.mdmz
    openhlm mdm describe --example hsb
    openhlm mdm describe --level1 hsb1.sav --level2 hsb2.sav --id id
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]

_DATA_NOTE = (
    "Data files: .csv .tsv .txt .dat .sav .zsav .por .dta .sas7bdat .xpt .parquet .xlsx. "
    "The name of a bundled example file (e.g. hsb1.sav, hsb2.csv) may be given anywhere a data "
    "file is expected; it resolves to the bundled file when no such local file exists."
)


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give a comma-separated list of variable names")
    return names


def _add_data_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    group = parser.add_argument_group("data files")
    group.add_argument(
        "--level1",
        metavar="FILE",
        required=required,
        help="level-1 data file (or the one file holding both levels)",
    )
    group.add_argument(
        "--level2",
        metavar="FILE",
        help="level-2 data file, one record per unit (omit for a single file)",
    )
    group.add_argument(
        "--level3",
        metavar="FILE",
        help="level-3 data file, one record per level-3 unit (three-level MDM; with "
        "--id L2ID,L3ID)",
    )
    group.add_argument(
        "--id",
        metavar="ID",
        required=required,
        help="ID variable linking the levels (case-insensitive); a three-level MDM: the "
        "level-2 and the level-3 ID, L2ID,L3ID",
    )
    group.add_argument(
        "--level3-vars",
        metavar="E,F",
        type=_names,
        help="level-3 variables to keep (three-level MDM)",
    )
    group.add_argument(
        "--level1-vars",
        metavar="A,B",
        type=_names,
        help="level-1 variables to keep (default: all numeric ones)",
    )
    group.add_argument(
        "--level2-vars",
        metavar="C,D",
        type=_names,
        help="level-2 variables to keep (default: all numeric ones; with one file, "
        "the numeric variables constant within every unit)",
    )
    group.add_argument(
        "--missing",
        choices=("listwise", "analysis"),
        default="analysis",
        help="missing level-1 values: delete rows now (listwise) or at analysis "
        "time for each model's variables (analysis, the default)",
    )
    group.add_argument(
        "--drop-incomplete-units",
        action="store_true",
        help="drop level-2 units with missing level-2 values instead of failing",
    )


def register(subparsers: Any) -> None:
    """Add ``openhlm mdm`` and its subcommands to ``subparsers``."""
    parser = subparsers.add_parser(
        "mdm",
        help="build or describe a multilevel data matrix (MDM)",
        description="Build, save and describe multilevel data matrices (HLM's MDM files).",
    )
    parser.set_defaults(func=lambda args: _usage(parser))
    actions = parser.add_subparsers(dest="mdm_command", metavar="ACTION")

    build = actions.add_parser(
        "build",
        help="build an MDM from data files and save it",
        description="Build an MDM from a level-1 and a level-2 file (or one file) and save it; "
        "prints the descriptive statistics.",
        epilog=_DATA_NOTE,
    )
    _add_data_options(build, required=True)
    build.add_argument(
        "-o",
        "--output",
        metavar="OUT.mdmz",
        required=True,
        help="MDM file to write (suffix .mdmz suggested)",
    )
    build.set_defaults(func=_build)

    describe = actions.add_parser(
        "describe",
        help="print the descriptive statistics of an MDM",
        description="Print HLM's level-1 and level-2 descriptive statistics of a saved MDM, a "
        "bundled example, or data files.",
        epilog=_DATA_NOTE,
    )
    describe.add_argument("mdm_file", nargs="?", metavar="FILE.mdmz", help="a saved MDM")
    describe.add_argument("--example", metavar="NAME", help="a bundled example (e.g. hsb)")
    _add_data_options(describe, required=False)
    describe.set_defaults(func=_describe)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _mdm_from_files(args: argparse.Namespace) -> Any:
    from openhlm.data.mdm import build_mdm
    from openhlm.datasets import resolve_path

    if args.level3 is not None or "," in args.id:
        from openhlm.data.mdm3 import build_mdm3

        return build_mdm3(
            resolve_path(args.level1),
            None if args.level2 is None else resolve_path(args.level2),
            None if args.level3 is None else resolve_path(args.level3),
            id=tuple(n.strip() for n in args.id.split(",")),
            level1_variables=args.level1_vars, level2_variables=args.level2_vars,
            level3_variables=args.level3_vars, missing=args.missing,
            drop_incomplete_units=args.drop_incomplete_units)
    return build_mdm(
        resolve_path(args.level1),
        None if args.level2 is None else resolve_path(args.level2),
        id=args.id,
        level1_variables=args.level1_vars,
        level2_variables=args.level2_vars,
        missing=args.missing,
        drop_incomplete_units=args.drop_incomplete_units,
    )


def _build(args: argparse.Namespace) -> int:
    mdm = _mdm_from_files(args)
    mdm.save(args.output)
    print(mdm.describe_text(), end="")
    print(f"\nMDM saved to {args.output}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    from openhlm.errors import MDMError

    chosen = [args.mdm_file is not None, args.example is not None, args.level1 is not None]
    if sum(chosen) != 1:
        raise MDMError(
            "give exactly one of: an MDM file, --example NAME, or --level1 FILE (with --id)"
        )
    if args.mdm_file is not None:
        from openhlm.data.build import load_any_mdm

        mdm = load_any_mdm(args.mdm_file)
    elif args.example is not None:
        from openhlm.datasets import load

        mdm = load(args.example)
    else:
        if args.id is None:
            raise MDMError("--id is required with --level1")
        mdm = _mdm_from_files(args)
    print(mdm.describe_text(), end="")
    return 0
