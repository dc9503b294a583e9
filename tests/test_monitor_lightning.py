"""The README's own-training-loop examples (plain loop and Lightning) run as written; the Lightning callback
with a real Trainer on CPU, through a checkpoint."""

import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


def own_loop_examples() -> list[str]:
    """The python blocks of the README section "In your own training loop"."""
    readme = (ROOT / "README.md").read_text()
    text = readme.split("## In your own training loop", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_plain_loop_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(own_loop_examples()[0], "README plain loop", "exec"), scope)
    rows = [json.loads(line) for line in (tmp_path / "monitor.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 17, 33, 49]  # 2 epochs × 32 steps, every 16
    assert rows[0]["temperature"] == pytest.approx(0.1 / (64 * 0.1))
    assert rows[0]["noise_scale"] == pytest.approx(0.1 * (2048 / 64 - 1) / 0.1)
    assert rows[0]["max_eigenvalue"] > 0 and (tmp_path / "monitor.png").exists()


lightning = pytest.importorskip("lightning.pytorch")
from sgdnoise.monitor.lightning import NoiseMonitorCallback  # noqa: E402


def test_lightning_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(own_loop_examples()[1], "README Lightning", "exec"), scope)
    monitor = scope["callback"].monitor
    assert monitor.steps == 32 and len(monitor.records) == 4 and monitor.train_size == 2048
    assert len((tmp_path / "lightning-monitor.csv").read_text().splitlines()) == 1 + 4


class Regression(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(3, 1)

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.5)


class AdamWRegression(Regression):
    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.05)


def fit(tmp_path, max_steps, ckpt_path=None, module=Regression):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(48, 3, generator=gen)
    data = torch.utils.data.TensorDataset(
        x, x @ torch.tensor([[1.0], [2.0], [-1.0]]) + torch.randn(48, 1, generator=gen)
    )
    callback = NoiseMonitorCallback(nn.MSELoss(), every=2, curvature_every=2)
    trainer = lightning.Trainer(
        max_steps=max_steps,
        callbacks=[callback],
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module(), torch.utils.data.DataLoader(data, batch_size=8), ckpt_path=ckpt_path)
    return trainer, callback


def test_callback_state_survives_a_checkpoint(tmp_path):
    _, straight = fit(tmp_path, 12)
    first, _ = fit(tmp_path, 6)  # one epoch of 6 batches
    first.save_checkpoint(tmp_path / "epoch.ckpt")
    _, resumed = fit(tmp_path, 12, ckpt_path=tmp_path / "epoch.ckpt")
    assert resumed.monitor.steps == 12 and len(straight.monitor.records) == 6
    assert [r.step for r in resumed.monitor.records] == [r.step for r in straight.monitor.records]
    # the records before the checkpoint, the smoothing window over them and λ_max carry over: the first record
    # after resuming (step 7, same parameters) equals the uninterrupted run's (later steps differ by how
    # Lightning replays the data after a restart, not by the monitor)
    assert resumed.monitor.records[:4] == straight.monitor.records[:4]
    assert resumed.monitor.records[3].window == 4


def test_callback_on_adamw_reports_the_preconditioned_sharpness(tmp_path):
    _, callback = fit(tmp_path, 6, module=AdamWRegression)
    last = callback.monitor.records[-1]
    assert last.optimizer == "AdamW" and last.preconditioned and last.temperature is None
    assert last.max_eigenvalue > 0 and last.stability_threshold == pytest.approx(38 / 0.05)
    assert last.curvature_ratio == pytest.approx(last.max_eigenvalue / last.stability_threshold)


def fit_accumulating(callback: NoiseMonitorCallback, data: torch.utils.data.Dataset) -> lightning.Trainer:
    """Four optimizer steps of a Regression on batches of 8, three micro-batches accumulated per step."""
    trainer = lightning.Trainer(
        max_steps=4, callbacks=[callback], accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accumulate_grad_batches=3,
    )  # fmt: skip
    trainer.fit(Regression(), torch.utils.data.DataLoader(data, batch_size=8))
    return trainer


def test_callback_counts_optimizer_steps_under_gradient_accumulation(tmp_path):
    """accumulate_grad_batches = 3 on batches of 8: before, the monitor counted every micro-batch as a step and
    took B = 8; it now counts the trainer's optimizer steps, and B = 24 enters T and g."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(48, 3, generator=gen)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True) + torch.randn(48, 1, generator=gen))
    callback = NoiseMonitorCallback(nn.MSELoss(), every=1, curvature_every=1)
    trainer = fit_accumulating(callback, data)
    monitor = callback.monitor
    assert trainer.global_step == 4 and monitor.steps == 4 and len(monitor.records) == 4
    record = monitor.records[-1]
    assert record.batch_size == 24
    assert record.temperature == pytest.approx(0.05 / (24 * 0.5))
    assert record.noise_scale == pytest.approx(0.05 * (48 / 24 - 1) / 0.5)


def test_an_epochs_last_partial_accumulation_cycle_counts_only_its_examples():
    """44 examples in batches of 8 (the last of 4), k = 3: each epoch steps after 3 batches (24 examples) and
    after its last 3 (8 + 8 + 4 = 20); before, B = k × the last batch's 4 = 12 for the second."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(44, 3, generator=gen)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    callback = NoiseMonitorCallback(nn.MSELoss(), every=1, curvature_every=100)
    fit_accumulating(callback, data)
    assert [record.batch_size for record in callback.monitor.records] == [24, 20, 24, 20]


class NoForward(lightning.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(3, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch["x"], batch["y"]
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class DictBatches(Regression):
    def training_step(self, batch, batch_idx):
        return nn.functional.mse_loss(self(batch["x"]), batch["y"])


class DictData(torch.utils.data.Dataset):
    def __init__(self, n: int):
        gen = torch.Generator().manual_seed(1)
        self.x = torch.randn(n, 3, generator=gen)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i]}


def dict_fit(module, callback, n=17, max_steps=3):
    trainer = lightning.Trainer(
        max_steps=max_steps, callbacks=[callback], accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, torch.utils.data.DataLoader(DictData(n), batch_size=8))
    return trainer


def test_callback_batches_that_are_not_pairs_and_setup_mistakes_are_one_clear_error():
    """Before: 'too many values to unpack', 'x and y must be tensors, got str and str', torch's missing-forward
    NotImplementedError at the first measured step, and a TypeError for optimizer= given twice."""
    with pytest.raises(ValueError, match=r"a training batch is a dict of 2, not \(x, y\): pass inputs_and_targets="):
        dict_fit(DictBatches(), NoiseMonitorCallback(nn.MSELoss(), every=1))
    callback = NoiseMonitorCallback(nn.MSELoss(), inputs_and_targets=lambda b: (b["x"], b["y"]), every=1)
    dict_fit(DictBatches(), callback, n=24)
    assert len(callback.monitor.records) == 3 and callback.monitor.records[0].batch_size == 8
    with pytest.raises(ValueError, match="NoForward has no forward"):
        dict_fit(NoForward(), NoiseMonitorCallback(nn.MSELoss(), inputs_and_targets=lambda b: (b["x"], b["y"])))
    with pytest.raises(ValueError, match="do not give optimizer="):
        NoiseMonitorCallback(nn.MSELoss(), optimizer=torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1))


def test_callback_skips_an_epochs_one_example_last_batch():
    """17 examples in batches of 8: the third batch holds one. Before, the callback stopped training there."""
    callback = NoiseMonitorCallback(nn.MSELoss(), inputs_and_targets=lambda b: (b["x"], b["y"]), every=1)
    with pytest.warns(RuntimeWarning, match="a minibatch of one example"):
        trainer = dict_fit(DictBatches(), callback, n=17, max_steps=5)
    assert trainer.global_step == 5 and callback.monitor.steps == 5 and len(callback.monitor.records) == 4
