"""Checks before money: what must hold before a request is estimated, gated or sent to a model.

The CLI runs :func:`check_request` before it starts a flow (a bad request exits 2 without a
Prefect server), and the codegen flow runs it again first thing, so that a request triggered
from the Prefect UI or API is refused the same way: Failed with the same message, no model
called, no ledger row. :func:`why_never_affordable` runs after the budget gate: a request that
no budget window could ever pay for fails with what to change instead of waiting forever.
"""

from __future__ import annotations

import ast
import os
import unicodedata
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

from frugalflow.core.errors import (
    ConfigurationError,
    NotAGitRepositoryError,
    RequestError,
    SandboxUnavailableError,
    UnsafePathError,
)
from frugalflow.core.models import parse_address
from frugalflow.core.schemas import CodeRequest, QualityMode, TaskEstimate, Tier
from frugalflow.core.settings import Settings
from frugalflow.money.budget import in_emergency, money_left
from frugalflow.money.pricing import PriceCatalog
from frugalflow.placement.repository import WorkRepository, repository_top
from frugalflow.placement.safepaths import INSIDE
from frugalflow.placement.targets import EXTENSIONS
from frugalflow.validation import sandbox

__all__ = [
    "check_examples",
    "check_repository",
    "check_request",
    "check_sandbox",
    "why_never_affordable",
]


def check_request(request: CodeRequest, settings: Settings) -> None:
    """Refuse a request that cannot be carried out, before anything is spent.

    Checks the repository (exists, a git repository with commits, not bare, its top
    directory), the target (inside the repository, not in ``.git/``, a file, a UTF-8 name,
    the language's extension), the examples (see :func:`check_examples`) and the models
    (known providers, a price for every paid one, at least one usable now: a key set...).

    Raises:
        NotAGitRepositoryError: the repository is not usable; the message says what to pass.
        UnsafePathError: the target is not a safe file path inside the repository.
        RequestError: the examples check nothing, or a name is not valid UTF-8.
        SandboxUnavailableError: the examples would have to run, and no sandbox works here.
        ConfigurationError: a model address is malformed or names an unknown provider, or no
            model can be used now (no key, no server...).
        PricingError: a paid model has no price.
        PlacementError: git cannot be used on the repository.
    """
    repo = Path(request.repo)
    _check_encodable(os.fspath(repo), "the repository path")
    repository = _open_repository(repo, request.target)
    try:
        if request.target is not None:
            check_target(repository, request.target, request.language)
    finally:
        repository.close()
    check_examples(request.examples, request.language)
    check_sandbox(request)
    check_models(settings)
    check_some_model_usable(settings)


def check_repository(repo: Path) -> None:
    """Refuse a repository path that is not a usable git repository's top directory (the
    repository part of :func:`check_request`, for callers that check it first).

    Raises:
        NotAGitRepositoryError: the repository is not usable; the message says what to pass.
        RequestError: its path is not valid UTF-8.
    """
    _check_encodable(os.fspath(repo), "the repository path")
    _open_repository(Path(repo), None).close()


def _open_repository(repo: Path, target: str | None) -> WorkRepository:
    top = repository_top(repo) if repo.is_dir() else None
    if top is not None and top != repo.resolve():
        inside = repo.resolve().relative_to(top).as_posix()
        meant = f", and {inside}/{target} as the target file" if target else ""
        raise NotAGitRepositoryError(
            f"{repo} is a subdirectory of the repository {top}; give {top} as the repository{meant}. "
            "frugalflow works from a repository's top directory, where its frugalflow.toml is "
            "and to which the target file is relative."
        )
    return WorkRepository(repo)


def _check_encodable(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(text)
        raise RequestError(
            f"{what} {shown!r} is not valid UTF-8; frugalflow names files in prompts, commits "
            "and results, which need UTF-8. Rename it, or choose a name in UTF-8."
        ) from None


def check_target(repository: WorkRepository, target: str, language: str) -> str:
    """Check ``--target`` and return it normalised.

    Raises:
        UnsafePathError: absolute, ``..``, inside ``.git/`` or a submodule, through a symlink
            that leads out, a directory, or a control character in the name.
        RequestError: not valid UTF-8, or the wrong extension for the language.
    """
    _check_encodable(target, "--target")
    if any(unicodedata.category(char) == "Cc" for char in target):
        raise UnsafePathError(f"--target {target!r} has a control character in its name; {INSIDE}")
    resolved = repository.resolve_target(target)
    if target.endswith("/") or (repository.root / resolved).is_dir():
        raise UnsafePathError(
            f"--target {target} is a directory; name a file in it, e.g. "
            f"{resolved}/module{EXTENSIONS.get(language, '')}"
        )
    extension = EXTENSIONS.get(language)
    if extension is not None and not resolved.endswith(extension):
        raise RequestError(
            f"--target {target} does not end in {extension}, the extension of {language} files; "
            f"name a {extension} file, or pass the --language the file is written in"
        )
    return resolved


def _is_check(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert | ast.Raise | ast.Call) for n in ast.walk(node))


def check_sandbox(request: CodeRequest) -> None:
    """Refuse a request whose examples would have to run on a machine without a working
    sandbox: frugalflow never runs generated code unconfined, and finding that out after the
    model was paid would waste the money.

    Raises:
        SandboxUnavailableError: the request has examples and the sandbox does not work here.
    """
    if not request.examples or request.language != "python":
        return
    reason = sandbox.unavailable_reason()
    if reason is not None:
        raise SandboxUnavailableError(
            f"the examples cannot be run here: {reason}. frugalflow runs generated code only "
            "inside its sandbox; install bubblewrap, or send the request without examples "
            "(the code is then checked without running it)"
        )


def check_examples(examples: tuple[str, ...], language: str) -> None:
    """Refuse examples that cannot run, or that would pass whatever the code does.

    For Python, each example must parse and have code (not only comments); an expression that
    only computes a value (``count_words``, ``count_words("a") == 1``) checks nothing and is
    refused; and at least one example must be an executable check: an ``assert``, a
    ``raise``, or a call that raises when the code is wrong. Other languages are checked by
    their validator.

    Raises:
        RequestError: an example is not valid Python, or none of them checks anything.
    """
    if language != "python" or not examples:
        return
    checks = 0
    for number, example in enumerate(examples, start=1):
        label = f"example {number} ({example.strip()[:60]!r})"
        try:
            tree = ast.parse(example)
        except SyntaxError as exc:
            raise RequestError(
                f"{label} is not valid Python ({exc.msg}, line {exc.lineno}); write it as "
                "Python, e.g. --example 'assert count_words(\"a b\") == 2'"
            ) from None
        if not tree.body:
            raise RequestError(
                f"{label} has no code, only comments or blanks; write an assert, e.g. "
                "--example 'assert count_words(\"a b\") == 2'"
            )
        for statement in tree.body:
            if isinstance(statement, ast.Expr) and not _is_check(statement):
                raise RequestError(
                    f"{label} checks nothing: `{ast.unparse(statement)[:60]}` computes a value "
                    "and throws it away; write `assert ...` (or call the code so that a wrong "
                    "result raises)"
                )
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Compare):
                raise RequestError(
                    f"{label} checks nothing: a comparison on its own never fails; write "
                    f"`assert {ast.unparse(statement.value)[:60]}`"
                )
        checks += _is_check(tree)
    if not checks:
        raise RequestError(
            "none of the examples checks anything (no assert, raise or call); add one, e.g. "
            "--example 'assert count_words(\"a b\") == 2'"
        )


def check_models(settings: Settings) -> None:
    """Every model of the cascade names a known provider, and every paid one has a price.

    Raises:
        ConfigurationError: a malformed address or an unknown provider.
        PricingError: a paid model nobody prices; the message shows how to price it.
    """
    catalog = PriceCatalog(settings.prices)
    for model in settings.models:
        if parse_address(model).tier is Tier.API and catalog.price_of(model) is None:
            # Raises PricingError with the frugalflow.toml lines that would price it.
            catalog.price_call(model, input_tokens=1, output_tokens=1)


def check_some_model_usable(settings: Settings) -> None:
    """At least one model of the cascade can be used: its key is set, its server configured.

    Circuit breakers are not consulted: a resting provider is a passing state, not a mistake.

    Raises:
        ConfigurationError: no model can be used; the message says why for each.
    """
    from frugalflow.providers import get_provider

    reasons = []
    for model in settings.models:
        availability = get_provider(parse_address(model).provider, settings).availability()
        if availability.usable:
            return
        reasons.append(f"{model}: {availability.reason}")
    raise ConfigurationError(
        "no model in the 'models' setting can be used now: " + "; ".join(reasons)
    )


def why_never_affordable(
    request: CodeRequest, estimate: TaskEstimate, settings: Settings
) -> str | None:
    """Why no budget window could ever pay for this request, or None if one day it could.

    A paid model can run only when, in every window (the day, the month, the project's day),
    what is left is at least its worst case and at least ``emergency_threshold_usd``. What is
    left is at most the window's whole limit, so a worst case above a limit, or a limit under
    the threshold, can never run, however long the request waits. Free models always can.

    Returns:
        The reason and what to change, or None.
    """
    candidates = estimate.candidates
    if not candidates or any(c.worst_case_cost_usd == 0 for c in candidates):
        return None
    if request.quality is QualityMode.ECONOMY:
        return None  # refused by the gate with its own message
    limits = [("daily", settings.daily_budget_usd, "daily_budget_usd")]
    if settings.monthly_budget_usd is not None:
        limits.append(("monthly", settings.monthly_budget_usd, "monthly_budget_usd"))
    project = request.project_name
    if project in settings.project_budgets_usd:
        limits.append(
            (f"project:{project}", settings.project_budgets_usd[project], "project_budgets_usd")
        )
    window, limit, setting = min(limits, key=lambda item: item[1])
    threshold = settings.emergency_threshold_usd
    if in_emergency(limit, settings):  # even a full window would be in emergency mode
        return (
            f"this request can never run: it has only paid models, and the whole {window} "
            f"budget ({money_left(limit)}) is below the emergency threshold ({money_left(threshold)}) "
            f"under which only free tiers run. Raise {setting} to at least {money_left(threshold)}, "
            "lower emergency_threshold_usd, or add a free model to 'models'"
        )
    cheapest = min(candidates, key=lambda c: c.worst_case_cost_usd)
    worst = cheapest.worst_case_cost_usd
    if worst > limit:
        return (
            f"this request can never run: the cheapest model, {cheapest.model}, could cost up "
            f"to {_cost(worst)} for one call, more than the whole {window} budget "
            f"({money_left(limit)}). Raise {setting}, lower max_output_tokens (now "
            f"{settings.max_output_tokens}), or add a cheaper or free model to 'models'"
        )
    return None


def _cost(amount: Decimal) -> str:
    """A cost: to the cent, rounded up (what must be there), or exact under a cent."""
    if amount < Decimal("0.01"):
        return f"${amount.normalize():f}"
    return f"${Decimal(amount).quantize(Decimal('0.01'), rounding=ROUND_CEILING)}"
