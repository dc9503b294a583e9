"""Nothing imports upward: every ``sgdnoise`` module imports only from its own layer or the ones below
(the table in CONTRIBUTING.md), lazily imported modules included."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sgdnoise"
# top-level part of sgdnoise → layer (lower numbers are lower layers)
LAYERS = {
    "__init__": 0,
    "results": 0,
    "runtime": 0,
    "validation": 0,
    "theory": 1,
    "analysis": 1,
    "plots": 1,
    "wells": 1,
    "data": 2,
    "models": 2,
    "instruments": 3,
    "store": 4,
    "engine": 4,
    "measurements": 5,
    "sweep": 6,
    "monitor": 7,
    "optim": 7,
    "tuning": 7,
    "advisor": 7,
    "experiments": 8,
    "report": 8,
    "scoreboard": 8,
    "cli": 9,
}


def _part(module: str) -> str:
    return module.split(".")[1] if "." in module else "__init__"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name == "sgdnoise" or name.startswith("sgdnoise.")}


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_a_layer():
    parts = {path.relative_to(PACKAGE).parts[0].removesuffix(".py") for path in MODULES}
    assert parts <= set(LAYERS), (
        f"give these a layer in tests/test_layers.py and CONTRIBUTING.md: {parts - set(LAYERS)}"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path):
    own = LAYERS[path.relative_to(PACKAGE).parts[0].removesuffix(".py")]
    upward = sorted(name for name in _imports(path) if LAYERS[_part(name)] > own)
    assert not upward, f"{path.relative_to(PACKAGE)} (layer {own}) imports upward: {upward}"


MAX_MODULE_LINES = 600  # issue 15: a module that outgrows this is split by job


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_longer_than_the_limit(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines (at most {MAX_MODULE_LINES})"
