"""sgdnoise: measure, predict and exploit the effect of SGD noise on generalization."""

__version__ = "0.1.0"
