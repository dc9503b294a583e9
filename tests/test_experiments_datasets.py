"""The user's dataset files on the command line (``--data``, ``--no-verify``): identified by content,
checked against what the experiment reads, recorded in summary.json, kept apart from other data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from test_data_formats import tar_gz, tiny_cifar_batches, write_cifar_binary, write_idx_dir

from sgdnoise import report
from sgdnoise.cli import main
from sgdnoise.data import identify_dataset
from sgdnoise.experiments.datasets import assign_user_data, needed_datasets
from sgdnoise.experiments.registry import get_experiment
from sgdnoise.experiments.spec import apply_overrides


@pytest.fixture(scope="module")
def random_cifar_archive(tmp_path_factory):
    """A CIFAR-10 binary archive of random pixels (20 images per batch): the format, not the content."""
    root = tmp_path_factory.mktemp("cifar")
    folder = write_cifar_binary(root / "cifar-10-batches-bin", tiny_cifar_batches(per_batch=20))
    return tar_gz(folder, root / "cifar-10-binary.tar.gz")


@pytest.fixture(scope="module")
def random_idx_dir(tmp_path_factory):
    """MNIST-format IDX files of random pixels: 300 training and 100 test images."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (300, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, 300).astype(np.uint8),
        "test_images": rng.integers(0, 256, (100, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, 100).astype(np.uint8),
    }
    return write_idx_dir(tmp_path_factory.mktemp("idx"), arrays, compress=True)


def test_needed_datasets_follow_the_spec():
    exchange = get_experiment("jastrzebski-exchange")
    assert needed_datasets(exchange.spec("paper")) == {"cifar10"}
    assert needed_datasets(exchange.spec("quick")) == {"fashion_mnist"}
    assert needed_datasets(apply_overrides(exchange.spec("paper"), exchange.tiny["paper"])) == set()
    assert needed_datasets(get_experiment("smith-le-evidence").spec("quick")) == {"mnist"}


def test_identify_by_content(random_cifar_archive, random_idx_dir, tmp_path):
    assert identify_dataset(random_cifar_archive, verify=False) == ("cifar10",)
    with pytest.raises(ValueError, match="canonical"):
        identify_dataset(random_cifar_archive)
    assert identify_dataset(random_idx_dir, verify=False) == ("mnist", "fashion_mnist")
    with pytest.raises(ValueError, match=r"neither the canonical MNIST nor Fashion-MNIST.*--no-verify"):
        identify_dataset(random_idx_dir)
    with pytest.raises(ValueError, match="holds no dataset sgdnoise reads"):
        identify_dataset(tmp_path)
    one_file = next(random_idx_dir.glob("train-images-idx3-ubyte*"))
    with pytest.raises(ValueError, match=r"is one IDX file; give the directory that holds all four"):
        identify_dataset(one_file)


def test_assignment_names_what_the_experiments_read(random_idx_dir):
    both = {"a": {"mnist"}, "b": {"fashion_mnist"}}
    assert assign_user_data([str(random_idx_dir)], {"a": {"mnist"}}, verify=False) == {"mnist": random_idx_dir}
    with pytest.raises(ValueError, match=r"could be mnist or fashion-mnist; name it, e\.g\. --data fashion-mnist="):
        assign_user_data([str(random_idx_dir)], both, verify=False)
    named = assign_user_data([f"fashion-mnist={random_idx_dir}"], both, verify=False)
    assert named == {"fashion_mnist": random_idx_dir}
    with pytest.raises(ValueError, match=r"which none of the experiments to run reads \(a reads cifar10\)"):
        assign_user_data([str(random_idx_dir)], {"a": {"cifar10"}}, verify=False)


def test_dry_run_of_paper_scale_on_a_random_cifar_archive(random_cifar_archive, tmp_path):
    """The issue's command: `reproduce jastrzebski-exchange --scale paper --data ARCHIVE --dry-run` (with 100
    training images the paper's 5000 validation images do not fit, so --set validation=20)."""
    command = ["reproduce", "jastrzebski-exchange", "--scale", "paper", "--data", str(random_cifar_archive)]
    command += ["--set", "validation=20", "--dry-run", "--device", "cpu", "--out", str(tmp_path)]
    refused = CliRunner().invoke(main, command)
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1
    assert "does not match the canonical" in refused.output or "expected (50000" in refused.output
    assert "--no-verify" in refused.output

    result = CliRunner().invoke(main, [*command, "--no-verify"])
    assert result.exit_code == 0, result.output
    spec = apply_overrides(get_experiment("jastrzebski-exchange").spec("paper"), {"validation": 20})
    from sgdnoise.experiments.jastrzebski_2018.exchange import SCHEDULES

    runs = len(SCHEDULES) * spec.seeds
    assert f"{runs} runs (0 already stored)" in result.output and ": 80 training examples" in result.output
    examples = int(result.output.split("to train: ")[1].split(" examples")[0].split(", ")[1].replace(",", ""))
    assert runs * spec.epochs * 80 <= examples < runs * (spec.epochs * 80 + 80)  # whole epochs, last batch partial
    assert "VGG" in result.output and "FLOPs" in result.output and "~" in result.output
    assert not (tmp_path / "store.sqlite").exists(), "a dry run trained nothing and stored nothing"


def test_user_files_reach_the_run_and_summary_records_them(random_idx_dir, tmp_path):
    command = ["reproduce", "smith-le-gradient-noise", "--tiny", "--set", "dataset=mnist", "--data"]
    command += [f"mnist={random_idx_dir}", "--no-verify", "--executor", "inline", "--quiet", "--out", str(tmp_path)]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    summary = report.read_summary(tmp_path)
    assert summary["datasets"] == {"mnist": {"path": str(random_idx_dir), "verified": False}}
    assert json.loads((tmp_path / "unverified-data.json").read_text()) == {"mnist": str(random_idx_dir)}

    mixed = CliRunner().invoke(
        main, [c for c in command if c not in ("--data", f"mnist={random_idx_dir}", "--no-verify")]
    )
    assert mixed.exit_code == 2 and "holds runs trained on unverified mnist" in mixed.output


def test_data_for_an_experiment_that_reads_other_data_is_one_clear_line(random_cifar_archive):
    result = CliRunner().invoke(
        main, ["reproduce", "smith-le-batch", "--data", str(random_cifar_archive), "--no-verify"]
    )
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "holds cifar10, which none of the experiments to run reads (smith-le-batch reads mnist)" in result.output
