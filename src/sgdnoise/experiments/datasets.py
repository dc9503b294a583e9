"""The user's dataset files for an experiment (``sgdnoise reproduce … --data [NAME=]PATH [--no-verify]``).

Which real datasets an experiment reads follows from its spec's ``dataset`` / ``datasets`` field (stand-in
and synthetic data need no file). Each ``--data`` item is identified by its content
(:func:`sgdnoise.data.identify_dataset`), or named (``fashion-mnist=DIR``) when non-canonical IDX files
cannot say whether they are MNIST or Fashion-MNIST, and must be one the experiments read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sgdnoise.experiments.spec import spec_to_dict

# the spec's dataset value → the loader's dataset name
SPEC_DATASETS = {"mnist": "mnist", "mnist01": "mnist", "fashion-mnist": "fashion_mnist", "cifar10": "cifar10"}
DATASET_NAMES = ("mnist", "fashion_mnist", "cifar10")


def needed_datasets(spec: Any) -> set[str]:
    """The real datasets (loader names) a spec trains or measures on."""
    fields = spec_to_dict(spec)
    values = [fields.get("dataset"), *(fields.get("datasets") or ())]
    return {SPEC_DATASETS[value] for value in values if value in SPEC_DATASETS}


def _spelled(datasets: Iterable[str], joiner: str = " or ") -> str:
    """Dataset names as ``--data NAME=PATH`` spells them (``fashion-mnist``)."""
    return joiner.join(name.replace("_", "-") for name in datasets)


def _listing(needs: Mapping[str, set[str]]) -> str:
    return "; ".join(
        f"{name} reads {_spelled(sorted(sets), ', ') or 'no dataset file'}" for name, sets in needs.items()
    )


def assign_user_data(items: Sequence[str], needs: Mapping[str, set[str]], verify: bool) -> dict[str, Path]:
    """Dataset name → the user's path, from ``--data`` items ``PATH`` or ``NAME=PATH``; ``needs`` maps each
    experiment that will run to the datasets it reads. A path that holds no dataset, non-canonical data
    under ``verify``, or a dataset none of the experiments reads is one clear ValueError."""
    from sgdnoise.data import identify_dataset

    wanted = set().union(*needs.values()) if needs else set()
    assigned: dict[str, Path] = {}
    for item in items:
        named = "=" in item and not Path(item).exists()
        name, _, given = item.partition("=") if named else ("", "", item)
        if not given.strip() or (named and not name.strip()):
            raise ValueError(f"--data {item!r}: give a path, or NAME=PATH with both parts (e.g. cifar10=~/data)")
        path = Path(given).expanduser()
        if name:
            given_name, name = name, name.replace("-", "_")
            if name not in DATASET_NAMES:
                raise ValueError(
                    f"--data {item}: unknown dataset {given_name!r}; known: {_spelled(DATASET_NAMES, ', ')}"
                )
        candidates = identify_dataset(path, verify)
        if name:
            if name not in candidates:
                raise ValueError(f"--data {item}: {path} holds {_spelled(candidates)}, not {_spelled([name])}")
            candidates = (name,)
        usable = [c for c in candidates if c in wanted]
        if not usable:
            raise ValueError(
                f"--data {item}: {path} holds {_spelled(candidates)}, which none of the experiments to run reads "
                f"({_listing(needs)})"
            )
        if len(usable) > 1:
            raise ValueError(
                f"--data {item}: non-canonical IDX files could be {_spelled(usable)}; name it, e.g. "
                f"--data {_spelled(usable[-1:])}={given}"
            )
        if usable[0] in assigned:
            raise ValueError(f"--data gives {_spelled(usable[:1])} twice ({assigned[usable[0]]} and {path})")
        assigned[usable[0]] = path
    return assigned
