"""The settings, declared in documented groups; :class:`frugalflow.core.settings.Settings`
inherits them all.

Each group is a model whose docstring documents its settings; :data:`SETTINGS_GROUPS` lists
them in the order the README shows them. The groups only arrange the documentation and the
code: a setting's key is flat everywhere (``daily_budget_usd = 5`` in ``frugalflow.toml``,
``FRUGALFLOW_DAILY_BUDGET_USD``, ``settings.daily_budget_usd``).

A setting that a repository's own ``frugalflow.toml`` may set is marked where it is declared,
with :data:`REPOSITORY_LIMITED` (at most the user's :class:`RepositoryLimits` value for it) or
:data:`REPOSITORY_SELF_BOUNDED` (bounded by its own validation); every other setting is refused
from a repository. :func:`repository_settings` reads the marks: it is the one list.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    SecretStr,
    field_validator,
)

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.models import parse_address
from frugalflow.core.policy_rules import PolicyRule, parse_rules

DEFAULT_LOCAL_MODEL = "llamacpp:qwen2.5-coder-0.5b-instruct"


def xdg_directory(variable: str, fallback: str) -> Path:
    """The XDG base directory ``$variable``, or ``~/<fallback>`` when it is unset or empty."""
    return Path(os.environ.get(variable) or Path.home() / fallback)


@dataclass(frozen=True)
class RepositoryMaySet:
    """Marks a setting that a repository's own ``frugalflow.toml`` may set.

    A repository is often someone else's code (a clone, a pull request), so it may shape how
    code is written for it, but not where keys are sent, which commands run, what things
    cost, where the ledger is, how much may be spent, or the limits.

    Attributes:
        limited: True: at most the user's :class:`RepositoryLimits` value for it (which must
            then have a field of the same name); False: bounded by its own validation alone.
    """

    limited: bool


REPOSITORY_LIMITED = RepositoryMaySet(limited=True)
REPOSITORY_SELF_BOUNDED = RepositoryMaySet(limited=False)


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

    Its fields are exactly the settings marked :data:`REPOSITORY_LIMITED` (checked when
    :mod:`frugalflow.core.settings` is imported).

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


class ModelsAndRouting(BaseModel):
    """Which models write the code, in what order, and how much each attempt may write.

    Attributes:
        models: the routing cascade as ``provider:model`` addresses, cheapest first.
        max_attempts: generation attempts per request (a failed attempt's validation report is
            passed to the next one).
        local_model_path: a GGUF file to use instead of the bundled Qwen2.5-Coder 0.5B.
        local_context_tokens: the embedded model's context window.
        max_output_tokens: the most tokens one generation may write.
        temperature: sampling temperature; 0 makes the local model repeatable.
        retry_temperature: sampling temperature of a further attempt on a model already tried
            for the request (a repair), each with a seed of its own: another sample than the
            answer that failed, never the same one again (still repeatable).
        escalation_shows_failed_code: whether an escalation shows the stronger model the code
            that failed (otherwise only what failed is summarised).
        routing_rules: the routing policy's rules (:class:`PolicyRule`, TOML
            ``[[routing_rules]]``), evaluated in order; empty: the default policy's
            (:func:`frugalflow.routing.policy.default_policy`). User-level only.
        routing_emergency_rules: the rules used instead below ``emergency_threshold_usd``;
            empty: the default policy's. User-level only.
        routing_learn: within the models a rule admits, order the attempts by the lowest
            expected cost per validated success learned from the ledger; false: the rule's
            order as is. User-level only.
        routing_priors: a model's prior belief of passing validation, as the two parameters
            of a Beta distribution, ``{"openai:gpt-4o-mini": [8, 2]}`` (as if it had passed 8
            of 10 attempts); otherwise its tier's. User-level only.
    """

    model_config = ConfigDict(title="Models and routing")

    models: Annotated[list[str], REPOSITORY_LIMITED] = Field(
        default_factory=lambda: [DEFAULT_LOCAL_MODEL], min_length=1
    )
    max_attempts: Annotated[int, REPOSITORY_LIMITED] = Field(default=2, ge=1, le=10)
    local_model_path: Path | None = None
    local_context_tokens: Annotated[int, REPOSITORY_LIMITED] = Field(default=4096, ge=512)
    max_output_tokens: Annotated[int, REPOSITORY_LIMITED] = Field(default=768, ge=16)
    temperature: Annotated[float, REPOSITORY_SELF_BOUNDED] = Field(default=0.0, ge=0, le=2)
    retry_temperature: Annotated[float, REPOSITORY_SELF_BOUNDED] = Field(default=0.7, ge=0, le=2)
    escalation_shows_failed_code: Annotated[bool, REPOSITORY_SELF_BOUNDED] = False
    # Not repository-settable: a repository's rules could send its requests to paid models.
    routing_rules: list[PolicyRule] = Field(default_factory=list)
    routing_emergency_rules: list[PolicyRule] = Field(default_factory=list)
    routing_learn: bool = True
    routing_priors: dict[str, tuple[PositiveFloat, PositiveFloat]] = Field(default_factory=dict)

    @field_validator("models")
    @classmethod
    def _known_addresses(cls, models: list[str]) -> list[str]:
        for address in models:
            try:
                parse_address(address)
            except ConfigurationError as exc:
                raise ValueError(str(exc)) from None
        return models

    @field_validator("routing_rules", "routing_emergency_rules", mode="before")
    @classmethod
    def _valid_rules(cls, tables: Any) -> Any:
        if not isinstance(tables, list | tuple):
            return tables  # not a list: pydantic says so
        return parse_rules(tables)


class BudgetsAndMoney(BaseModel):
    """What may be spent, when a budget day starts, what things cost and who is told.

    Attributes:
        daily_budget_usd: the most all requests together may spend per day.
        timezone: the IANA zone in which a budget day starts and ends.
        emergency_threshold_usd: below this much left today, only free tiers are used.
        monthly_budget_usd: the most all requests may spend per calendar month, if set.
        project_budgets_usd: per-project daily budgets, ``{"project": 5}``.
        reservation_ttl_seconds: a reservation of a run that crashed stops counting after this.
        alert_thresholds_percent: budget use that raises an alert, once per window.
        alert_webhook_url: where alerts are also POSTed as JSON (a secret: never logged).
        prices: per-model price overrides and private models, ``{"provider:model": {...}}``.
        subscriptions_usd_per_month: monthly fees of subscription tiers, amortised per day in
            reports, ``{"claude-code": 200}``.
        local_cost_usd_per_hour: what an hour of the local tier's wall time costs (power,
            the machine), booked per call so that reports can show the cost per solved task
            including the machine; never counted against a budget. $0 by default.
    """

    model_config = ConfigDict(title="Budgets and money")

    daily_budget_usd: Decimal = Field(default=Decimal("20"), ge=0)
    timezone: str = "UTC"
    emergency_threshold_usd: Decimal = Field(default=Decimal("1"), ge=0)
    monthly_budget_usd: Decimal | None = Field(default=None, ge=0)
    project_budgets_usd: dict[str, Decimal] = Field(default_factory=dict)
    reservation_ttl_seconds: int = Field(default=900, ge=10)
    alert_thresholds_percent: list[int] = Field(default_factory=lambda: [50, 80, 100])
    alert_webhook_url: SecretStr | None = None
    prices: dict[str, PriceOverride] = Field(default_factory=dict)
    subscriptions_usd_per_month: dict[str, Decimal] = Field(default_factory=dict)
    local_cost_usd_per_hour: Decimal = Field(default=Decimal(0), ge=0)


class ProvidersAndEndpoints(BaseModel):
    """Where the providers are, how they are called, retried, limited and rested.

    Attributes:
        provider_retries: retries of a model call that failed with a transient error.
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

    model_config = ConfigDict(title="Providers and endpoints")

    provider_retries: Annotated[int, REPOSITORY_LIMITED] = Field(default=2, ge=0, le=10)
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


class ValidationAndSandbox(BaseModel):
    """The limits on running a request's examples in the sandbox.

    Attributes:
        sandbox_timeout_seconds: time limit for running a request's examples.
        sandbox_memory_mb: memory limit for running a request's examples.
    """

    model_config = ConfigDict(title="Validation and sandbox")

    sandbox_timeout_seconds: Annotated[float, REPOSITORY_LIMITED] = Field(
        default=10.0, gt=0, allow_inf_nan=False
    )
    sandbox_memory_mb: Annotated[int, REPOSITORY_LIMITED] = Field(default=1024, ge=64)


class RepositoryAndPlacement(BaseModel):
    """How work lands in the target repository, and what that repository's own file may set.

    Attributes:
        work_branch_prefix: work branches are named ``<prefix><request_id>``; letters,
            digits, ``.``, ``_``, ``-`` and ``/`` only, no ``..``, no leading ``-`` (see
            :func:`branch_prefix_problem`).
        repository_limits: the most a repository's own ``frugalflow.toml`` may set each
            bounded setting to (:class:`RepositoryLimits`); user-level only.
    """

    model_config = ConfigDict(title="Repository and placement")

    work_branch_prefix: Annotated[str, REPOSITORY_SELF_BOUNDED] = "frugalflow/"
    repository_limits: RepositoryLimits = Field(default_factory=RepositoryLimits)

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


class PathsAndStorage(BaseModel):
    """Where frugalflow keeps its state, its ledger and its caches.

    Attributes:
        home: where the ledger and other state live.
        cache_dir: where assembled model files and caches live.
        ledger_path: the DuckDB cost ledger; ``<home>/ledger.duckdb`` by default.
        prefect_server: where the CLI runs its flows when no Prefect API is configured
            (``PREFECT_API_URL`` or the Prefect profile): ``auto`` uses frugalflow's local
            Prefect server under ``<home>/prefect-server``, started on first use and kept
            running (``frugalflow server stop``); ``ephemeral`` lets Prefect start a temporary
            server for each run (about ten seconds more per run). User-level only.
        prefect_server_port: the port of that local server on 127.0.0.1; by default the one
            it had before, or a free one.
    """

    model_config = ConfigDict(title="Paths and storage")

    home: Path = Field(
        default_factory=lambda: xdg_directory("XDG_DATA_HOME", ".local/share") / "frugalflow"
    )
    cache_dir: Path = Field(
        default_factory=lambda: xdg_directory("XDG_CACHE_HOME", ".cache") / "frugalflow"
    )
    ledger_path: Path | None = None
    prefect_server: Literal["auto", "ephemeral"] = "auto"
    prefect_server_port: int | None = Field(default=None, ge=1, le=65535)

    @property
    def ledger_file(self) -> Path:
        """The ledger's file: ``ledger_path``, or ``<home>/ledger.duckdb``."""
        return self.ledger_path or self.home / "ledger.duckdb"


# In the order the README's settings tables show them.
SETTINGS_GROUPS: tuple[type[BaseModel], ...] = (
    ModelsAndRouting,
    BudgetsAndMoney,
    ProvidersAndEndpoints,
    ValidationAndSandbox,
    RepositoryAndPlacement,
    PathsAndStorage,
)


def group_title(group: type[BaseModel]) -> str:
    """A settings group's title, as the README's heading for it says."""
    return str(group.model_config.get("title", group.__name__))


def repository_settings() -> dict[str, RepositoryMaySet]:
    """The settings a repository's own ``frugalflow.toml`` may set, each with its mark."""
    marked: dict[str, RepositoryMaySet] = {}
    for group in SETTINGS_GROUPS:
        for name, field in group.model_fields.items():
            for mark in field.metadata:
                if isinstance(mark, RepositoryMaySet):
                    marked[name] = mark
    return marked
