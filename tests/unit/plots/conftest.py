"""Plots are drawn with the Agg backend (no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
