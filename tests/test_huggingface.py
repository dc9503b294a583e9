"""Hugging Face models built from a config (no download): GPT-2 with its tied head, dict outputs and both
attention implementations, through the instruments and the monitor, and BERT, against brute force in float64."""

import pytest
import torch
from architectures import exact_hessian, loop_gradients, masked_loop_gradients
from torch.nn import functional as F

from sgdnoise.instruments import gradient_noise, hessian_eigenvalues, per_example_gradient_norms, per_example_gradients
from sgdnoise.monitor import NoiseMonitor

transformers = pytest.importorskip("transformers")


def lm_loss(outputs, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs.logits.flatten(0, 1), targets.flatten())


def gpt2(attention: str, n: int = 6):
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=13, n_positions=8, n_embd=4, n_layer=2, n_head=2, attn_implementation=attention
    )
    model = transformers.GPT2LMHeadModel(config).double().eval()
    assert model.config._attn_implementation == attention
    assert model.lm_head.weight is model.transformer.wte.weight  # the head is tied to the embedding
    tokens = torch.randint(0, 13, (n, 6), generator=torch.Generator().manual_seed(1))
    return model, tokens[:, :-1], tokens[:, 1:]


class Logits(torch.nn.Module):
    """A Hugging Face model's logits as a tensor (for the brute-force reference in train mode)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens).logits


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_instruments_on_a_config_built_gpt2_are_exact(attention):
    model, x, y = gpt2(attention)
    expected = loop_gradients(model, lm_loss, x, y)
    torch.testing.assert_close(per_example_gradients(model, lm_loss, (x, y)), expected, rtol=1e-10, atol=1e-12)
    sq = per_example_gradient_norms(model, lm_loss, (x, y), squared=True)
    torch.testing.assert_close(sq, expected.square().sum(1), rtol=1e-10, atol=0)
    mean = expected.mean(0)
    b_simple = float((expected - mean).square().sum() / (x.shape[0] - 1) / mean.square().sum())
    assert gradient_noise(model, lm_loss, (x, y), 2).noise_scale_simple == pytest.approx(b_simple, rel=1e-10)
    exact = torch.linalg.eigvalsh(exact_hessian(model, lm_loss, x, y)).flip(0)[:2]
    result = hessian_eigenvalues(model, lm_loss, (x, y), k=2, tol=1e-9)
    torch.testing.assert_close(result.eigenvalues, exact, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_per_example_gradients_of_gpt2_in_train_mode_use_the_forward_pass_dropout(attention):
    # GPT-2's default config drops out embeddings, attention weights and residuals (p = 0.1): its per-example
    # gradients (all by closed forms, which read the forward pass's activations) are those of one batched pass
    model, x, y = gpt2(attention)
    model.train()

    def logits_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    expected = masked_loop_gradients(Logits(model), logits_loss, x, y, seed=3)
    torch.manual_seed(3)
    got = per_example_gradients(model, lm_loss, (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


def test_monitor_on_gpt2_with_adamw():
    model, x, y = gpt2("sdpa")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    monitor = NoiseMonitor(model, lm_loss, train_size=6, optimizer=optimizer, every=1, curvature_every=1)
    for _ in range(2):
        optimizer.zero_grad()
        lm_loss(model(x), y).backward()
        optimizer.step()
        record = monitor.step(x, y)
    assert record.optimizer == "AdamW" and record.tokens_per_example == 5 and record.max_eigenvalue > 0
    assert record.curvature_ratio == pytest.approx(record.max_eigenvalue * 1e-3 / 38)
    assert "tokens" in record.verdict and "nan" not in record.verdict


def test_gradient_checkpointing_in_its_default_reentrant_form_is_measured_as_the_same_function():
    """Before, the reentrant checkpointing of gradient_checkpointing_enable() made every instrument raise "When
    use_reentrant=True, torch.utils.checkpoint is incompatible with .grad()" (the monitor: inside the loop)."""
    model, x, y = gpt2("eager")
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0  # so that the one-example loop is the reference
    model.train()  # Hugging Face checkpoints only in train mode
    expected = loop_gradients(model, lm_loss, x, y)
    top = hessian_eigenvalues(model, lm_loss, (x, y), k=1, tol=1e-10).eigenvalues
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    flagged = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
    assert flagged
    torch.testing.assert_close(per_example_gradients(model, lm_loss, (x, y)), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hessian_eigenvalues(model, lm_loss, (x, y), k=1, tol=1e-10).eigenvalues, top)
    assert all(m.gradient_checkpointing for m in flagged)  # on again for the user's training


@pytest.mark.parametrize("train", [False, True])
def test_per_example_gradients_of_a_default_config_bert_are_exact(train):
    # BERT's default config makes vmap fail on a whole-model fallback (`.item()` in its mask handling): the
    # gradients come one example at a time, with a warning, and in train mode with the batched pass's dropout
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=13, hidden_size=4, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
        max_position_embeddings=8, num_labels=3,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(config).double().train(train)
    x, y = torch.randint(0, 13, (5, 6), generator=torch.Generator().manual_seed(1)), torch.randint(0, 3, (5,))

    def loss(outputs, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.logits, targets)

    if train:
        expected = masked_loop_gradients(Logits(model), F.cross_entropy, x, y, seed=3)
    else:
        expected = loop_gradients(model, loss, x, y)
    torch.manual_seed(3)
    with pytest.warns(UserWarning, match="one example at a time"):
        got = per_example_gradients(model, loss, (x, y))
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
