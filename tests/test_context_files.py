"""The context never shows a file from outside the repository, however a path leads there:
a committed directory replaced by a symlink out (git then lists the old paths as deleted and
the symlink as untracked), a symlinked file, or a symlinked configuration file. Found by a
review: the snapshot kept the old path and hashed the outside file, and ``POST /context``
returned its contents."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from frugalflow.context import ContextBridge, ContextRequest
from frugalflow.context.files import inside, read_text
from frugalflow.context.http import create_app

MakeRepo = Callable[..., Path]

SECRET = "TOPSECRET_d41d8cd9"
HELPERS = '''"""Token helpers."""


def leak_secret_token(text: str) -> str:
    """Return the token."""
    return text.strip()
'''
OUTSIDE = f'''"""Not this repository's."""

API_TOKEN = "{SECRET}"


def leak_secret_token(text: str) -> str:
    """Return the token {SECRET}."""
    return API_TOKEN + text
'''
REQUEST = "Add a function rotate_secret_token(text) next to leak_secret_token"


def test_a_directory_replaced_by_a_symlink_out_is_never_read(
    make_git_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/helpers.py": HELPERS}, name="pkg")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "__init__.py").write_text("")
    (outside / "helpers.py").write_text(OUTSIDE)
    shutil.rmtree(repo / "pkg")
    (repo / "pkg").symlink_to(outside, target_is_directory=True)

    bridge = ContextBridge(cache_dir=tmp_path / "cache", roots=[repo])
    context = bridge.context(ContextRequest(repo=repo, description=REQUEST))
    assert SECRET not in context.model_dump_json()
    with TestClient(create_app(bridge)) as client:
        answer = client.post("/context", json={"repo": str(repo), "description": REQUEST})
    assert answer.status_code == 200
    assert SECRET not in answer.text


def test_a_symlinked_file_or_config_out_is_never_read(
    make_git_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/helpers.py": HELPERS}, name="pkg")
    outside = tmp_path / "outside.py"
    outside.write_text(OUTSIDE)
    (repo / "pkg" / "tokens.py").symlink_to(outside)
    (repo / "setup.cfg").symlink_to(outside)

    bridge = ContextBridge(cache_dir=tmp_path / "cache", roots=[repo])
    context = bridge.context(ContextRequest(repo=repo, description=REQUEST))
    assert SECRET not in context.model_dump_json()
    assert inside(repo, "pkg/tokens.py") is None and read_text(repo, "setup.cfg") is None
    assert read_text(repo, "pkg/helpers.py") == HELPERS  # its own files still read
    assert inside(repo, "../outside.py") is None
