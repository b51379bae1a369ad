"""Case-insensitive lookup of variable names across the two levels of an MDM.

Shared by the equation parser, the command-file reader and the TOML model-file reader: every
name a user writes is resolved here to the spelling stored in the MDM, or rejected with a
message that says what went wrong (unknown name with close matches, or a variable of the other
level).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from openhlm.data.variables import left_out_reason

__all__ = [
    "NameProblem",
    "VariableNames",
    "close_matches",
    "did_you_mean",
    "left_out_of",
    "left_out_problem",
]


class NameProblem(Exception):
    """A name could not be resolved; ``message`` is a phrase without location.

    ``kind`` is ``"unknown"``, ``"ambiguous"``, ``"wrong-level"`` or ``"left-out"`` (in the
    data file but left out of the MDM, e.g. not numeric: the hint says why and what to do);
    ``level`` is the level of the variable for ``"wrong-level"``.
    """

    def __init__(self, kind: str, message: str, hint: str = "", level: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.hint = hint
        self.level = level


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Candidates that look like ``name`` (case-insensitive), best first, original spelling."""
    by_lower: dict[str, str] = {}
    for c in candidates:
        by_lower.setdefault(c.lower(), c)
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[f] for f in found]


def did_you_mean(matches: list[str]) -> str:
    """``" (did you mean 'ses'?)"`` / ``" (did you mean 'a' or 'b'?)"`` / ``""``."""
    if not matches:
        return ""
    quoted = [f"'{m}'" for m in matches]
    if len(quoted) == 1:
        text = quoted[0]
    else:
        text = ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {text}?)"


def _index(names: Iterable[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"variable names must be strings, got {name!r}")
        out.setdefault(name.lower(), [])
        if name not in out[name.lower()]:
            out[name.lower()].append(name)
    return out


class VariableNames:
    """The level-1 and level-2 variable names of an MDM, for case-insensitive lookup."""

    def __init__(self, level1: Iterable[str], level2: Iterable[str]):
        # an MDM's name lists carry the variables its default choice left out (not numeric ...)
        self.left_out = {**left_out_of(level1), **left_out_of(level2)}
        self.constant_level2 = {
            n.casefold()
            for names in (level1, level2)
            for n in getattr(names, "constant_level2", None) or ()
        }
        self.level1 = tuple(level1)
        self.level2 = tuple(level2)
        self._by_level = {1: _index(self.level1), 2: _index(self.level2)}

    def _find(self, name: str, level: int) -> str | None:
        found = self._by_level[level].get(name.lower())
        if not found:
            return None
        if name in found:
            return name
        if len(found) > 1:
            spelled = " and ".join(f"'{f}'" for f in found)
            raise NameProblem(
                "ambiguous",
                f"variable '{name}' is ambiguous",
                f" (the level-{level} data have {spelled}; write the name exactly)",
            )
        return found[0]

    def is_variable(self, name: str) -> bool:
        """Whether ``name`` names a variable of either level (case-insensitive)."""
        low = name.lower()
        return low in self._by_level[1] or low in self._by_level[2]

    def level_of(self, name: str) -> int | None:
        """1 or 2 if ``name`` is a variable of that level (level 1 preferred), else ``None``."""
        for level in (1, 2):
            if name.lower() in self._by_level[level]:
                return level
        return None

    def resolve(self, name: str, level: int) -> str:
        """Spelling of ``name`` at ``level`` as stored in the MDM.

        Raises
        ------
        NameProblem
            Unknown name (with close matches across both levels), or a variable of the other
            level.
        """
        found = self._find(name, level)
        if found is not None:
            return found
        other = 2 if level == 1 else 1
        other_name = self._find(name, other)
        if other_name is not None:
            hint = ""
            if other == 2 and other_name.casefold() in self.constant_level2:
                hint = (
                    " (it is constant within every unit of the data file, so the MDM took it "
                    "as a level-2 variable; to use it at level 1, name it in level1_variables, "
                    "--level1-vars, when building the MDM)"
                )
            raise NameProblem(
                "wrong-level",
                f"'{other_name}' is a level-{other} variable",
                hint,
                level=other,
            )
        left_out = left_out_problem(name, self.left_out)
        if left_out is not None:
            raise left_out
        matches = close_matches(name, self.level1 + self.level2)
        return _raise_unknown(name, matches)


def left_out_of(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The ``left_out`` mapping an MDM's name list carries (``{}`` for a plain list)."""
    return dict(getattr(names, "left_out", None) or {})


def left_out_problem(name: str, left_out: dict[str, tuple[str, str]]) -> NameProblem | None:
    """A ``"left-out"`` :class:`NameProblem` when ``name`` is a variable the MDM left out."""
    for stored, (why, detail) in left_out.items():
        if stored.casefold() == name.casefold():
            return NameProblem("left-out", f"'{name}' is in the data file but not in the MDM",
                               f" ({left_out_reason(why, detail)})")
    return None


def _raise_unknown(name: str, matches: list[str]) -> str:
    raise NameProblem("unknown", f"unknown variable '{name}'", did_you_mean(matches))
