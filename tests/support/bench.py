"""The benchmarks of ``bench/`` as modules, for their tests (``bench/`` is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench(file: str, name: str) -> ModuleType:
    """Load ``bench/<file>.py`` as the module ``name``.

    The module is registered in ``sys.modules`` first (its dataclasses look their module up);
    each benchmark puts ``bench/`` on ``sys.path`` itself, to import its siblings.
    """
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{file}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
