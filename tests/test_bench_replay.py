"""bench/replay.py: the replay provider the routing benchmark answers with, and its data.

bench/ is not a package, so the module is loaded from its path. Loading the outcomes for a few
tasks is fast; the tests that score answers on the hidden tests run real subprocesses
(bench/mbpp.py's scorer), so they score only a handful.
"""

from __future__ import annotations

import ast
import gzip
import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from frugalflow.core.errors import ConfigurationError, PermanentProviderError
from frugalflow.core.models import PROVIDER_TIERS
from frugalflow.core.schemas import CodeRequest, GenerationContext, Tier
from frugalflow.core.settings import load_settings
from frugalflow.generation.prompts import build_messages
from frugalflow.money.estimation import count_input_tokens, count_message_tokens
from frugalflow.money.pricing import PriceCatalog
from frugalflow.providers import ChatMessage, Provider, get_provider
from frugalflow.providers.pool import get_pool, takes_seed
from tests.support.bench import BENCH, load_bench

ROOT = Path(__file__).resolve().parent.parent


replay = load_bench("replay", "replay")
mbpp = sys.modules["mbpp"]  # the copy replay.py scores with

# Real wrong answers recorded (9, 11, 141, 170, 137); 604 has none, so its wrong answers are
# mutants verified on the hidden tests; gpt-4o has p > 0 on 170 but no solution of its own.
TASKS = ("Mbpp/9", "Mbpp/11", "Mbpp/137", "Mbpp/141", "Mbpp/170", "Mbpp/604")
SONNET, GPT4O, QWEN7B = (
    "claude-3-5-sonnet-20240620",
    "gpt-4o-2024-08-06",
    "Qwen--Qwen2.5-7B-Instruct",
)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Any:
    cache = tmp_path_factory.mktemp("replay-cache")
    return replay.Outcomes.load(problems=mbpp.load_problems(TASKS), cache_dir=cache)


def request_messages(problem: Any, tmp_path: Path) -> list[ChatMessage]:
    """The prompt the codegen flow sends for a problem, as bench/routing.py's requests are made."""
    request = CodeRequest(
        description=problem.description, repo=tmp_path, examples=(problem.example,)
    )
    context = GenerationContext(language="python", file_layout=(), source_dir="src")
    return build_messages(request, context)


def test_the_data_is_the_shared_file_with_its_licence_note() -> None:
    path = BENCH / "data" / "evalperf_mbppplus_outcomes.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    assert len(data["models"]) == 32
    assert all(len(tasks) == 89 for tasks in data["models"].values())
    readme = (BENCH / "data" / "README.md").read_text()
    assert "`evalperf_mbppplus_outcomes.json.gz`" in readme and "Apache-2.0" in readme


def test_outcomes_hold_pass_at_1_solutions_and_wrong_answers(outcomes: Any) -> None:
    assert outcomes.tasks == tuple(sorted(TASKS, key=lambda t: int(t.split("/")[1])))
    nine = outcomes.outcome(SONNET, "Mbpp/9")
    assert nine.pass_at_1 == nine.p == 0.94 and len(nine.solutions) == 5 and not nine.borrowed
    for task_id in ("Mbpp/9", "Mbpp/11", "Mbpp/137", "Mbpp/141", "Mbpp/170"):
        assert outcomes.wrong[task_id] and all(w.real for w in outcomes.wrong[task_id])
    assert outcomes.without_real_wrong == ("Mbpp/604",)
    assert outcomes.wrong["Mbpp/604"] and not any(w.real for w in outcomes.wrong["Mbpp/604"])
    assert all(w.source.startswith("mutant of ") for w in outcomes.wrong["Mbpp/604"])
    # p > 0 without a solution: other models' solutions, same p.
    borrowed = outcomes.outcome(GPT4O, "Mbpp/170")
    assert borrowed.borrowed and borrowed.p == borrowed.pass_at_1 == 0.09 and borrowed.solutions
    assert (GPT4O, "Mbpp/170") in outcomes.borrowed and (QWEN7B, "Mbpp/137") in outcomes.borrowed
    assert outcomes.zeroed == () and outcomes.no_wrong == ()
    assert outcomes.unanswerable(list(replay.DEFAULT_MAPPING.values())) == []
    with pytest.raises(KeyError, match="no outcomes for model"):
        outcomes.outcome("gpt-5", "Mbpp/9")


def test_a_draw_is_a_pure_function_of_its_inputs(outcomes: Any) -> None:
    args = {"run_seed": 7, "seed": None, "index": 0}
    assert outcomes.draw(GPT4O, "Mbpp/11", **args) == outcomes.draw(GPT4O, "Mbpp/11", **args)
    # Another run seed, seed argument or call index gives other draws (over many of them).
    base = [outcomes.draw(GPT4O, "Mbpp/11", run_seed=s, seed=None, index=0) for s in range(40)]
    for change in ({"seed": 12345}, {"index": 1}):
        other = [
            outcomes.draw(GPT4O, "Mbpp/11", **{"run_seed": s, "seed": None, "index": 0, **change})
            for s in range(40)
        ]
        assert other != base
    assert len({answer.correct for answer in base}) == 2  # p = 0.49: both outcomes occur


@pytest.mark.parametrize(("model", "task_id"), [(GPT4O, "Mbpp/11"), (QWEN7B, "Mbpp/9")])
def test_correct_draws_come_at_the_rate_of_pass_at_1(
    outcomes: Any, model: str, task_id: str
) -> None:
    p = outcomes.pass_at_1(model, task_id)
    n = 4000
    correct = sum(
        outcomes.draw(model, task_id, run_seed=seed, seed=None, index=0).correct
        for seed in range(n)
    )
    assert abs(correct - n * p) <= 5 * math.sqrt(n * p * (1 - p))  # five standard deviations
    retries = sum(
        outcomes.draw(model, task_id, run_seed=0, seed=None, index=i).correct for i in range(n)
    )
    assert abs(retries - n * p) <= 5 * math.sqrt(n * p * (1 - p))


def test_p_one_is_always_right_and_p_zero_never(outcomes: Any) -> None:
    assert outcomes.pass_at_1(SONNET, "Mbpp/11") == 1.0
    zero = [
        (m, t) for m in outcomes.models for t in outcomes.tasks if outcomes.pass_at_1(m, t) == 0
    ]
    one = [(m, t) for m in outcomes.models for t in outcomes.tasks if outcomes.pass_at_1(m, t) == 1]
    assert zero and one
    for model, task_id in zero[:5]:
        assert not any(
            outcomes.draw(model, task_id, run_seed=s, seed=None, index=0).correct for s in range(50)
        )
    for model, task_id in one[:5]:
        assert all(
            outcomes.draw(model, task_id, run_seed=s, seed=None, index=0).correct for s in range(50)
        )


def test_wrong_answers_fail_the_hidden_tests_and_correct_ones_pass(outcomes: Any) -> None:
    problems = mbpp.load_problems(["Mbpp/604", "Mbpp/11", "Mbpp/170"])
    for wrong in (outcomes.wrong["Mbpp/604"][0], outcomes.wrong["Mbpp/11"][0]):
        task_id = "Mbpp/604" if wrong in outcomes.wrong["Mbpp/604"] else "Mbpp/11"
        assert not mbpp.score(problems[task_id], wrong.code).plus, wrong.source
    for model, task_id in ((SONNET, "Mbpp/604"), (GPT4O, "Mbpp/170")):
        solution = outcomes.outcome(model, task_id).solutions[0]
        result = mbpp.score(problems[task_id], solution)
        assert result.plus, result.error


def test_a_mutant_is_one_small_slip_in_a_real_solution() -> None:
    source = (
        "def first_big(xs, n):\n"
        "    # the first element above n\n"
        "    if not xs:\n"
        "        return None\n"
        "    for x in xs:\n"
        "        if x > n and x % 2 == 0:\n"
        "            return x\n"
        "    return max(xs[0], n + 1)\n"
    )
    found = {what: code for code, what in replay.mutants(source)}
    assert set(found) == {
        "drops the guard `if not xs`",
        "`>=` for `>`",
        "`n` for `n + 1`",
        "index 1 for 0",
        "`or` for `and`",
        "`min` for `max`",
    }
    lines = source.splitlines()
    for what, code in found.items():
        ast.parse(code)
        assert "# the first element above n" in code  # the text is edited, not regenerated
        if what.startswith("drops the guard"):
            assert code.splitlines() == lines[:2] + lines[4:]
        else:
            changed = [a != b for a, b in zip(code.splitlines(), lines, strict=True)]
            assert sum(changed) == 1, what
    assert "x >= n and" in found["`>=` for `>`"]
    assert "max(xs[0], n)" in found["`n` for `n + 1`"]


def test_a_task_is_found_from_the_prompt_the_flow_builds(outcomes: Any, tmp_path: Path) -> None:
    for task_id, problem in outcomes.problems.items():
        assert outcomes.match_task(request_messages(problem, tmp_path)) == task_id
    # A retry keeps the task in its prompt.
    problem = outcomes.problems["Mbpp/11"]
    retry = [*request_messages(problem, tmp_path), ChatMessage(role="user", content="Try again")]
    assert outcomes.match_task(retry) == "Mbpp/11"


def test_tasks_that_share_a_description_are_told_apart_by_their_example(tmp_path: Path) -> None:
    # Mbpp/71 and 141 share a description; 104 and 569 their description and entry point.
    ids = ("Mbpp/71", "Mbpp/104", "Mbpp/141", "Mbpp/569")
    problems = mbpp.load_problems(ids)
    rows = {t: {"pass_at_1": 1.0, "solutions": [problems[t].canonical_solution]} for t in ids}
    path = tmp_path / "outcomes.json"
    path.write_text(json.dumps({"source": "test", "models": {"m": rows}}))
    loaded = replay.Outcomes.load(path, answers=(), problems=problems, fails_hidden=lambda p, c: 1)
    assert loaded.tasks == ids
    for task_id in ids:
        assert loaded.match_task(request_messages(problems[task_id], tmp_path)) == task_id
    same = request_messages(problems["Mbpp/104"], tmp_path)[0].content
    without_example = same.replace(problems["Mbpp/104"].example, "")
    with pytest.raises(replay.UnknownTaskError, match="several replayed tasks"):
        loaded.match_task([ChatMessage(role="user", content=without_example)])


def test_an_unknown_prompt_is_a_clear_permanent_error(outcomes: Any) -> None:
    docstring_request = [
        ChatMessage(role="system", content="You write Python docstrings."),
        ChatMessage(role="user", content="```python\ndef find_Rotations(s): ...\n```"),
    ]
    with pytest.raises(replay.UnknownTaskError, match="no replayed task") as caught:
        outcomes.match_task(docstring_request)
    assert isinstance(caught.value, PermanentProviderError)  # rests no breaker


def test_install_replaces_the_vendors_and_restores_them(outcomes: Any, tmp_path: Path) -> None:
    settings = load_settings()
    before = dict(PROVIDER_TIERS)
    with replay.install(outcomes, replay.DEFAULT_MAPPING, seed=3) as run:
        for name in ("anthropic", "openai", "ollama"):
            provider = get_provider(name, settings)
            assert isinstance(provider, replay.ReplayProvider) and isinstance(provider, Provider)
            assert provider is get_provider(name, settings)  # one instance: counts persist
            assert provider.availability().usable and takes_seed(provider)
        assert before == PROVIDER_TIERS and "replay" not in PROVIDER_TIERS
        assert get_provider("llamacpp", settings).__class__.__name__ == "LlamaCppProvider"
        with (
            pytest.raises(ConfigurationError, match="replaced already"),
            replay.install(outcomes, {"openai:gpt-4o-mini": GPT4O}, seed=3),
        ):
            pass
        # The real path: the pool, the seed, and a model the mapping does not name.
        pool = get_pool(settings, get_provider)
        messages = request_messages(outcomes.problems["Mbpp/9"], tmp_path)
        completion = pool.call(
            "openai", "gpt-4o-2024-08-06", messages, max_tokens=768, temperature=0.0, seed=5
        )
        assert run.draws[-1].seed == 5 and run.draws[-1].answer.task_id == "Mbpp/9"
        assert completion.text.startswith("```python\n") and completion.text.endswith("\n```")
        with pytest.raises(replay.ReplayError, match="not replayed"):
            pool.call("openai", "gpt-4.1", messages, max_tokens=768, temperature=0.0)
    assert before == PROVIDER_TIERS
    assert get_provider("openai", settings).__class__.__name__ == "OpenAIProvider"
    assert get_provider("anthropic", settings).__class__.__name__ == "AnthropicProvider"
    assert get_provider("ollama", settings).__class__.__name__ == "OllamaProvider"
    with pytest.raises(RuntimeError), replay.install(outcomes, replay.DEFAULT_MAPPING, seed=3):
        raise RuntimeError("a failed benchmark run")
    assert get_provider("openai", settings).__class__.__name__ == "OpenAIProvider"


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ({"replay:gpt-4o": GPT4O}, "unknown provider 'replay'"),
        ({"openai:gpt-4o-2024-08-06": "gpt-5"}, "no outcomes for model"),
        ({"openai:no-such-model-0": GPT4O}, "does not price"),
    ],
)
def test_install_refuses_what_it_cannot_replay_as_priced(
    outcomes: Any, mapping: dict[str, str], error: str
) -> None:
    with pytest.raises(ConfigurationError, match=error), replay.install(outcomes, mapping, seed=0):
        pass
    assert get_provider("openai", load_settings()).__class__.__name__ == "OpenAIProvider"


def test_the_default_addresses_are_priced_by_the_catalog() -> None:
    catalog = PriceCatalog()
    for address in replay.DEFAULT_MAPPING:
        price = catalog.price_of(address)
        assert price is not None
        tier = PROVIDER_TIERS[address.split(":", 1)[0]]
        assert (price.source == "catalog") if tier is Tier.API else (price.input_per_mtok == 0)


def test_runs_repeat_and_a_retry_is_a_fresh_draw(outcomes: Any, tmp_path: Path) -> None:
    def answers(seed: int) -> list[tuple[str, bool, str]]:
        with replay.install(outcomes, replay.DEFAULT_MAPPING, seed=seed) as run:
            provider = get_provider("openai", load_settings())
            for task_id in outcomes.tasks:
                messages = request_messages(outcomes.problems[task_id], tmp_path)
                for attempt in range(3):
                    provider.complete(
                        "gpt-4o-mini-2024-07-18", messages, max_tokens=768, temperature=0.7
                    )
                    assert run.draws[-1].index == attempt
            return [(d.answer.task_id, d.answer.correct, d.answer.code) for d in run.draws]

    first = answers(11)
    assert first == answers(11)
    assert first != answers(12)


def test_usage_is_the_real_prompt_and_the_answer(outcomes: Any, tmp_path: Path) -> None:
    messages = request_messages(outcomes.problems["Mbpp/141"], tmp_path)
    streamed: list[str] = []
    with replay.install(outcomes, replay.DEFAULT_MAPPING, seed=1) as run:
        provider = get_provider("anthropic", load_settings())
        address = "anthropic:claude-3-5-sonnet-20240620"
        completion = provider.complete(
            address.split(":", 1)[1],
            messages,
            max_tokens=768,
            temperature=0.0,
            on_text=streamed.append,
        )
        prompt = count_message_tokens(address, [(m.role, m.content) for m in messages]).tokens
        assert completion.input_tokens == prompt > 50
        assert completion.output_tokens == count_input_tokens(address, completion.text).tokens > 5
        assert completion.usage_reported and completion.finish_reason == "stop"
        assert streamed == [completion.text] and completion.seconds < 1
        assert run.draws[-1].input_tokens == prompt
        cut = provider.complete(
            "claude-3-5-sonnet-20240620", messages, max_tokens=8, temperature=0.0
        )
        assert cut.output_tokens == 8 and cut.finish_reason == "length"


def test_a_replay_address_in_the_configuration_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    user_file = tmp_path / "config" / "frugalflow" / "frugalflow.toml"
    user_file.parent.mkdir(parents=True)
    for text, error in (
        ('[[routing_rules]]\nname = "bench"\nuse = ["replay:gpt-4o"]\n', "unknown provider"),
        ('[providers.replay]\nfactory = "replay:ReplayProvider"\n', "providers"),
    ):
        user_file.write_text(text)
        with pytest.raises(ConfigurationError, match=error):
            load_settings()


def test_a_replay_model_in_the_models_setting_is_refused_at_load(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "frugalflow.toml").write_text('models = ["replay:gpt-4o-2024-08-06"]\n')
    with pytest.raises(ConfigurationError, match="replay"):
        load_settings(repo)


def test_no_frugalflow_module_imports_the_benchmarks() -> None:
    bench_modules = {path.stem for path in BENCH.glob("*.py")} | {"bench"}
    loaders = {"import_module", "spec_from_file_location", "__import__", "insert", "append"}
    offenders = []
    for path in sorted((ROOT / "src" / "frugalflow").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in loaders:  # a dynamic import, or sys.path.insert/append
                    names = [
                        a.value.replace("/", ".")
                        for a in node.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                    ]
            offenders += [
                f"{path.relative_to(ROOT)}: {name}"
                for name in names
                if name.split(".")[0] in bench_modules or "bench" in name.split(".")
            ]
    assert "replay" in bench_modules and offenders == []
