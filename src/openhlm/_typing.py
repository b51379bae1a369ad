"""Type aliases shared by the engine's annotations (static checking only; no runtime effect).

``FloatArray`` is what the estimation and inference layers compute with (float64 arrays of any
shape), ``IntArray`` the unit and column indices, ``BoolArray`` the masks.  Annotations that
accept anything numpy can turn into an array use :data:`numpy.typing.ArrayLike`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["ArrayLike", "BoolArray", "FloatArray", "IntArray"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ArrayLike = npt.ArrayLike
