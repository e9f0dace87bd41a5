"""Configuration: defaults that work with nothing set, then files, then the environment.

Precedence, highest first:

1. arguments passed to :func:`load_settings` (the CLI's options);
2. ``FRUGALFLOW_*`` environment variables (``FRUGALFLOW_DAILY_BUDGET_USD=5``);
3. ``frugalflow.toml`` in the target repository;
4. the user's ``$XDG_CONFIG_HOME/frugalflow/frugalflow.toml`` (``~/.config/...``);
5. the defaults.

The settings are declared in documented groups in :mod:`frugalflow.core.settings_groups`
(models and routing, budgets and money, providers and endpoints, validation and sandbox,
repository and placement, paths and storage); :class:`Settings` inherits them all, so every
key stays flat in files, variables and code.

A repository's own ``frugalflow.toml`` is often someone else's code, so it may set only the
keys in :data:`REPOSITORY_SETTINGS` (the settings marked so where they are declared), each
within the user's :class:`RepositoryLimits`.
"""

from __future__ import annotations

import contextvars
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.settings_groups import (
    DEFAULT_LOCAL_MODEL,
    SETTINGS_GROUPS,
    BudgetsAndMoney,
    ModelsAndRouting,
    PathsAndStorage,
    PriceOverride,
    ProvidersAndEndpoints,
    RepositoryAndPlacement,
    RepositoryLimits,
    ValidationAndSandbox,
    branch_prefix_problem,
    repository_settings,
    xdg_directory,
)

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_LOCAL_MODEL",
    "REPOSITORY_SETTINGS",
    "SETTINGS_GROUPS",
    "PriceOverride",
    "RepositoryLimits",
    "Settings",
    "branch_prefix_problem",
    "load_settings",
    "user_config_file",
    "user_state_dir",
]

CONFIG_FILE_NAME = "frugalflow.toml"

# Which TOML files the next Settings() reads; a context variable so that concurrent loads for
# different repositories do not see each other's files.
_toml_files: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "frugalflow_toml_files", default=()
)


def user_config_file() -> Path:
    """The user-level configuration file."""
    return xdg_directory("XDG_CONFIG_HOME", ".config") / "frugalflow" / CONFIG_FILE_NAME


def user_state_dir() -> Path:
    """frugalflow's per-user state directory, ``$XDG_STATE_HOME/frugalflow``
    (``~/.local/state/frugalflow``)."""
    return xdg_directory("XDG_STATE_HOME", ".local/state") / "frugalflow"


# The groups in the reverse of SETTINGS_GROUPS' order: pydantic collects fields from the last
# base first, so that Settings.model_fields (and error messages) list them in the README's order.
class Settings(
    PathsAndStorage,
    RepositoryAndPlacement,
    ValidationAndSandbox,
    ProvidersAndEndpoints,
    BudgetsAndMoney,
    ModelsAndRouting,
    BaseSettings,
):
    """frugalflow's configuration: every setting of every group in
    :data:`SETTINGS_GROUPS`, by its flat key.

    Each group's docstring documents its settings. A repository's own ``frugalflow.toml`` may
    set only :data:`REPOSITORY_SETTINGS`, each at most its :class:`RepositoryLimits` value when
    it has one (the user raises one with ``repository_limits``); the README's Configuration
    section has the table.
    """

    model_config = SettingsConfigDict(
        title="Settings", env_prefix="FRUGALFLOW_", extra="forbid", validate_default=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files = [
            TomlConfigSettingsSource(settings_cls, toml_file=path) for path in _toml_files.get()
        ]
        return (init_settings, env_settings, *files)


# What a repository's own frugalflow.toml may set: the settings marked REPOSITORY_LIMITED (each
# at most its RepositoryLimits value) or REPOSITORY_SELF_BOUNDED (temperature by its range,
# work_branch_prefix by being a safe start of a git branch name) where they are declared.
REPOSITORY_SETTINGS = frozenset(repository_settings())


def _check_the_declarations() -> None:
    """Every group's setting is in Settings once; the limited marks match RepositoryLimits."""
    grouped = [name for group in SETTINGS_GROUPS for name in group.model_fields]
    if grouped != list(Settings.model_fields):
        raise TypeError(
            "Settings must inherit every group of SETTINGS_GROUPS, and only them, in reverse order"
        )
    limited = {name for name, mark in repository_settings().items() if mark.limited}
    if limited != set(RepositoryLimits.model_fields):
        raise TypeError(
            f"RepositoryLimits must have a field for each setting marked REPOSITORY_LIMITED "
            f"and no other: marked {sorted(limited)}, "
            f"limits {sorted(RepositoryLimits.model_fields)}"
        )


_check_the_declarations()


def _did_you_mean(key: str) -> str:
    """`` (did you mean 'daily_budget_usd'?)`` for a misspelt setting, or nothing."""
    close = difflib.get_close_matches(key, Settings.model_fields, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _misspelt_variables(environ: Mapping[str, str]) -> list[str]:
    """``FRUGALFLOW_*`` variables that name no setting but nearly name one, with the fix.

    Other unknown ``FRUGALFLOW_*`` variables (``FRUGALFLOW_VENV`` of ``./dev``) are left alone:
    only a near miss is surely a setting someone meant to set.
    """
    found = []
    for name in environ:
        if not name.startswith("FRUGALFLOW_"):
            continue
        key = name.removeprefix("FRUGALFLOW_").lower()
        if key in Settings.model_fields:
            continue
        close = difflib.get_close_matches(key, Settings.model_fields, n=1, cutoff=0.75)
        if close:
            found.append(f"{name} is not a setting (did you mean FRUGALFLOW_{close[0].upper()}?)")
    return sorted(found)


def _read_toml(path: Path) -> dict[str, Any]:
    """A config file's values; a file that cannot be read or parsed is named in the error."""
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc


def _read_repository_file(path: Path) -> dict[str, Any]:
    """The settings a repository's file sets, once it is known to set only allowed keys."""
    values = _read_toml(path)
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        shown = "; ".join(f"{key!r}{_did_you_mean(key)}" for key in unknown)
        raise ConfigurationError(f"{path} sets what is not a frugalflow setting: {shown}")
    refused = sorted(set(values) - REPOSITORY_SETTINGS)
    if refused:
        raise ConfigurationError(
            f"{path} sets {', '.join(refused)}, which a repository may not set (it could "
            "redirect your API keys, run commands, change prices, budgets or the limits on "
            f"repositories); set them in {user_config_file()} or as FRUGALFLOW_* variables. A "
            f"repository may set: {', '.join(sorted(REPOSITORY_SETTINGS))}"
        )
    return values


def _check_repository_bounds(path: Path, values: dict[str, Any], limits: RepositoryLimits) -> None:
    """Refuse a repository value above the user's limit for it.

    Raises:
        ConfigurationError: naming the file, the key, the value, the limit and how to raise it.
    """
    over: list[tuple[str, str, Any]] = []
    for key, limit in limits.model_dump().items():
        if key not in values:
            continue
        field_type: Any = Settings.model_fields[key].annotation
        try:
            value = TypeAdapter(field_type).validate_python(values[key])
        except ValidationError:
            continue  # a value of the wrong type: loading the settings names it
        if (len(value) if key == "models" else value) <= limit:
            continue
        shown = f"{len(value)} models" if key == "models" else f"{key} = {values[key]!r}"
        over.append((key, shown, limit))
    if not over:
        return
    # Every key over its bound at once, so that one edit fixes the file.
    shown = "; ".join(
        f"{text}, more than the {limit:g} a repository may set" for _, text, limit in over
    )
    raising = ", ".join(f"{key} = ..." for key, _, _ in over)
    as_json = ", ".join(f'"{key}": ...' for key, _, _ in over)
    raise ConfigurationError(
        f"{path} sets {shown}. If you trust this repository, raise the limit in "
        f"{user_config_file()} (repository_limits = {{{raising}}}) or with "
        f"FRUGALFLOW_REPOSITORY_LIMITS='{{{as_json}}}'; or remove the line from the "
        "repository's file"
    )


def _problem(error: Any) -> str:
    """One pydantic error as a line of the message; an unknown key with its likely fix."""
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
        return f"{where} is not a frugalflow setting{_did_you_mean(str(error['loc'][0]))}"
    return f"{where}: {error['msg']}"


def _build_settings(files: list[Path], overrides: dict[str, Any]) -> Settings:
    existing = tuple(path for path in files if path.is_file())
    for path in existing:
        _read_toml(path)  # a syntax error names its file
    misspelt = _misspelt_variables(os.environ)
    if misspelt:
        raise ConfigurationError(f"{'; '.join(misspelt)}. Rename or unset it.")
    token = _toml_files.set(existing)
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        sources = ", ".join(str(path) for path in _toml_files.get()) or "no config file"
        raise ConfigurationError(
            f"invalid frugalflow settings ({problems}). Check FRUGALFLOW_* variables and {sources}."
        ) from exc
    except Exception as exc:  # a TOML syntax error surfaces here
        raise ConfigurationError(f"cannot read frugalflow settings: {exc}") from exc
    finally:
        _toml_files.reset(token)


def load_settings(repo: Path | str | None = None, **overrides: Any) -> Settings:
    """Load settings for work on one repository.

    Args:
        repo: the target repository, whose ``frugalflow.toml`` (if any) applies, within the
            user's ``repository_limits``.
        **overrides: values that beat every other source.

    Returns:
        The merged settings.

    Raises:
        ConfigurationError: a file or variable holds an invalid value, or the repository's
            file sets a key it may not set or a value above its limit; the message names it.
    """
    user_files = [user_config_file()]
    if repo is None:
        return _build_settings(user_files, overrides)
    repository_file = Path(repo) / CONFIG_FILE_NAME
    if not repository_file.is_file():
        return _build_settings(user_files, overrides)
    values = _read_repository_file(repository_file)
    # The limits come from the user's own sources only: the repository's file may not set them.
    limits = _build_settings(user_files, overrides).repository_limits
    _check_repository_bounds(repository_file, values, limits)
    return _build_settings([repository_file, *user_files], overrides)
