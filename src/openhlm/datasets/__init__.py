"""Example data bundled with openhlm.

``hsb`` - the High School and Beyond subsample used throughout Raudenbush & Bryk (2002) and the
HLM manuals: 7185 students (``hsb1``: id, minority, female, ses, mathach) in 160 schools
(``hsb2``: id, size, sector, pracad, disclim, himinty, meanses), in SPSS, Stata, SAS and CSV form.

>>> import openhlm.datasets
>>> mdm = openhlm.datasets.hsb()
>>> mdm.n_level1, mdm.n_level2
(7185, 160)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from openhlm.data.mdm import MDM

__all__ = ["EXAMPLES", "Example", "files", "hsb", "load", "path", "resolve_path"]

_ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Example:
    """A bundled example: its level-1 and level-2 files and the ID variable linking them."""

    name: str
    description: str
    level1: str
    level2: str
    id: str
    folder: str

    def level1_path(self) -> Path:
        """Path of the bundled level-1 file."""
        return _ROOT / self.folder / self.level1

    def level2_path(self) -> Path:
        """Path of the bundled level-2 file."""
        return _ROOT / self.folder / self.level2


EXAMPLES: dict[str, Example] = {
    "hsb": Example(
        name="hsb",
        description="High School and Beyond: 7185 students in 160 schools (Raudenbush & Bryk)",
        level1="hsb1.sav",
        level2="hsb2.sav",
        id="id",
        folder="hsb",
    ),
}


def _data_files() -> dict[str, Path]:
    """Bundled data files by name: files in the example folders (not code or caches)."""
    found: dict[str, Path] = {}
    for folder in sorted(_ROOT.iterdir()):
        if not folder.is_dir() or folder.name.startswith(("_", ".")):
            continue
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.suffix not in (".py", ".pyc") and file.name not in found:
                found[file.name] = file
    return found


def files() -> tuple[str, ...]:
    """Names of all bundled data files (e.g. ``"hsb1.sav"``, ``"hsb2.csv"``)."""
    return tuple(sorted(_data_files()))


def path(name: str) -> Path:
    """Path of a bundled data file, e.g. ``path("hsb1.sav")``.

    Raises
    ------
    DataError
        No bundled file of that name.
    """
    found = _data_files().get(str(name))
    if found is not None:
        return found
    from openhlm.errors import DataError

    raise DataError(f"no bundled example file {name!r}; bundled files: {', '.join(files())}")


def resolve_path(name: str | Path) -> Path:
    """A local file if it exists, else the bundled example file of that name, else ``name``.

    Lets the command line accept ``hsb1.sav`` wherever a data file is expected.
    """
    local = Path(name)
    if local.exists() or local.name != str(name) or local.name not in files():
        return local
    return path(local.name)


def load(name: str) -> MDM:
    """Build the MDM of a bundled example by name (see :data:`EXAMPLES`).

    Raises
    ------
    DataError
        Unknown example name.
    """
    from openhlm.data.mdm import build_mdm
    from openhlm.errors import DataError

    example = EXAMPLES.get(str(name).lower())
    if example is None:
        raise DataError(f"no bundled example {name!r}; examples: {', '.join(EXAMPLES)}")
    return build_mdm(example.level1_path(), example.level2_path(), id=example.id)


def hsb() -> MDM:
    """The High School and Beyond MDM (hsb1.sav + hsb2.sav linked by ``id``)."""
    return load("hsb")
