"""Configuration: defaults that work with nothing set, then files, then the environment.

Precedence, highest first:

1. arguments passed to :func:`load_settings` (the CLI's options);
2. ``FRUGALFLOW_*`` environment variables (``FRUGALFLOW_DAILY_BUDGET_USD=5``);
3. ``frugalflow.toml`` in the target repository;
4. the user's ``$XDG_CONFIG_HOME/frugalflow/frugalflow.toml`` (``~/.config/...``);
5. the defaults below.

A repository's own ``frugalflow.toml`` is often someone else's code, so it may set only the
keys in :data:`REPOSITORY_SETTINGS`, each within the user's :class:`RepositoryLimits`.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frugalflow.core.errors import ConfigurationError

CONFIG_FILE_NAME = "frugalflow.toml"
DEFAULT_LOCAL_MODEL = "llamacpp:qwen2.5-coder-0.5b-instruct"

# Which TOML files the next Settings() reads; a context variable so that concurrent loads for
# different repositories do not see each other's files.
_toml_files: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar(
    "frugalflow_toml_files", default=()
)


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback)


def user_config_file() -> Path:
    """The user-level configuration file."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "frugalflow" / CONFIG_FILE_NAME


def user_state_dir() -> Path:
    """frugalflow's per-user state directory, ``$XDG_STATE_HOME/frugalflow``
    (``~/.local/state/frugalflow``)."""
    return _xdg("XDG_STATE_HOME", ".local/state") / "frugalflow"


class PriceOverride(BaseModel):
    """A price in USD per million tokens, for a private model or to correct the catalog."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(default=None, ge=0)


class RepositoryLimits(BaseModel):
    """The most a repository's own ``frugalflow.toml`` may set each bounded setting to.

    A repository is often someone else's code (a clone, a pull request): left unbounded, its
    file could make every example run for hours, take the machine's memory, or buy a long
    reply from a paid model on every attempt. A value above its limit is refused when the
    settings load, with a message saying how to raise the limit. The limits are the user's:
    set them in the user's own ``frugalflow.toml`` (``repository_limits =
    {sandbox_timeout_seconds = 60}``) or ``FRUGALFLOW_REPOSITORY_LIMITS`` (JSON,
    ``'{"sandbox_timeout_seconds": 60}'``); a repository may never set them. Values from the
    user's own config, the environment or the command line are not bounded by them.

    Attributes:
        models: how many models the repository's ``models`` cascade may list.
        max_attempts: the repository's ``max_attempts``.
        provider_retries: the repository's ``provider_retries``.
        max_output_tokens: the repository's ``max_output_tokens``.
        local_context_tokens: the repository's ``local_context_tokens``.
        sandbox_timeout_seconds: the repository's ``sandbox_timeout_seconds``.
        sandbox_memory_mb: the repository's ``sandbox_memory_mb``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: int = Field(default=8, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    provider_retries: int = Field(default=3, ge=0)
    max_output_tokens: int = Field(default=4096, ge=16)
    local_context_tokens: int = Field(default=32768, ge=512)
    sandbox_timeout_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    sandbox_memory_mb: int = Field(default=4096, ge=64)


# What a repository's own frugalflow.toml may set: the settings RepositoryLimits bounds, plus
# two bounded by their own validation (temperature by its range, work_branch_prefix by being a
# safe start of a git branch name). A repository is often someone else's code (a clone, a pull
# request), so it may shape how code is written for it, but not where keys are sent, which
# commands run, what things cost, where the ledger is, how much may be spent, or the limits.
REPOSITORY_SETTINGS = frozenset(
    {*RepositoryLimits.model_fields, "temperature", "work_branch_prefix"}
)

_BRANCH_PREFIX_CHARACTERS = re.compile(r"[A-Za-z0-9._/-]*")
_BRANCH_PREFIX_MAX_LENGTH = 100


def branch_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot start a git branch name ``<prefix><request_id>``, or None.

    Stricter than ``git check-ref-format``: only letters, digits, ``.``, ``_``, ``-`` and
    ``/``, so that the name is also safe on a command line and in a file system.
    """
    if len(prefix) > _BRANCH_PREFIX_MAX_LENGTH:
        return f"it is longer than {_BRANCH_PREFIX_MAX_LENGTH} characters"
    if not _BRANCH_PREFIX_CHARACTERS.fullmatch(prefix):
        return "only letters, digits, '.', '_', '-' and '/' are allowed"
    if prefix.startswith(("-", "/")):
        return "it may not start with '-' or '/'"
    if ".." in prefix or "//" in prefix:
        return "it may not contain '..' or '//'"
    *directories, last = prefix.split("/")
    if any(part.startswith(".") or part.endswith(".lock") for part in directories):
        return "a part between slashes may not start with '.' or end with '.lock'"
    if last.startswith("."):
        return "a part between slashes may not start with '.'"
    return None


class Settings(BaseSettings):
    """frugalflow's configuration.

    A repository's own ``frugalflow.toml`` may set only :data:`REPOSITORY_SETTINGS`, each at
    most its :class:`RepositoryLimits` value (the user raises one with ``repository_limits``):

    =========================== ====================== ====================================
    setting                     most a repository sets absolute range (any source)
    =========================== ====================== ====================================
    ``models``                  8 entries              at least 1 entry
    ``max_attempts``            5                      1 to 10
    ``provider_retries``        3                      0 to 10
    ``max_output_tokens``       4096                   at least 16
    ``local_context_tokens``    32768                  at least 512
    ``sandbox_timeout_seconds`` 60                     more than 0, finite
    ``sandbox_memory_mb``       4096                   at least 64
    ``temperature``             2 (its range)          0 to 2
    ``work_branch_prefix``      a safe git ref start   letters, digits, ``._-/``; no ``..``
    =========================== ====================== ====================================

    Attributes:
        home: where the ledger and other state live.
        cache_dir: where assembled model files and caches live.
        ledger_path: the DuckDB cost ledger; ``<home>/ledger.duckdb`` by default.
        daily_budget_usd: the most all requests together may spend per day.
        timezone: the IANA zone in which a budget day starts and ends.
        emergency_threshold_usd: below this much left today, only free tiers are used.
        models: the routing cascade as ``provider:model`` addresses, cheapest first.
        max_attempts: generation attempts per request (a failed attempt's validation report is
            passed to the next one).
        local_model_path: a GGUF file to use instead of the bundled Qwen2.5-Coder 0.5B.
        local_context_tokens: the embedded model's context window.
        max_output_tokens: the most tokens one generation may write.
        temperature: sampling temperature; 0 makes the local model repeatable.
        provider_retries: retries of a model call that failed with a transient error.
        work_branch_prefix: work branches are named ``<prefix><request_id>``; letters,
            digits, ``.``, ``_``, ``-`` and ``/`` only, no ``..``, no leading ``-`` (see
            :func:`branch_prefix_problem`).
        sandbox_timeout_seconds: time limit for running a request's examples.
        sandbox_memory_mb: memory limit for running a request's examples.
        monthly_budget_usd: the most all requests may spend per calendar month, if set.
        project_budgets_usd: per-project daily budgets, ``{"project": 5}``.
        reservation_ttl_seconds: a reservation of a run that crashed stops counting after this.
        alert_thresholds_percent: budget use that raises an alert, once per window.
        alert_webhook_url: where alerts are also POSTed as JSON (a secret: never logged).
        prices: per-model price overrides and private models, ``{"provider:model": {...}}``.
        subscriptions_usd_per_month: monthly fees of subscription tiers, amortised per day in
            reports, ``{"claude-code": 200}``.
        repository_limits: the most a repository's own ``frugalflow.toml`` may set each
            bounded setting to (:class:`RepositoryLimits`); user-level only.
        max_retry_after_seconds: the longest frugalflow waits when a provider asks it to
            (``Retry-After``, a resting circuit breaker) before calling the same model again;
            a provider asking for longer is not waited for: the next allowed model takes the
            call at once. User-level only.
        provider_timeout_seconds: timeout of one model call.
        provider_concurrency: calls a provider may serve at once (a laptop's local model: 1).
        circuit_breaker_failures: consecutive transient failures that rest a provider.
        circuit_breaker_reset_seconds: how long a failing provider rests before a trial call.
        api_key_blocks: Prefect Secret block holding each provider's key, ``{"openai": "name"}``;
            otherwise keys come from the vendor's usual environment variable.
        ollama_host: the Ollama server.
        openai_base_url: another endpoint for the ``openai`` provider (a proxy, Azure...).
        openai_compatible_base_url: a local OpenAI-compatible server (llama.cpp server, vLLM,
            LM Studio) for the free ``openai-compatible`` provider.
        claude_code_command: the Claude Code CLI executable.
    """

    model_config = SettingsConfigDict(
        env_prefix="FRUGALFLOW_", extra="forbid", validate_default=True
    )

    home: Path = Field(default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share") / "frugalflow")
    cache_dir: Path = Field(default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache") / "frugalflow")
    ledger_path: Path | None = None
    daily_budget_usd: Decimal = Field(default=Decimal("20"), ge=0)
    timezone: str = "UTC"
    emergency_threshold_usd: Decimal = Field(default=Decimal("1"), ge=0)
    models: list[str] = Field(default_factory=lambda: [DEFAULT_LOCAL_MODEL], min_length=1)
    max_attempts: int = Field(default=2, ge=1, le=10)
    local_model_path: Path | None = None
    local_context_tokens: int = Field(default=4096, ge=512)
    max_output_tokens: int = Field(default=768, ge=16)
    temperature: float = Field(default=0.0, ge=0, le=2)
    provider_retries: int = Field(default=2, ge=0, le=10)
    work_branch_prefix: str = "frugalflow/"
    sandbox_timeout_seconds: float = Field(default=10.0, gt=0, allow_inf_nan=False)
    sandbox_memory_mb: int = Field(default=1024, ge=64)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    project_budgets_usd: dict[str, Decimal] = Field(default_factory=dict)
    reservation_ttl_seconds: int = Field(default=900, ge=10)
    alert_thresholds_percent: list[int] = Field(default_factory=lambda: [50, 80, 100])
    alert_webhook_url: SecretStr | None = None
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    subscriptions_usd_per_month: dict[str, Decimal] = Field(default_factory=dict)
    repository_limits: RepositoryLimits = Field(default_factory=RepositoryLimits)
    max_retry_after_seconds: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    provider_timeout_seconds: float = Field(default=120.0, gt=0, allow_inf_nan=False)
    provider_concurrency: dict[str, int] = Field(
        default_factory=lambda: {"llamacpp": 1, "ollama": 2, "openai-compatible": 2}
    )
    circuit_breaker_failures: int = Field(default=3, ge=1)
    circuit_breaker_reset_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    api_key_blocks: dict[str, str] = Field(default_factory=dict)
    ollama_host: str = "http://127.0.0.1:11434"
    openai_base_url: str | None = None
    openai_compatible_base_url: str = "http://127.0.0.1:8080/v1"
    claude_code_command: str = "claude"

    @field_validator("work_branch_prefix")
    @classmethod
    def _safe_branch_prefix(cls, prefix: str) -> str:
        problem = branch_prefix_problem(prefix)
        if problem is not None:
            raise ValueError(
                f"{prefix!r} cannot start a git branch name: {problem}; use something like "
                "'frugalflow/'"
            )
        return prefix

    @property
    def ledger_file(self) -> Path:
        return self.ledger_path or self.home / "ledger.duckdb"

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


def _read_repository_file(path: Path) -> dict[str, Any]:
    """The settings a repository's file sets, once it is known to set only allowed keys."""
    try:
        values = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
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


def _build_settings(files: list[Path], overrides: dict[str, Any]) -> Settings:
    token = _toml_files.set(tuple(path for path in files if path.is_file()))
    try:
        return Settings(**{key: value for key, value in overrides.items() if value is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
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
