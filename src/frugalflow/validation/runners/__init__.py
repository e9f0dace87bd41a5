"""The trusted scripts that run inside the sandbox, beside the candidate they exercise.

frugalflow never imports them to run them: :func:`python_runner` reads their text (they are
package files) and :func:`frugalflow.validation.sandbox.run_python` writes it into the sandbox's
directory as its main script, run there with ``python -I``; :func:`script` gives the text of
the others (the node one). So they use the standard library only, and a Python runner does
nothing when imported: its work is under ``if __name__ == "__main__"``.

- ``project_paths.py``: puts the read-only copy of the project's Python files (``project/``,
  ``project/src``) first on ``sys.path``; it opens every Python runner.
- ``examples.py``: runs the request's examples against ``candidate.py``.
- ``doctests.py``: runs the doctests of ``candidate.py``, as ``doctest.testmod`` would.
- ``strip_types.cjs``: strips TypeScript's types with node's own ``stripTypeScriptTypes``.
"""

from __future__ import annotations

import functools
from importlib import resources

PROJECT_PATHS = "project_paths.py"


@functools.cache
def script(name: str) -> str:
    """The text of the runner file ``name`` (``strip_types.cjs``, ``examples.py``...)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def python_runner(name: str) -> str:
    """The sandbox's main script for the Python runner ``name`` (``examples``, ``doctests``):
    ``project_paths.py``, then the runner itself."""
    return script(PROJECT_PATHS) + "\n" + script(f"{name}.py")
