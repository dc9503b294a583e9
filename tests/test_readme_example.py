"""The README's "Instruments for your own model" example must run as written (so the docs cannot rot)."""

import contextlib
import io
import re
from pathlib import Path

from sgdnoise.runtime import torch_threads

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Instruments for your own model"


def _example_code() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one python block in {SECTION!r}, found {len(blocks)}"
    return blocks[0]


def test_readme_instruments_example_runs_and_prints_every_measurement():
    code = _example_code()
    output = io.StringIO()
    with torch_threads(1), contextlib.redirect_stdout(output):  # tiny model: one thread is fastest
        exec(compile(code, str(README), "exec"), {"__name__": "readme_example"})
    printed = output.getvalue()
    for expected in (
        "top Hessian eigenvalues",
        "tr H =",
        "||H||_F =",
        "critical learning rate",
        "B_simple =",
        "K² single",
        "loss along",
        "log evidence ratio E =",
    ):
        assert expected in printed
    assert "nan" not in printed.lower()
