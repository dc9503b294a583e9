"""Noise and curvature monitor for your own training loop (Smith & Le 2018; Smith, Elsen & De 2020).

``NoiseMonitor`` for a plain PyTorch loop; ``sgdnoise.monitor.lightning.NoiseMonitorCallback`` for a
Lightning ``Trainer`` (extra ``[lightning]``; importing this package does not import Lightning).
"""

from sgdnoise.monitor.core import MonitorRecord, NoiseMonitor

__all__ = ["MonitorRecord", "NoiseMonitor"]
