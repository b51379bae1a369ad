""":class:`VariableList`: an MDM's variable names, carrying what the MDM left out.

``MDM.level1_variables`` and ``MDM.level2_variables`` are plain tuples of names to every caller;
they also carry ``left_out`` (``{name: (why, detail)}``, the file's variables the default choice
left out, e.g. ``{"passed": ("not numeric", "'yes' in 1 record of the level-1 file a.csv")}``),
so that the readers of model text (:mod:`openhlm.spec.names`) can say why a name the user
wrote is not in the MDM instead of calling it unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Self

__all__ = ["VariableList", "left_out_message", "left_out_reason"]


class VariableList(tuple):
    """A tuple of variable names with a ``left_out`` mapping (name -> ``(why, detail)``) and
    ``constant_level2``, the level-2 variables of a one-file MDM that were taken as level-2
    because they are constant within every unit."""

    left_out: dict[str, tuple[str, str]]
    constant_level2: tuple[str, ...]

    def __new__(
        cls,
        names: Iterable[str] = (),
        left_out: Mapping[str, tuple[str, str]] | None = None,
        constant_level2: Iterable[str] = (),
    ) -> Self:
        obj = super().__new__(cls, tuple(names))
        obj.left_out = dict(left_out or {})
        obj.constant_level2 = tuple(constant_level2)
        return obj


_WHAT_TO_DO = {
    "not numeric": "recode those values as numbers (blank = missing) and build the MDM again",
    "dates/times": "convert it to numbers in the file and build the MDM again",
    "no values": "fill it in, or leave it out of the model",
    "in both files": "rename one copy if the two files' variables differ",
}


def left_out_reason(why: str, detail: str) -> str:
    """``"not numeric: 'yes' in 1 record of ...; recode those values ..."`` (why and what to
    do, for the message of a name the MDM left out)."""
    what = _WHAT_TO_DO.get(why, "name it when building the MDM")
    return f"{why}: {detail}; {what}" if detail else f"{why}; {what}"


def left_out_message(name: str, why: str, detail: str) -> str:
    """Why ``name`` is in the data but not in the MDM, and what to do (one line)."""
    return f"'{name}' is in the data file but not in the MDM ({left_out_reason(why, detail)})"
