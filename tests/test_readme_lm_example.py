"""The README's transformer language-model example runs as written and shows what the README says it shows."""

import contextlib
import io
import re
from pathlib import Path

from sgdnoise.runtime import torch_threads

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Watching a transformer language model train"


def test_readme_lm_example_trains_and_the_monitor_sees_b_simple_grow(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    monkeypatch.chdir(tmp_path)
    scope = {"__name__": "readme_lm_example"}
    with torch_threads(1), contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(code, str(README), "exec"), scope)
    records, losses = scope["monitor"].records, scope["losses"]
    assert len(records) == 15 and "nan" not in printed.getvalue().lower()
    assert all(r.optimizer == "AdamW" and r.temperature is None and r.tokens_per_example == 32 for r in records)
    first, last = records[0], records[-1]
    assert losses[last.step] < losses[first.step] - 1.0  # the model learns
    assert last.noise_scale_simple_tokens > 10 * first.noise_scale_simple_tokens  # B_simple grows as loss falls
    assert last.curvature_ratio < 1 < first.curvature_ratio  # past Adam's early instability
    assert (tmp_path / "lm-monitor.png").stat().st_size > 0
