"""The target project as validation sees it: its tool configuration, the candidate's place in
a scratch copy, the project's own Python files for the sandbox, and what a checker must not see.

Everything here reads the user's repository and never writes it.
"""

from __future__ import annotations

import configparser
import re
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from frugalflow.context.analysis import is_test_path, list_repository_files
from frugalflow.context.conventions import is_vendored_path
from frugalflow.core.errors import FrugalflowError
from frugalflow.core.schemas import CodeRequest
from frugalflow.core.settings import Settings

RUFF_CONFIG_FILES = (".ruff.toml", "ruff.toml", "pyproject.toml")  # ruff's own precedence
MYPY_CONFIG_FILES = ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg")  # mypy's
MAX_CONFIG_BYTES = 1 << 20
MAX_PROJECT_FILES = 2_000  # a bigger project is not copied into the sandbox


@dataclass(frozen=True)
class ProjectConfig:
    """The target repository's tool configuration files, found at its root.

    Attributes:
        ruff: the files to copy so that ruff finds the project's settings; empty when the
            project does not configure ruff.
        mypy: the file holding the project's mypy settings, if it has one.
    """

    ruff: tuple[Path, ...] = ()
    mypy: Path | None = None


def _readable(path: Path) -> bool:
    """A regular file of reasonable size (a symlink could point anywhere)."""
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_CONFIG_BYTES
    except OSError:
        return False


def _toml_table(path: Path, *keys: str) -> bool:
    try:
        table: Any = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    for key in keys:
        if not isinstance(table, dict) or key not in table:
            return False
        table = table[key]
    return True


def _has_mypy_section(path: Path) -> bool:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text())
    except (OSError, UnicodeDecodeError, configparser.Error):
        return False
    return parser.has_section("mypy")


def project_config(repo: Path | None) -> ProjectConfig:
    """Find the ruff and mypy configuration of the repository at ``repo`` (read only)."""
    if repo is None or not repo.is_dir():
        return ProjectConfig()
    present = {
        name: repo / name
        for name in {*RUFF_CONFIG_FILES, *MYPY_CONFIG_FILES}
        if _readable(repo / name)
    }
    pyproject = present.get("pyproject.toml")
    configures_ruff = any(name in present for name in (".ruff.toml", "ruff.toml")) or (
        pyproject is not None and _toml_table(pyproject, "tool", "ruff")
    )
    ruff = tuple(present[name] for name in RUFF_CONFIG_FILES if name in present)
    mypy = next(
        (
            present[name]
            for name in MYPY_CONFIG_FILES
            if name in present
            and (
                _toml_table(present[name], "tool", "mypy")
                if name == "pyproject.toml"
                else _has_mypy_section(present[name])
            )
        ),
        None,
    )
    return ProjectConfig(ruff=ruff if configures_ruff else (), mypy=mypy)


def copy_config(files: tuple[Path, ...], into: Path) -> None:
    """Copy the project's configuration ``files`` (see :func:`project_config`) into ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path, into / path.name)


def candidate_path(request: CodeRequest) -> str:
    """Where the candidate sits inside a scratch copy: its target, when that is a safe
    relative ``.py`` path (so that the project's per-file rules apply), else ``candidate.py``.
    """
    target = (request.target or "").replace("\\", "/")
    path = PurePosixPath(target)
    if (
        not target
        or path.is_absolute()
        or ".." in path.parts
        or path.suffix != ".py"
        or not all(re.fullmatch(r"[\w.-]+", part) for part in path.parts)
    ):
        return "candidate.py"
    return path.as_posix()


def project_copy(repo: Path | None) -> dict[str, str]:
    """The project's own Python files (not tests, not vendored), as sandbox files under
    ``project/``; empty without a repository or for one that is too big to copy."""
    if repo is None:
        return {}
    try:
        files = [
            path
            for path in list_repository_files(repo)
            if path.endswith(".py") and not is_test_path(path) and not is_vendored_path(path)
        ]
    except FrugalflowError:
        return {}
    if len(files) > MAX_PROJECT_FILES:
        return {}
    root = repo.resolve()
    copy = {}
    for path in files:
        source = repo / path
        # A committed symlink could point at a key file; only regular files inside the
        # repository are copied.
        if source.is_symlink() or not source.is_file() or root not in source.resolve().parents:
            continue
        copy[f"project/{path}"] = source.read_text(errors="replace")
    return copy


def hidden_paths(settings: Settings, repo: Path | None) -> tuple[Path, ...]:
    """What a sandboxed checker must not see besides home and the temporary directory: the
    user's repository, frugalflow's state (the ledger) and cache."""
    paths = [settings.home, settings.ledger_file.parent, settings.cache_dir]
    if repo is not None:
        paths.append(repo)
    return tuple(paths)
