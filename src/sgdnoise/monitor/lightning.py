"""``NoiseMonitor`` as a Lightning ``Callback`` (install with ``pip install 'sgdnoise[lightning]'``)."""

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor

from sgdnoise.monitor.core import NoiseMonitor

try:
    import lightning.pytorch as pl
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError("NoiseMonitorCallback needs Lightning: pip install 'sgdnoise[lightning]'") from error


class NoiseMonitorCallback(pl.Callback):
    """Runs a ``NoiseMonitor`` on the ``LightningModule`` after every training batch ``(x, y)``.

    The monitor measures ``pl_module(x)``, so the module defines ``forward``. ``inputs_and_targets``: how to get
    ``(x, y)`` from a batch that is not that pair (e.g. ``lambda b: (b["image"], b["label"])``). Other arguments
    are ``NoiseMonitor``'s; lr and momentum come from the trainer's first optimiser, ``train_size`` defaults to
    the length of the training dataloader's dataset. The monitor counts optimizer steps: with
    ``accumulate_grad_batches`` = k it measures on the batch that completes a step, with B the examples of the
    micro-batches since the last step times the devices: k·len(x)·devices, fewer in an epoch's last, partial cycle.
    Each record's numbers are logged with ``LightningModule.log_dict`` under ``noise/…``; the monitor's state
    is saved in checkpoints.
    """

    def __init__(
        self,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        inputs_and_targets: Callable[[Any], tuple[Tensor, Tensor]] | None = None,
        **monitor_kwargs: Any,
    ):
        if "optimizer" in monitor_kwargs:
            raise ValueError("the callback passes the trainer's optimizer to the monitor: do not give optimizer=")
        self.loss_fn, self.inputs_and_targets, self.monitor_kwargs = loss_fn, inputs_and_targets, monitor_kwargs
        self.monitor: NoiseMonitor | None = None
        self._pending_state: dict[str, Any] | None = None
        self._steps_seen = 0  # the trainer's optimizer steps the monitor has counted
        self._examples = 0  # the examples of this device's micro-batches since the last optimizer step

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if type(pl_module).forward is pl.LightningModule.forward:
            raise ValueError(
                f"{type(pl_module).__name__} has no forward(x): the monitor measures pl_module(x), so define it"
            )
        kwargs = dict(self.monitor_kwargs)
        if "train_size" not in kwargs:
            dataset = trainer.train_dataloader.dataset
            if not hasattr(dataset, "__len__"):
                raise ValueError(
                    f"the training dataset ({type(dataset).__name__}) has no length: pass train_size=N to the callback"
                )
            kwargs["train_size"] = len(dataset)
        if len(trainer.optimizers) > 1:
            warnings.warn(
                f"the trainer has {len(trainer.optimizers)} optimizers: the monitor follows the first (its learning "
                "rate, momentum and the parameters it steps)",
                UserWarning,
                stacklevel=2,
            )
        self.monitor = NoiseMonitor(pl_module, self.loss_fn, optimizer=trainer.optimizers[0], **kwargs)
        if self._pending_state is not None:
            self.monitor.load_state_dict(self._pending_state)
        self._steps_seen, self._examples = trainer.global_step, 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert self.monitor is not None
        x, y = self._pair(batch)
        self._examples += len(x)
        if trainer.global_step == self._steps_seen:  # a micro-batch of gradient accumulation: no step yet
            return
        self._steps_seen = trainer.global_step
        batch_size, self._examples = self._examples * trainer.world_size, 0
        record = self.monitor.step(x, y, batch_size=batch_size)
        if record is not None:
            numbers = {
                f"noise/{k}": float(v)
                for k, v in vars(record).items()
                if isinstance(v, int | float) and not isinstance(v, bool) and k != "step"
            }
            pl_module.log_dict(numbers, on_step=True, on_epoch=False)

    def _pair(self, batch: Any) -> tuple[Tensor, Tensor]:
        """(x, y) of a training batch: the batch itself, or what ``inputs_and_targets`` makes of it."""
        if self.inputs_and_targets is not None:
            return self.inputs_and_targets(batch)
        if isinstance(batch, tuple | list) and len(batch) == 2:
            return batch[0], batch[1]
        kind = (
            f"a {type(batch).__name__} of {len(batch)}"
            if isinstance(batch, tuple | list | dict)
            else type(batch).__name__
        )
        raise ValueError(
            f"a training batch is {kind}, not (x, y): pass inputs_and_targets=, e.g. lambda batch: (batch[0], batch[1])"
        )

    def state_dict(self) -> dict[str, Any]:
        return self.monitor.state_dict() if self.monitor is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending_state = state_dict or None

    def plot(self, path: str | Path) -> Path:
        assert self.monitor is not None, "the callback has not run yet"
        return self.monitor.plot(path)
