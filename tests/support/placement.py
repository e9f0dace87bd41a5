"""The sample repository and placement shared by the repository and fast-forward tests
(the ``repo`` and ``workdir`` fixtures in ``tests/conftest.py`` build on it)."""

from __future__ import annotations

from pathlib import Path

from frugalflow.core.schemas import Placement
from frugalflow.placement.repository import WorkRepository

BRANCH = "frugalflow/req123"
TRAILERS = {"Frugalflow-Request": "req123", "Frugalflow-Model": "local:qwen"}
UTIL = '"""Utilities."""\n\nimport os\n\n\ndef existing(path):\n    return os.path.basename(path)\n'
SAMPLE_FILES = {"pkg/__init__.py": "", "pkg/util.py": UTIL, "README.md": "# Demo\n"}


def place(repo: Path, files: dict[str, str], workdir: Path, branch: str = BRANCH) -> Placement:
    """Place ``files`` on ``branch`` of ``repo`` as a run would, then close the repository."""
    work = WorkRepository(repo)
    try:
        return work.place(
            files=files, branch=branch, message="Add code", trailers=TRAILERS, workdir=workdir
        )
    finally:
        work.close()
