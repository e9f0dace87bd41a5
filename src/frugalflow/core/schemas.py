"""The values that cross step boundaries: the request, what each step produces, the result.

They are pydantic models so that a request can arrive as JSON (Prefect UI, API, CLI) and a
result can be stored and shown. Values are frozen: a step makes a new one, never edits one.

Why one module of over 400 lines: these are the types every layer shares (core/ is the bottom
layer), and the request's form for the Prefect UI (titles, descriptions, plain optional
fields) is part of its type. Split by step, each module would import most of the others.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

Usd = Annotated[Decimal, Field(max_digits=18, decimal_places=8)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TaskType(StrEnum):
    FILE_EDITING = "file_editing"
    CODE_GENERATION = "code_generation"
    CONTENT_WRITING = "content_writing"
    ANALYSIS = "analysis"
    DOCUMENTATION = "documentation"


class Complexity(StrEnum):
    TRIVIAL = "trivial"
    SIMPLE = "simple"
    MEDIUM = "medium"
    COMPLEX = "complex"
    MASSIVE = "massive"


class QualityMode(StrEnum):
    ECONOMY = "economy"
    BALANCED = "balanced"
    MAX = "max"


class Tier(StrEnum):
    LOCAL = "local"
    SUBSCRIPTION = "subscription"
    API = "api"


class AnalysisDepth(StrEnum):
    SHALLOW = "shallow"
    DEEP = "deep"


class RunStatus(StrEnum):
    COMPLETED = "completed"
    DEFERRED = "deferred"
    FAILED = "failed"


def new_request_id() -> str:
    """A short, unique, branch-name-safe id."""
    return uuid.uuid4().hex[:12]


def _blank_to_none(value: object) -> object:
    """An empty form field means "not given" (the Prefect UI sends ``""`` for a cleared box)."""
    return None if isinstance(value, str) and not value.strip() else value


# Optional fields as the Prefect UI's form shows them: a plain box (left empty for the default),
# not a "string or null" choice. Python callers still pass None.
OptionalText = Annotated[
    str | None, BeforeValidator(_blank_to_none), WithJsonSchema({"type": "string"})
]
OptionalTaskType = Annotated[
    TaskType | None,
    BeforeValidator(_blank_to_none),
    WithJsonSchema({"type": "string", "enum": [kind.value for kind in TaskType]}),
]
OptionalUsd = Annotated[
    Usd | None, BeforeValidator(_blank_to_none), WithJsonSchema({"type": "number", "minimum": 0})
]


def _request_id(value: object) -> object:
    return (
        new_request_id()
        if value is None or (isinstance(value, str) and not value.strip())
        else value
    )


class CodeRequest(Frozen):
    """One plain-language code request against one git repository.

    The fields' titles and descriptions are what the Prefect UI's run form shows (the model's
    own description there is the short one in ``model_config``).

    Attributes:
        description: what the code should do, in the user's words.
        repo: absolute path of the target git repository (``~`` is expanded). A relative path
            is refused: a request may run later (deferred) or on a worker, in another directory.
        target: file to place the code in, relative to the repository; chosen from the
            repository's structure when not given.
        language: language of the code to write.
        task_type: what kind of work this is; inferred from the description when not given.
        quality: how much the user is willing to spend for quality.
        project: name the costs are booked under; the repository's directory name by default.
        budget_cap_usd: the most this one request may spend.
        examples: executable examples (for Python, ``assert`` statements) the code must pass.
        allow_dangerous: place code that validation flags as dangerous (shell calls with input,
            deleting files outside temp, eval of input, secrets in code) instead of refusing it.
        on_name_clash: when the target module already defines a generated name: ``stop`` with
            a message, or place the code ``beside`` it in a new module.
        merge: after committing on the work branch, fast-forward the checked-out branch to it
            when that is safe (clean tree, no merge in progress, not detached).
        request_id: unique id; also names the work branch ``frugalflow/<request_id>``.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title="Code request",
        json_schema_extra={
            "description": "What to write, and in which repository. Only the repository and "
            "the description are needed; every other field has a default."
        },
    )

    repo: Path = Field(
        title="Repository",
        description="Absolute path of the git repository to add the code to, on the machine "
        "the worker runs on (for example /home/me/projects/textkit; ~ is expanded).",
    )
    description: str = Field(
        min_length=3,
        max_length=20_000,
        title="What the code should do",
        description='In plain words, e.g. "Add a function slugify(text) that turns a title '
        'into a URL slug".',
    )
    examples: tuple[str, ...] = Field(
        default=(),
        title="Examples the code must pass",
        description="Python assert statements, one per item, e.g. "
        'assert slugify("Hello World") == "hello-world". Checked against the code before '
        "it is committed; a failing one sends the request to a stronger model.",
    )
    target: OptionalText = Field(
        default=None,
        title="Target file",
        description="File to put the code in, relative to the repository (e.g. "
        "src/textkit/slug.py). Leave empty to let frugalflow choose from the project's layout.",
    )
    language: str = Field(
        default="python", title="Language", description="Language of the code to write."
    )
    task_type: OptionalTaskType = Field(
        default=None,
        title="Kind of task",
        description="Leave empty to infer it from the description.",
    )
    quality: QualityMode = Field(
        default=QualityMode.BALANCED,
        title="Quality",
        description="economy: free models only where they can do it; balanced: pay when the "
        "task needs it; max: the strongest affordable model first.",
    )
    project: OptionalText = Field(
        default=None,
        title="Project",
        description="Name the cost is booked under. Leave empty for the repository's "
        "directory name.",
    )
    budget_cap_usd: OptionalUsd = Field(
        default=None,
        ge=0,
        title="Budget cap (USD)",
        description="The most this one request may spend. Leave empty for no cap beyond the "
        "daily and monthly budgets.",
    )
    allow_dangerous: bool = Field(
        default=False,
        title="Allow dangerous code",
        description="Commit code that validation flags as dangerous (shell calls with input, "
        "deleting files, eval of input, secrets in code) instead of refusing it.",
    )
    on_name_clash: Literal["stop", "beside"] = Field(
        default="stop",
        title="If the name exists",
        description="When the target file already defines the generated name: stop with a "
        "message, or put the code beside it in a new module.",
    )
    merge: bool = Field(
        default=False,
        title="Merge into the checked-out branch",
        description="After the commit on the work branch, fast-forward the checked-out branch "
        "to it when that is safe (clean tree, no merge in progress).",
    )
    request_id: Annotated[str, BeforeValidator(_request_id)] = Field(
        default_factory=new_request_id,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        title="Request id",
        description="Leave empty for a new one. It names the work branch frugalflow/<id>.",
    )

    @field_validator("repo")
    @classmethod
    def _absolute_repo(cls, value: Path) -> Path:
        expanded = value.expanduser()
        if not expanded.is_absolute():
            raise ValueError(
                f"the repository path {str(value)!r} is relative; give its absolute path (for "
                "example /home/me/projects/textkit). A request can run later or on a worker, in "
                "another directory, where a relative path would name another folder."
            )
        return expanded

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the description is blank; say what the code should do")
        return value.strip()

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def project_name(self) -> str:
        return self.project or Path(self.repo).resolve().name


class TaskSpec(Frozen):
    """What the router decides by (the seed's TaskSpec): the kind of task, its language and
    size class, the quality asked for and the files it touches."""

    task_type: TaskType
    language: str
    complexity: Complexity
    quality: QualityMode = QualityMode.BALANCED
    depth: AnalysisDepth | None = None  # analysis tasks only
    files: tuple[str, ...] = ()  # repository-relative paths in scope (the target, if any)


class CandidateCost(Frozen):
    """What one model would use and cost for this request."""

    model: str
    tier: Tier
    input_tokens: int
    expected_output_tokens: int
    exact_count: bool
    expected_cost_usd: Usd
    worst_case_cost_usd: Usd


class TaskEstimate(Frozen):
    """The estimate step's view of a request, before anything is spent."""

    task_type: TaskType
    language: str
    complexity: Complexity
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    candidates: tuple[CandidateCost, ...]
    spec: TaskSpec | None = None  # the class the router decides by (None: built by hand)


class BudgetDecision(Frozen):
    """The budget gate's answer: which candidates this request may use, or why none."""

    admitted: bool
    spent_today_usd: Usd
    daily_budget_usd: Usd
    remaining_usd: Usd
    emergency: bool
    allowed_models: tuple[str, ...]
    reason: str
    retry_at: datetime | None = None


class NamingConventions(Frozen):
    """The naming styles a repository mostly uses (``snake_case``, ``PascalCase``...)."""

    function_style: str = "snake_case"
    class_style: str = "PascalCase"
    constant_style: str = "UPPER_SNAKE_CASE"
    module_style: str = "snake_case"
    samples: int = 0


class StyleShare(Frozen):
    """How many names of one kind follow one style: "functions snake_case 98%"."""

    kind: str  # "function", "class", "constant", "module", "test_file"
    style: str
    share: float = Field(ge=0, le=1)  # of the names of the kind that show a style
    samples: int = Field(ge=0)


class NamingPatterns(Frozen):
    """The naming a repository measurably uses, with the share behind each style.

    Attributes:
        shares: the dominant style of each kind of name and its share.
        verb_first_share: the share of multi-word function names that start with a verb
            (``load_settings``); None with no such name.
        common_verbs: the verbs function names start with most, most used first.
        vocabulary: the domain words the identifiers use most (``ledger``, ``budget``).
    """

    shares: tuple[StyleShare, ...] = ()
    verb_first_share: float | None = Field(default=None, ge=0, le=1)
    common_verbs: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()


class StructureConventions(Frozen):
    """Where things live in a repository, and where a new module belongs.

    Attributes:
        layout: ``src`` (packages under ``src/``), ``flat`` (packages at the top) or
            ``scripts`` (loose modules, no package).
        package: the main package's import name, when there is one.
        tests_dir: the directory most test files are in; None without tests.
        test_file_pattern: how test files are named (``test_*.py``, ``*.test.ts``).
        tests_mirror_modules: whether most test files are named after a source module.
        definitions_per_module: the median count of top-level functions and classes per
            source module (a small figure: one concept per module).
        new_module_dir: where a new source module of the request's language belongs.
    """

    layout: Literal["src", "flat", "scripts"] = "scripts"
    package: str | None = None
    tests_dir: str | None = None
    test_file_pattern: str | None = None
    tests_mirror_modules: bool = False
    definitions_per_module: float = 0.0
    new_module_dir: str = "."


class ProjectStandards(Frozen):
    """What the project's configuration and its code say about how code is written.

    Attributes:
        line_length: the formatter's or linter's line length.
        target_version: the oldest Python the project supports (``py311``).
        lint_rules: the lint rule families selected (ruff or flake8).
        type_checking: how types are checked (``mypy strict``), None when they are not.
        indent: the indentation ``.editorconfig`` sets (``4 spaces``).
        docstring_style: the docstring style the code uses (``google``, ``numpy``,
            ``rest``, ``plain``).
        docstring_share: the share of public functions and classes with a docstring.
        type_hint_share: the share of functions whose parameters and return are annotated.
        sources: the configuration files these came from.
    """

    line_length: int | None = None
    target_version: str | None = None
    lint_rules: tuple[str, ...] = ()
    type_checking: str | None = None
    indent: str | None = None
    docstring_style: str = "google"
    docstring_share: float = Field(default=0.0, ge=0, le=1)
    type_hint_share: float = Field(default=0.0, ge=0, le=1)
    sources: tuple[str, ...] = ()


class CodeExample(Frozen):
    """A definition related to the request, shown as the project wrote it.

    Attributes:
        path: its file, relative to the repository.
        name: its qualified name (``Class.method`` for a method).
        kind: ``function``, ``method`` or ``class``.
        line: its first line.
        signature: its decorators and ``def``/``class`` line(s).
        summary: the first line of its docstring, "" without one.
        code: its source; just the signature when the body did not fit the budget.
    """

    path: str
    name: str
    kind: str
    line: int
    signature: str
    summary: str = ""
    code: str


class ReuseHint(Frozen):
    """A function or class the new code should call instead of rewriting it.

    Attributes:
        name: its name (``Class`` or ``function``).
        kind: ``function`` or ``class``.
        signature: its ``def``/``class`` line, without the body.
        import_line: how to import it (``from textkit.strings import slugify``).
        summary: the first line of its docstring, "" without one.
        path: its file, relative to the repository.
    """

    name: str
    kind: str
    signature: str
    import_line: str
    summary: str = ""
    path: str


class ContextPart(Frozen):
    """One part of the context and the tokens it takes in the prompt (0 when left out)."""

    name: str
    tokens: int = Field(ge=0)
    included: bool = True
    detail: str = ""  # what was kept or why it was left out ("3 of 8 examples")


class GenerationContext(Frozen):
    """What a model is told about the repository so that its code fits in.

    ``file_layout``, ``source_dir``, ``related_path``/``related_source`` and ``naming`` are
    what every step reads; the bridge (:mod:`frugalflow.context`) adds the measured naming,
    structure and standards, the related examples and reuse hints, each part fitted into
    ``budget_tokens`` most useful first, with the tokens of each part in ``parts``.
    ``token_count`` is the tokens the prompt's context takes in all.
    """

    language: str
    file_layout: tuple[str, ...]
    source_dir: str
    related_path: str | None = None
    related_source: str | None = None
    naming: NamingConventions = NamingConventions()
    token_count: int = 0
    naming_patterns: NamingPatterns = NamingPatterns()
    structure: StructureConventions = StructureConventions()
    standards: ProjectStandards = ProjectStandards()
    examples: tuple[CodeExample, ...] = ()
    hints: tuple[ReuseHint, ...] = ()
    shown_layout: tuple[str, ...] | None = None  # the layout the prompt shows; None: all of it
    budget_tokens: int | None = None
    parts: tuple[ContextPart, ...] = ()
    repository_state: str | None = None  # the content fingerprint it was built from


class RouteOption(Frozen):
    """A model the router weighed for an attempt: what one attempt on it is expected to cost,
    and how likely it is to pass validation (its Beta posterior's mean)."""

    model: str
    expected_cost_usd: Usd
    success_probability: float = Field(ge=0, le=1)
    observations: int = Field(default=0, ge=0)  # attempts in its performance history


class RoutingDecision(Frozen):
    """Which model an attempt used and why."""

    attempt: int
    model: str
    tier: Tier
    reason: str
    alternatives: tuple[str, ...] = ()
    rule: str | None = None  # the routing policy's rule that fired
    options: tuple[RouteOption, ...] = ()  # every model weighed, the chosen one included


class Candidate(Frozen):
    """Code one model wrote for one attempt, kept in the run's temp storage until placed."""

    attempt: int
    model: str
    code: str
    reply: str
    path: Path
    input_tokens: int
    output_tokens: int
    cost_usd: Usd
    seconds: float


class ValidationIssue(Frozen):
    """One finding of a check. An advisory one (``blocking`` False) is reported, never a
    reason to reject the code: e.g. a lint rule against a name the request itself demands."""

    check: str
    message: str
    line: int | None = None
    blocking: bool = True


class ValidationReport(Frozen):
    """What validation found; passed to the next model when the router escalates."""

    passed: bool
    checks: tuple[str, ...]
    issues: tuple[ValidationIssue, ...] = ()
    code: str = Field(default="", description="the code after safe automatic fixes")

    def feedback(self) -> str:
        """The blocking issues as a short list a model can act on (advisory ones are left out:
        the model is not asked to change what it may not change)."""
        return "\n".join(
            f"- [{issue.check}]"
            + (f" line {issue.line}:" if issue.line else "")
            + f" {issue.message}"
            for issue in self.issues
            if issue.blocking
        )


class Retry(Frozen):
    """What an attempt after a failed one builds on: the code that failed and why.

    Attributes:
        code: the code the previous attempt wrote.
        report: its validation report.
        repair: True when the same model tries again (it is shown its code and asked to find
            the bug); False for an escalation, where a stronger model gets the task afresh
            with what failed summarised.
        show_code: whether an escalation also shows the failed code.
        seed: the sample a repair asks for, so that no two repairs are the same sample.
    """

    code: str
    report: ValidationReport
    repair: bool
    show_code: bool = False
    seed: int | None = None


class AttemptRecord(Frozen):
    """What one attempt wrote and how it fared, kept in the result for review and benchmarks.

    Attributes:
        attempt: the attempt number (as in ``routing``).
        model: the model that wrote it.
        code: the code, after the safe automatic fixes validation made.
        passed: whether it passed validation.
        repeated: it was the same code as an earlier attempt's, and not validated again.
        temperature: the sampling temperature of the call.
    """

    attempt: int
    model: str
    code: str
    passed: bool
    repeated: bool = False
    temperature: float = 0.0


class Placement(Frozen):
    """Where the validated code went."""

    branch: str
    commit: str
    files: tuple[str, ...]
    merged_into_existing: bool = False
    merged: bool = False
    notes: tuple[str, ...] = ()


class NamingFinding(Frozen):
    name: str
    kind: str
    expected_style: str
    suggestion: str


class NamingReport(Frozen):
    conventions: NamingConventions
    checked: tuple[str, ...]
    findings: tuple[NamingFinding, ...] = ()


class DocumentationReport(Frozen):
    public_names: tuple[str, ...]
    missing_docstrings: tuple[str, ...]

    @property
    def completeness(self) -> float:
        if not self.public_names:
            return 1.0
        return 1 - len(self.missing_docstrings) / len(self.public_names)


class StepTiming(Frozen):
    """How long one step's body took (Prefect's overhead excluded); for a cached step, the lookup."""

    step: str
    seconds: float
    cached: bool = False


class CodeResult(Frozen):
    """The outcome of one request, whatever happened."""

    request_id: str
    status: RunStatus
    reason: str
    flow_run_id: str | None = None
    files: tuple[str, ...] = ()
    branch: str | None = None
    commit: str | None = None
    merged: bool = False  # the user's branch was fast-forwarded to ``branch``
    attempts: int = 0
    routing: tuple[RoutingDecision, ...] = ()
    tried: tuple[AttemptRecord, ...] = ()
    validation: ValidationReport | None = None
    naming: NamingReport | None = None
    documentation: DocumentationReport | None = None
    cost_usd: Usd = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    steps: tuple[StepTiming, ...] = ()
    retry_at: datetime | None = None
