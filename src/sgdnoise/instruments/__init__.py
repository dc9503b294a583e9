"""The papers' measuring instruments, for any PyTorch model: call them with (model, loss_fn, data).

``data`` is a pair of tensors ``(x, y)`` or an iterable of ``(x, y)`` batches; losses are the mean over
all of it, computed chunk by chunk so memory stays bounded. Results are plain numbers or small frozen
dataclasses that carry their uncertainty.

Curvature (Smith et al. 2020 §3; Jastrzębski et al. §4.1)
    hessian_vector_product, hessian_eigenvalues, hessian_trace, hessian_norm, critical_learning_rate
Gradient noise (Smith & Le 2018 §5 and App. C; McCandlish et al. 2018)
    per_example_gradients, per_example_gradient_chunks, per_example_gradient_norms, gradient_noise,
    minibatch_gradient_noise, gradient_noise_gaussianity
Landscape (Jastrzębski et al. §4.1)
    interpolate
A NaN or infinite loss at the model's parameters is a ``NonFiniteLossError`` (a ValueError).
Bayesian evidence of L2-regularised logistic regression (Smith & Le 2018 §2)
    logistic_regression_evidence, logistic_regression_evidence_path, fit_logistic_regression,
    laplace_neg_log_evidence
"""

from sgdnoise.instruments._mean_loss import NonFiniteLossError
from sgdnoise.instruments.curvature import (
    CriticalLearningRate,
    EigenResult,
    HessianNormEstimate,
    TraceEstimate,
    critical_learning_rate,
    hessian_eigenvalues,
    hessian_norm,
    hessian_trace,
    hessian_vector_product,
)
from sgdnoise.instruments.evidence import (
    EvidenceResult,
    LogisticFit,
    fit_logistic_regression,
    laplace_neg_log_evidence,
    logistic_regression_evidence,
    logistic_regression_evidence_path,
)
from sgdnoise.instruments.gradnoise import (
    GradientGaussianity,
    GradientNoise,
    MinibatchNoiseEstimate,
    gradient_noise,
    gradient_noise_gaussianity,
    minibatch_gradient_noise,
    per_example_gradient_chunks,
    per_example_gradient_norms,
    per_example_gradients,
)
from sgdnoise.instruments.landscape import InterpolationResult, interpolate, recalibrate_batch_norm

__all__ = [
    "CriticalLearningRate",
    "EigenResult",
    "EvidenceResult",
    "GradientGaussianity",
    "GradientNoise",
    "HessianNormEstimate",
    "InterpolationResult",
    "LogisticFit",
    "MinibatchNoiseEstimate",
    "NonFiniteLossError",
    "TraceEstimate",
    "critical_learning_rate",
    "fit_logistic_regression",
    "gradient_noise",
    "gradient_noise_gaussianity",
    "hessian_eigenvalues",
    "hessian_norm",
    "hessian_trace",
    "hessian_vector_product",
    "interpolate",
    "laplace_neg_log_evidence",
    "logistic_regression_evidence",
    "logistic_regression_evidence_path",
    "minibatch_gradient_noise",
    "per_example_gradient_chunks",
    "per_example_gradient_norms",
    "per_example_gradients",
    "recalibrate_batch_norm",
]
