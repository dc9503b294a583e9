import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Literal

import pytest

from sgdnoise import experiments
from sgdnoise.experiments import registry
from sgdnoise.experiments.spec import apply_overrides, describe_type, parse_assignments


@dataclass(frozen=True)
class Toy:
    seeds: int = 2
    rate: float = 0.1
    sizes: tuple[int, ...] = (1, 2)
    mode: Literal["a", "b"] = "a"
    cap: int | None = None
    flag: bool = False
    subset_seed: int = 0

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise ValueError("seeds must be >= 1")


def test_strings_are_parsed_by_the_field_type():
    raw = parse_assignments(["seeds=5", "rate=3e-2", "sizes=10, 30,100", "mode=b", "cap=none", "flag=yes"])
    toy = apply_overrides(Toy(cap=7), raw)
    assert toy == Toy(seeds=5, rate=0.03, sizes=(10, 30, 100), mode="b", cap=None, flag=True)
    assert apply_overrides(Toy(), {"cap": "12", "rate": 1}) == Toy(cap=12, rate=1.0)


def test_python_values_are_checked_and_the_original_spec_is_untouched():
    original = Toy()
    changed = apply_overrides(original, {"sizes": [4, 8], "flag": True})
    assert changed.sizes == (4, 8) and original == Toy()
    with pytest.raises(ValueError, match="expected an integer"):
        apply_overrides(original, {"seeds": 2.5})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"seed": "3"}, "unknown setting 'seed' for toy; valid keys: seeds, rate, sizes, mode, cap, flag, subset_seed"),
        ({"seeds": "many"}, "setting seeds='many' for toy: expected an integer"),
        ({"mode": "c"}, "setting mode='c' for toy: expected one of 'a', 'b'"),
        ({"flag": "maybe"}, "setting flag='maybe' for toy: expected true or false"),
        ({"sizes": "1,x"}, "setting sizes='1,x' for toy: expected an integer"),
        ({"seeds": "0", "rate": "0.5"}, "--set seeds=0 --set rate=0.5 for toy: seeds must be >= 1"),
        ({"seeds": 0}, "--set seeds=0 for toy: seeds must be >= 1"),
        ({"rate": "nan"}, "setting rate='nan' for toy: expected a finite number"),
        ({"rate": "-inf"}, "setting rate='-inf' for toy: expected a finite number"),
        ({"rate": float("inf")}, "setting rate=inf for toy: expected a finite number"),
        ({"rate": "1e999"}, "setting rate='1e999' for toy: expected a finite number"),
        ({"seeds": "10000000000"}, "setting seeds='10000000000' for toy: at most 1000 (a run is made per repeat"),
        # both were accepted, the first failing later as numpy's "Overflow when unpacking long long"
        ({"subset_seed": "99999999999999999999"}, "setting subset_seed='99999999999999999999' for toy: subset_seed "),
        ({"subset_seed": "-1"}, "setting subset_seed='-1' for toy: subset_seed must be an integer in [0, 2**32)"),
    ],
)
def test_every_mistake_is_one_clear_value_error(overrides, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        apply_overrides(Toy(), overrides, what="toy")


def test_the_largest_repeat_count_is_accepted():
    assert apply_overrides(Toy(), {"seeds": "1000"}).seeds == 1000


@pytest.mark.parametrize("bad", ["seeds", "=3", "seeds=1 seeds=2"])
def test_malformed_assignments_are_refused(bad):
    with pytest.raises(ValueError, match=r"KEY=VALUE|given twice"):
        parse_assignments(bad.split(" "))


def test_the_registry_finds_every_experiment_the_paper_packages_declare():
    declared = {}
    for package in registry.PAPER_PACKAGES:
        for info in pkgutil.iter_modules(importlib.import_module(f"sgdnoise.experiments.{package}").__path__):
            module = importlib.import_module(f"sgdnoise.experiments.{package}.{info.name}")
            if hasattr(module, "EXPERIMENT"):
                declared[module.EXPERIMENT.name] = module.__name__
    assert declared == {entry.name: entry.module for entry in registry.entries()}
    for name in experiments.experiment_names():
        experiment = experiments.get_experiment(name)
        assert experiment.name == name and experiment.description == registry.entry(name).description
        assert experiment.spec("quick") is not experiment.spec("paper")


def test_an_unknown_experiment_suggests_close_names():
    with pytest.raises(registry.UnknownExperimentError, match="Did you mean smith-le-batch"):
        experiments.get_experiment("smith-le-bach")


def test_describe_type_says_what_set_takes():
    assert [describe_type(t) for t in (int, float | None, tuple[int, ...], Literal["a", "b"], tuple[int, float])] == [
        "int",
        "float or none",
        "comma-separated ints",
        "one of 'a', 'b'",
        "2 comma-separated values (int, float)",
    ]
