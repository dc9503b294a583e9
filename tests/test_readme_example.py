"""The README's "Instruments for your own model" example and the docs/batch-schedule.md snippet must run as
written (so the docs cannot rot)."""

import contextlib
import io
import re
from pathlib import Path

import torch

from sgdnoise.runtime import torch_threads

README = Path(__file__).resolve().parents[1] / "README.md"
BATCH_SCHEDULE = README.parent / "docs" / "batch-schedule.md"
SECTION = "## Instruments for your own model"


def _example_code() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one python block in {SECTION!r}, found {len(blocks)}"
    return blocks[0]


def _run(code: str, path: Path) -> str:
    """What ``code`` prints, run as a fresh module on one torch thread (tiny models: one thread is fastest),
    torch's random state restored afterwards."""
    output = io.StringIO()
    with torch_threads(1), torch.random.fork_rng(), contextlib.redirect_stdout(output):
        exec(compile(code, str(path), "exec"), {"__name__": "docs_example"})
    return output.getvalue()


def test_readme_instruments_example_runs_and_prints_every_measurement():
    printed = _run(_example_code(), README)
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


def test_batch_schedule_doc_snippet_runs_as_written():
    """It used train_set, model, loss_fn, epochs, DataLoader and torch without defining them."""
    blocks = re.findall(r"```python\n(.*?)```", BATCH_SCHEDULE.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one python block in {BATCH_SCHEDULE.name}, found {len(blocks)}"
    printed = _run(blocks[0], BATCH_SCHEDULE).splitlines()
    assert [line.split(":")[0] for line in printed] == ["epoch 0", "epoch 1", "epoch 2"]
    assert int(printed[-1].split("B = ")[1].split(",")[0]) > 32  # the schedule grew B from B₀ = 32
