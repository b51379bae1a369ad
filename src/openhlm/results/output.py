"""The output methods every results type shares, all through the report hook
(:mod:`openhlm.results.hooks`): ``to_dict``, ``to_json``, ``report``, ``str()`` and
``_repr_html_``.  The two-level (:class:`~openhlm.results.HLMResults`), three-level and HGLM
results inherit them, so a JSON file is written the same way (a missing folder created, a folder
given as the file refused) whichever model made it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from openhlm.errors import DataError
from openhlm.results.hooks import render

__all__ = ["RenderedResults"]


class RenderedResults:
    """Mixin: the results' text, HTML, dict and JSON forms, rendered by the report layer."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = render("dict", self)
        return out

    def to_json(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> str:
        """The results as JSON text (indented by 2 unless ``indent=`` is given), also written
        to ``path`` when one is given."""
        kwargs.setdefault("indent", 2)
        text = json.dumps(self.to_dict(), **kwargs)
        if path is not None:
            target = Path(path)
            if target.is_dir():
                raise DataError(f"cannot write the JSON results to {target}: it is a folder; "
                                "give a file name such as results.json")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return text

    def report(self, **options: Any) -> str:
        """The text report (HLM's layout)."""
        text: str = render("text", self, **options)
        return text

    def __str__(self) -> str:
        return self.report()

    def _repr_html_(self) -> str:
        html: str = render("html", self)
        return html
