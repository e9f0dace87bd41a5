"""The router's view of a request (the seed's TaskSpec): type, size, depth, scope."""

from __future__ import annotations

import pytest

from frugalflow.core.schemas import AnalysisDepth, Complexity, QualityMode, TaskSpec, TaskType
from frugalflow.routing.classify import DEEP_ANALYSIS_WORDS, analysis_depth, task_spec


def spec(
    description: str,
    *,
    language: str = "python",
    quality: QualityMode = QualityMode.BALANCED,
    target: str | None = None,
    tokens: int = 50,
    task_type: TaskType | None = None,
) -> TaskSpec:
    return task_spec(
        description,
        language=language,
        quality=quality,
        target=target,
        tokens=tokens,
        task_type=task_type,
    )


def test_a_plain_request_is_trivial_code_generation_with_no_depth_and_no_files() -> None:
    result = spec("add two numbers and return the sum")
    assert result.task_type is TaskType.CODE_GENERATION
    assert result.complexity is Complexity.TRIVIAL
    assert result.language == "python"
    assert result.quality is QualityMode.BALANCED
    assert result.depth is None
    assert result.files == ()


@pytest.mark.parametrize(
    ("tokens", "complexity"),
    [
        (99, Complexity.TRIVIAL),
        (100, Complexity.SIMPLE),
        (999, Complexity.SIMPLE),
        (1_000, Complexity.MEDIUM),
        (10_000, Complexity.COMPLEX),
        (50_000, Complexity.MASSIVE),
    ],
)
def test_the_complexity_class_follows_the_seeds_token_thresholds(
    tokens: int, complexity: Complexity
) -> None:
    assert spec("add two numbers", tokens=tokens).complexity is complexity


def test_the_target_is_the_file_scope_and_language_and_quality_are_kept() -> None:
    result = spec(
        "add a slug helper", language=" TypeScript ", quality=QualityMode.MAX, target="src/a.ts"
    )
    assert result.files == ("src/a.ts",)
    assert result.language == "typescript"
    assert result.quality is QualityMode.MAX


def test_a_given_task_type_beats_the_words() -> None:
    assert spec("fix the parser", task_type=TaskType.CONTENT_WRITING).task_type is (
        TaskType.CONTENT_WRITING
    )
    assert spec("fix the parser").task_type is TaskType.FILE_EDITING


@pytest.mark.parametrize(
    "description",
    [
        "do a thorough review of the cache module",
        "analyse the architecture of the plugin loader",
        "security audit of the upload handler",
        "explain in depth why the scheduler stalls",
        "review the parser; find the root cause of the crash",
    ],
)
def test_an_analysis_asked_to_go_deep_is_deep(description: str) -> None:
    result = spec(description)
    assert result.task_type is TaskType.ANALYSIS
    assert result.depth is AnalysisDepth.DEEP


def test_a_plain_analysis_is_shallow_and_a_long_one_deep() -> None:
    assert spec("explain the parse function").depth is AnalysisDepth.SHALLOW
    long = "explain the parse function " + "and its helper " * DEEP_ANALYSIS_WORDS
    assert spec(long).depth is AnalysisDepth.DEEP
    just_short = " ".join(["explain"] + ["word"] * (DEEP_ANALYSIS_WORDS - 2))
    assert analysis_depth(just_short) is AnalysisDepth.SHALLOW


def test_only_an_analysis_has_a_depth() -> None:
    assert spec("write a thorough slugify function").depth is None
    given = spec("write a slugify function", task_type=TaskType.ANALYSIS)
    assert given.depth is AnalysisDepth.SHALLOW
