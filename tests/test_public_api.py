"""What ``import frugalflow`` gives a user, and what it costs."""

from __future__ import annotations

import subprocess
import sys

import frugalflow
from frugalflow.core.errors import FrugalflowError


def test_every_exported_name_resolves_and_the_errors_share_one_root() -> None:
    for name in frugalflow.__all__:
        value = getattr(frugalflow, name)
        if isinstance(value, type) and name.endswith("Error"):
            assert issubclass(value, FrugalflowError), name
    assert frugalflow.codegen.name == "codegen"  # the Prefect flow itself
    assert frugalflow.__version__.count(".") >= 2


def test_importing_frugalflow_imports_nothing_heavy() -> None:
    # The `frugalflow` command hands a request to the preloaded runner before it imports
    # anything heavy, and a library user's `import frugalflow` stays fast.
    probe = (
        "import sys, frugalflow.cli.runner; "
        "print(sorted({'prefect', 'pydantic', 'typer', 'rich'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    try:
        frugalflow.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("frugalflow.no_such_thing resolved")
