"""Griffe extension for the documentation site: Sphinx cross-reference roles in docstrings
(:class:`MDM`, :func:`openhlm.fit`, :mod:`openhlm.report`, ...) are shown as inline code
(`MDM`), since MkDocs/mkdocstrings do not read reStructuredText roles.  Configured under
``extensions`` of the mkdocstrings handler in mkdocs.yml; the source is not changed.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|mod|meth|attr|data|exc|obj|const):`~?([^`]+)`")


def strip_roles(text: str) -> str:
    """``:class:`x``` -> ```x```; a ``~`` prefix (last component only, in Sphinx) is dropped."""
    return ROLE.sub(r"`\1`", text)


class SphinxRoles(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = strip_roles(obj.docstring.value)
