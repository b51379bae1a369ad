"""Regenerate the golden report files: ``python -m tests.golden.regenerate`` (from the repo root).

Review the diff of ``tests/golden/files/`` like code before committing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"


def render_case(name: str) -> tuple[str, str]:
    """(text report, JSON text) of the hand-built case ``name``."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import hand_results

    from openhlm.report.json import results_to_dict
    from openhlm.report.text import render_text

    results = hand_results.CASES[name]()
    text = render_text(results)
    data = json.dumps(results_to_dict(results), indent=2, allow_nan=False) + "\n"
    return text, data


def main() -> int:
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    import hand_results

    FILES.mkdir(exist_ok=True)
    for name in hand_results.CASES:
        text, data = render_case(name)
        (FILES / f"{name}.txt").write_text(text, encoding="utf-8")
        (FILES / f"{name}.json").write_text(data, encoding="utf-8")
        print(f"wrote {FILES / name}.txt and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
