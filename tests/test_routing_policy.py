"""The routing policy: the seed's rules by default, a user's from frugalflow.toml, refused when bad."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from frugalflow.core.errors import ConfigurationError, RequestError
from frugalflow.core.schemas import AnalysisDepth, Complexity, QualityMode, TaskSpec, TaskType
from frugalflow.core.settings import load_settings
from frugalflow.routing.policy import (
    PolicyChoice,
    PolicyRule,
    RoutingPolicy,
    default_policy,
    evaluate,
    policy_from_settings,
)

LOCAL = "llamacpp:qwen2.5-coder-0.5b-instruct"
LOCAL_BIG = "llamacpp:qwen2.5-coder-1.5b-instruct"
SUBSCRIPTION = "claude-code:sonnet"
MINI = "openai:gpt-4o-mini"
GEMINI = "gemini:gemini-2.0-flash"  # cheaper per attempt than MINI, though configured after it
GPT4O = "openai:gpt-4o"
SONNET = "anthropic:claude-3-5-sonnet-latest"

# Every model available, in the configured order, with the expected cost of one attempt.
ALL = {
    LOCAL: Decimal(0),
    LOCAL_BIG: Decimal(0),
    SUBSCRIPTION: Decimal(0),
    MINI: Decimal("0.0004"),
    GEMINI: Decimal("0.0002"),
    GPT4O: Decimal("0.006"),
    SONNET: Decimal("0.009"),
}
PAID = (GEMINI, MINI, GPT4O, SONNET)  # cheapest-api first, then the API tier in its order


def without(*models: str) -> dict[str, Decimal]:
    return {model: cost for model, cost in ALL.items() if model not in models}


NO_LOCAL = without(LOCAL, LOCAL_BIG)


def spec(
    task_type: TaskType = TaskType.CODE_GENERATION,
    complexity: Complexity = Complexity.TRIVIAL,
    *,
    language: str = "python",
    quality: QualityMode = QualityMode.BALANCED,
    depth: AnalysisDepth | None = None,
) -> TaskSpec:
    return TaskSpec(
        task_type=task_type, language=language, complexity=complexity, quality=quality, depth=depth
    )


def decide(
    task: TaskSpec,
    remaining: str = "20",
    *,
    models: dict[str, Decimal] = ALL,
    emergency: bool = False,
    policy: RoutingPolicy | None = None,
) -> PolicyChoice:
    return evaluate(
        policy or default_policy(),
        task,
        models=models,
        remaining_usd=Decimal(remaining),
        emergency=emergency,
    )


# -- the seed's rules ---------------------------------------------------------------------------

MEDIUM = Complexity.MEDIUM


@pytest.mark.parametrize(
    ("task", "remaining", "models", "rule", "admitted"),
    [
        # file editing -> the subscription CLI tier, whatever the size and the money left
        (spec(TaskType.FILE_EDITING, MEDIUM), "0.5", ALL, "file-editing", (SUBSCRIPTION,)),
        # trivial/simple -> local first, then the cheapest API model, then the other API models
        (spec(), "20", ALL, "trivial-or-simple", (LOCAL, LOCAL_BIG, *PAID)),
        (
            spec(complexity=Complexity.SIMPLE),
            "0",
            ALL,
            "trivial-or-simple",
            (LOCAL, LOCAL_BIG, *PAID),
        ),
        (spec(), "20", NO_LOCAL, "trivial-or-simple", PAID),
        # JavaScript/TypeScript code generation -> OpenAI, with more than $5 left
        (
            spec(complexity=MEDIUM, language="javascript"),
            "5.01",
            ALL,
            "js-ts-code-generation",
            (MINI, GPT4O),
        ),
        (
            spec(complexity=Complexity.COMPLEX, language="typescript"),
            "6",
            ALL,
            "js-ts-code-generation",
            (MINI, GPT4O),
        ),
        (spec(complexity=MEDIUM, language="javascript"), "5", ALL, "medium-best-value", tuple(ALL)),
        # content writing -> Gemini, with more than $2 left
        (spec(TaskType.CONTENT_WRITING, MEDIUM), "2.5", ALL, "content-writing", (GEMINI,)),
        (spec(TaskType.CONTENT_WRITING, MEDIUM), "2", ALL, "fallback", (LOCAL, LOCAL_BIG)),
        # deep analysis -> Anthropic, with more than $10 left
        (
            spec(TaskType.ANALYSIS, MEDIUM, depth=AnalysisDepth.DEEP),
            "11",
            ALL,
            "deep-analysis",
            (SONNET,),
        ),
        (
            spec(TaskType.ANALYSIS, MEDIUM, depth=AnalysisDepth.DEEP),
            "10",
            ALL,
            "medium-best-value",
            tuple(ALL),
        ),
        (
            spec(TaskType.ANALYSIS, MEDIUM, depth=AnalysisDepth.SHALLOW),
            "50",
            ALL,
            "medium-best-value",
            tuple(ALL),
        ),
        # medium -> best value (every available model), with more than $3 left
        (spec(complexity=MEDIUM), "3.5", ALL, "medium-best-value", tuple(ALL)),
        (spec(complexity=MEDIUM), "3", ALL, "fallback", (LOCAL, LOCAL_BIG)),
        # otherwise the local model
        (spec(complexity=Complexity.COMPLEX), "100", ALL, "fallback", (LOCAL, LOCAL_BIG)),
        (spec(complexity=Complexity.MASSIVE), "100", ALL, "fallback", (LOCAL, LOCAL_BIG)),
    ],
)
def test_each_default_rule_fires_for_its_requests_and_money_left(
    task: TaskSpec,
    remaining: str,
    models: dict[str, Decimal],
    rule: str,
    admitted: tuple[str, ...],
) -> None:
    choice = decide(task, remaining, models=models)
    assert (choice.rule, choice.models, choice.defer_hours) == (rule, admitted, None)
    assert not choice.deferred
    assert repr(rule) in choice.reason


def test_the_default_policy_is_the_seeds_rules_in_order() -> None:
    policy = default_policy()
    assert [rule.name for rule in policy.rules] == [
        "file-editing",
        "trivial-or-simple",
        "js-ts-code-generation",
        "content-writing",
        "deep-analysis",
        "medium-best-value",
        "fallback",
    ]
    assert [rule.min_remaining_usd for rule in policy.rules] == [
        None, None, Decimal(5), Decimal(2), Decimal(10), Decimal(3), None
    ]  # fmt: skip
    assert [rule.name for rule in policy.emergency_rules] == [
        "emergency-file-editing",
        "emergency-fallback",
    ]


def test_file_editing_without_a_subscription_falls_through_to_the_next_rule() -> None:
    choice = decide(spec(TaskType.FILE_EDITING), models=without(SUBSCRIPTION))
    assert choice.rule == "trivial-or-simple"
    assert choice.models == (LOCAL, LOCAL_BIG, *PAID)
    assert "'file-editing'" in choice.reason and "no available model" in choice.reason


def test_a_rule_admitting_none_of_the_available_models_falls_through() -> None:
    # JS with money left, but no OpenAI model available: the next rule that applies decides.
    choice = decide(
        spec(complexity=MEDIUM, language="javascript"), "6", models=without(MINI, GPT4O)
    )
    assert choice.rule == "medium-best-value"
    assert choice.models == (LOCAL, LOCAL_BIG, SUBSCRIPTION, GEMINI, SONNET)


def test_cheapest_api_is_the_lowest_expected_cost_not_the_first_configured() -> None:
    only_api = {MINI: Decimal("0.0004"), GEMINI: Decimal("0.0002"), GPT4O: Decimal("0.006")}
    assert decide(spec(), models=only_api).models == (GEMINI, MINI, GPT4O)
    cheaper_mini = {**only_api, MINI: Decimal("0.0001")}
    assert decide(spec(), models=cheaper_mini).models == (MINI, GEMINI, GPT4O)


def test_the_reason_says_which_rule_fired_why_and_what_comes_first() -> None:
    reason = decide(spec()).reason
    assert "'trivial-or-simple'" in reason
    assert "complexity trivial or simple" in reason
    assert "trivial code generation in python" in reason
    assert f"{LOCAL} (local tier) first" in reason
    money = decide(spec(complexity=MEDIUM, language="javascript"), "7.5").reason
    assert "more than $5 left ($7.50 left)" in money


def test_without_a_local_model_a_large_request_is_deferred_for_an_hour() -> None:
    choice = decide(spec(complexity=Complexity.COMPLEX), "100", models=NO_LOCAL)
    assert choice.deferred
    assert (choice.rule, choice.models, choice.defer_hours) == ("fallback", (), 1)
    assert "no local model is available" in choice.reason and "1 h" in choice.reason


# -- emergency ---------------------------------------------------------------------------------


def test_emergency_routing_uses_the_emergency_rules_whatever_the_money_left() -> None:
    editing = decide(spec(TaskType.FILE_EDITING), "1000", emergency=True)
    assert (editing.rule, editing.models) == ("emergency-file-editing", (SUBSCRIPTION,))
    js = decide(spec(complexity=MEDIUM, language="javascript"), "1000", emergency=True)
    assert (js.rule, js.models) == ("emergency-fallback", (LOCAL, LOCAL_BIG))
    assert "emergency rule" in js.reason
    # a trivial request no longer escalates to a paid model
    assert decide(spec(), emergency=True).models == (LOCAL, LOCAL_BIG)


def test_emergency_file_editing_without_a_subscription_takes_the_local_model() -> None:
    choice = decide(spec(TaskType.FILE_EDITING), emergency=True, models=without(SUBSCRIPTION))
    assert (choice.rule, choice.models) == ("emergency-fallback", (LOCAL, LOCAL_BIG))


def test_emergency_without_a_local_model_is_deferred_for_a_day() -> None:
    choice = decide(spec(), emergency=True, models=NO_LOCAL)
    assert (choice.rule, choice.models, choice.defer_hours) == ("emergency-fallback", (), 24)
    assert "24 h" in choice.reason


# -- quality modes -----------------------------------------------------------------------------


def test_economy_uses_only_free_tiers() -> None:
    economy = QualityMode.ECONOMY
    assert decide(spec(quality=economy)).models == (LOCAL, LOCAL_BIG)
    best = decide(spec(complexity=MEDIUM, quality=economy), "50")
    assert (best.rule, best.models) == ("medium-best-value", (LOCAL, LOCAL_BIG, SUBSCRIPTION))
    assert "economy" in best.reason
    # JS with money left: the OpenAI rule admits nothing free, so the next rule decides
    js = decide(spec(complexity=MEDIUM, language="javascript", quality=economy), "50")
    assert js.rule == "medium-best-value"
    # no local model: the paid ones are never used, the request waits
    waits = decide(spec(quality=economy), models=NO_LOCAL)
    assert (waits.rule, waits.models, waits.defer_hours) == ("fallback", (), 1)
    assert decide(spec(), models=NO_LOCAL).models == PAID  # balanced: the same request pays


def test_max_uses_only_the_strongest_model_the_rule_admits() -> None:
    most = QualityMode.MAX
    assert decide(spec(quality=most)).models == (SONNET,)
    js = decide(spec(complexity=MEDIUM, language="javascript", quality=most), "6")
    assert (js.rule, js.models) == ("js-ts-code-generation", (GPT4O,))
    assert decide(spec(complexity=Complexity.COMPLEX, quality=most)).models == (LOCAL_BIG,)
    assert "quality max" in js.reason


# -- a user's policy ---------------------------------------------------------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XDG_CONFIG_HOME in tmp_path, and no FRUGALFLOW_* variable but the test's."""
    for name in list(os.environ):
        if name.startswith("FRUGALFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "config"


def write_user_config(config_home: Path, text: str) -> Path:
    path = config_home / "frugalflow" / "frugalflow.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


USER_POLICY = """
routing_learn = false

[[routing_rules]]
name = "python-on-mini"
languages = ["Python"]
min_remaining_usd = 0.5
use = ["openai:gpt-4o-mini", "local"]

[[routing_rules]]
name = "js-on-gemini"
task_types = ["code_generation"]
languages = ["javascript"]
complexities = ["medium", "complex"]
use = ["gemini"]

[[routing_rules]]
name = "rest"
use = ["local", "defer"]
defer_hours = 6
"""


def test_with_nothing_set_the_policy_is_the_default_and_learning_is_on(config_home: Path) -> None:
    settings = load_settings()
    assert settings.routing_rules == [] and settings.routing_emergency_rules == []
    assert settings.routing_learn is True
    assert policy_from_settings(settings) == default_policy()


def test_a_users_policy_from_toml_changes_tiers_thresholds_and_models(config_home: Path) -> None:
    write_user_config(config_home, USER_POLICY)
    settings = load_settings()
    assert settings.routing_learn is False
    policy = policy_from_settings(settings)
    assert [rule.name for rule in policy.rules] == ["python-on-mini", "js-on-gemini", "rest"]
    assert policy.emergency_rules == default_policy().emergency_rules  # not set: the default

    first = decide(spec(complexity=Complexity.COMPLEX), "0.51", policy=policy)
    assert (first.rule, first.models) == ("python-on-mini", (MINI, LOCAL, LOCAL_BIG))
    assert decide(spec(), "0.5", policy=policy).rule == "rest"  # not more than $0.50 left
    js = decide(spec(complexity=MEDIUM, language="javascript"), policy=policy)
    assert (js.rule, js.models) == ("js-on-gemini", (GEMINI,))
    # trivial JS matches no rule before "rest"; no local model: deferred for the user's 6 h
    waits = decide(spec(language="javascript"), policy=policy, models=NO_LOCAL)
    assert (waits.rule, waits.defer_hours) == ("rest", 6)
    # the emergency rules are still the default ones
    assert decide(spec(), "100", policy=policy, emergency=True).rule == "emergency-fallback"


def test_a_users_emergency_rules_replace_the_default_ones(config_home: Path) -> None:
    write_user_config(
        config_home,
        '[[routing_emergency_rules]]\nname = "wait"\nuse = ["defer"]\ndefer_hours = 2\n',
    )
    policy = policy_from_settings(load_settings())
    assert policy.rules == default_policy().rules
    choice = decide(spec(), policy=policy, emergency=True)
    assert (choice.rule, choice.models, choice.defer_hours) == ("wait", (), 2)


def test_a_policy_can_come_from_the_environment_as_json(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_ROUTING_RULES", '[{"name": "all-sonnet", "use": ["anthropic"]}]')
    policy = policy_from_settings(load_settings())
    assert decide(spec(), policy=policy).models == (SONNET,)


@pytest.mark.parametrize(
    "line",
    [
        '[[routing_rules]]\nname = "paid"\nuse = ["anthropic"]',
        '[[routing_emergency_rules]]\nname = "paid"\nuse = ["api"]',
        "routing_learn = false",
    ],
)
def test_a_repository_may_not_set_the_routing_policy(
    config_home: Path, tmp_path: Path, line: str
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "frugalflow.toml").write_text(line + "\n")
    with pytest.raises(ConfigurationError, match="which a repository may not set"):
        load_settings(repo)


def test_a_selector_list_admits_each_model_once_in_the_rules_order() -> None:
    rule = PolicyRule(name="mix", use=(GPT4O, "openai", "api", "local"))
    policy = RoutingPolicy(rules=(rule,), emergency_rules=default_policy().emergency_rules)
    assert decide(spec(), policy=policy).models == (GPT4O, MINI, GEMINI, SONNET, LOCAL, LOCAL_BIG)


def test_a_rule_matches_on_quality_and_the_address_must_be_available() -> None:
    rules = (
        PolicyRule(name="max-on-sonnet", qualities=(QualityMode.MAX,), use=(SONNET,)),
        PolicyRule(name="rest", use=("local",)),
    )
    policy = RoutingPolicy(rules=rules, emergency_rules=rules)
    assert decide(spec(quality=QualityMode.MAX), policy=policy).rule == "max-on-sonnet"
    assert decide(spec(), policy=policy).rule == "rest"
    absent = decide(spec(quality=QualityMode.MAX), policy=policy, models=without(SONNET))
    assert (absent.rule, absent.models) == ("rest", (LOCAL_BIG,))


def test_no_rule_admitting_a_model_and_none_deferring_is_an_error_that_says_what_to_add() -> None:
    rules = (PolicyRule(name="only-local", use=("local",)),)
    policy = RoutingPolicy(rules=rules, emergency_rules=rules)
    with pytest.raises(RequestError, match="no rule of the routing policy") as caught:
        decide(spec(), policy=policy, models=NO_LOCAL)
    assert "defer" in str(caught.value) and MINI in str(caught.value)


# -- a bad policy is refused at load -----------------------------------------------------------

BAD_POLICIES = [
    ('name = "a"\nuse = ["locall"]', ["rule #1 ('a')", "unknown selector 'locall'"]),
    ('name = "a"\nuse = ["mistral:large"]', ["rule #1 ('a')", "unknown provider 'mistral'"]),
    ('name = "a"\nuse = ["openai:"]', ["rule #1 ('a')", "is not 'provider:model'"]),
    ('name = "a"\ntask_types = ["poetry"]\nuse = ["local"]', ["rule #1 ('a')", "task_types.0"]),
    ('name = "a"\ncomplexities = ["huge"]\nuse = ["local"]', ["rule #1 ('a')", "complexities.0"]),
    ('name = "a"\nqualities = ["best"]\nuse = ["local"]', ["rule #1 ('a')", "qualities.0"]),
    ('name = "a"\ndepths = ["abyssal"]\nuse = ["local"]', ["rule #1 ('a')", "depths.0"]),
    (
        'name = "a"\nuse = ["defer", "local"]\ndefer_hours = 1',
        ["rule #1 ('a')", "'defer' must be the last selector"],
    ),
    ('name = "a"\nuse = ["local", "defer"]', ["rule #1 ('a')", "defer_hours is not set"]),
    (
        'name = "a"\nuse = ["local"]\ndefer_hours = 1',
        ["rule #1 ('a')", "does not end with 'defer'"],
    ),
    (
        'name = "a"\nuse = ["defer"]\ndefer_hours = -1',
        ["rule #1 ('a')", "defer_hours", "greater than 0"],
    ),
    (
        'name = "a"\nmin_remaining_usd = -5\nuse = ["api"]',
        ["rule #1 ('a')", "min_remaining_usd", "greater than or equal to 0"],
    ),
    ('name = "a"\nuse = []', ["rule #1 ('a')", "use is empty"]),
    ('name = "a"', ["rule #1 ('a')", "use: Field required"]),
    ('name = "a"\nmin_remaining = 5\nuse = ["api"]', ["rule #1 ('a')", "min_remaining: Extra"]),
    ('name = "  "\nuse = ["api"]', ["rule #1", "the name is blank"]),
    ('use = ["api"]', ["rule #1", "name: Field required"]),
]


@pytest.mark.parametrize(("table", "expected"), BAD_POLICIES)
def test_a_bad_rule_is_refused_at_load_naming_the_rule_and_the_problem(
    config_home: Path, table: str, expected: list[str]
) -> None:
    path = write_user_config(config_home, f"[[routing_rules]]\n{table}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    message = str(caught.value)
    assert "routing_rules" in message and str(path) in message
    for fragment in expected:
        assert fragment in message


def test_the_bad_rule_is_named_by_its_number_and_name_among_good_ones(config_home: Path) -> None:
    write_user_config(
        config_home,
        '[[routing_rules]]\nname = "good"\nuse = ["local"]\n\n'
        '[[routing_rules]]\nname = "bad"\nuse = ["cheapest"]\n',
    )
    with pytest.raises(ConfigurationError, match=r"rule #2 \('bad'\): use: unknown selector"):
        load_settings()


def test_duplicate_rule_names_are_refused(config_home: Path) -> None:
    write_user_config(
        config_home,
        '[[routing_rules]]\nname = "same"\nuse = ["local"]\n\n'
        '[[routing_rules]]\nname = "same"\nuse = ["api"]\n',
    )
    with pytest.raises(ConfigurationError, match="more than one rule is named 'same'"):
        load_settings()


def test_a_bad_emergency_rule_is_refused_naming_its_setting(config_home: Path) -> None:
    write_user_config(config_home, '[[routing_emergency_rules]]\nname = "e"\nuse = ["gold"]\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "routing_emergency_rules" in str(caught.value)
    assert "rule #1 ('e'): use: unknown selector 'gold'" in str(caught.value)


def test_a_policy_built_in_code_is_checked_too() -> None:
    rule = PolicyRule(name="a", use=("local",))
    with pytest.raises(ValueError, match="more than one rule is named 'a'"):
        RoutingPolicy(rules=(rule, rule), emergency_rules=(rule,))
    with pytest.raises(ValueError, match="at least 1"):
        RoutingPolicy(rules=(), emergency_rules=(rule,))
    with pytest.raises(ValueError, match="unknown selector"):
        PolicyRule(name="b", use=("cheap",))
