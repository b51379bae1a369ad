"""The seminar's four HS&B models as named, runnable examples.

Each entry of :data:`EXAMPLES` is ``(equations, method)`` in openhlm's equation syntax, to be fit
to the bundled High School and Beyond data (:func:`openhlm.datasets.hsb`), as in the UCLA HLM
6.08 seminar (Raudenbush & Bryk 2002, ch. 4)::

    >>> import openhlm
    >>> from openhlm.examples import fit_example
    >>> results = fit_example("hsb-model4")          # doctest: +SKIP
    >>> print(results)                                # doctest: +SKIP

or from the command line: ``openhlm fit --example hsb-model4``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openhlm.errors import SpecError

if TYPE_CHECKING:
    from openhlm.results import HLMResults

__all__ = ["DESCRIPTIONS", "EXAMPLES", "example", "fit_example"]

#: name -> (equations, method).
EXAMPLES: dict[str, tuple[str, str]] = {
    "hsb-model1": (
        "mathach = B0 + R; B0 = G00 + U0",
        "reml",
    ),
    "hsb-model2": (
        "mathach = B0 + R; B0 = G00 + G01*meanses + U0",
        "reml",
    ),
    "hsb-model3": (
        "mathach = B0 + B1*group(ses) + R; B0 = G00 + U0; B1 = G10 + U1",
        "reml",
    ),
    "hsb-model4": (
        ("mathach = B0 + B1*group(ses) + R; "
         "B0 = G00 + G01*sector + G02*meanses + U0; "
         "B1 = G10 + G11*sector + G12*meanses + U1"),
        "reml",
    ),
}

#: name -> one-line description (the seminar's / Raudenbush & Bryk's name of the model).
DESCRIPTIONS: dict[str, str] = {
    "hsb-model1": "Model 1: unconditional means (one-way random-effects ANOVA)",
    "hsb-model2": "Model 2: means as outcomes (MEANSES at level 2)",
    "hsb-model3": "Model 3: random coefficients (group-centred SES, random slope)",
    "hsb-model4": "Model 4: intercepts and slopes as outcomes (SECTOR, MEANSES)",
}


def example(name: str) -> tuple[str, str]:
    """``(equations, method)`` of the example ``name``.

    Raises
    ------
    SpecError
        Unknown name (the message lists the known ones).
    """
    try:
        return EXAMPLES[name.lower()]
    except KeyError:
        raise SpecError(f"no example model {name!r}; examples: {', '.join(EXAMPLES)}") from None


def fit_example(name: str, *, method: str | None = None, mode: str = "exact",
                **options) -> HLMResults:
    """Fit the example ``name`` to the bundled HS&B data.

    ``method`` overrides the example's method (``"reml"`` / ``"ml"``); ``mode`` and further
    keyword arguments go to :func:`openhlm.fit`.
    """
    from openhlm.api import fit
    from openhlm.datasets import hsb

    equations, default_method = example(name)
    return fit(equations, hsb(), method=method or default_method, mode=mode,  # type: ignore[arg-type]
               **options)
