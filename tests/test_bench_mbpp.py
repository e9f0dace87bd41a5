"""bench/mbpp.py: the MBPP+ problems, the recordings, and the EvalPlus-style scorer.

bench/ is not a package, so the module is loaded from its path. Each score runs real
subprocesses (the canonical solution, then one per stage), so the tests pick small problems.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH_MBPP = Path(__file__).resolve().parent.parent / "bench" / "mbpp.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mbpp", BENCH_MBPP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mbpp = _load()

SHARED = "def similar_elements(a, b):\n    return tuple(set(a) & set(b))\n"


@pytest.fixture(scope="module")
def mbpp2() -> Any:
    return mbpp.load_problems(["Mbpp/2"])["Mbpp/2"]


def test_description_and_example_of_mbpp_2(mbpp2: Any) -> None:
    assert (
        mbpp2.description
        == "Write a function to find the shared elements from the given two lists."
    )
    assert mbpp2.example == (
        "assert set(similar_elements((3, 4, 5, 6),(5, 7, 4, 10))) == set((4, 5))"
    )
    assert "assert" not in mbpp2.description


def test_inputs_get_back_the_tuples_json_lost(mbpp2: Any) -> None:
    assert mbpp2.base_input[0] == [(3, 4, 5, 6), (5, 7, 4, 10)]
    assert all(isinstance(arg, tuple) for inp in mbpp2.plus_input for arg in inp)
    assert len(mbpp.load_problems()) == 378


def test_the_recordings_cover_the_bench_tasks_in_task_id_order() -> None:
    small, large = mbpp.load_recorded("0.5b"), mbpp.load_recorded("1.5b")
    assert list(small) == list(large) == list(mbpp.BENCH_TASKS)
    numbers = [int(task_id.split("/")[1]) for task_id in mbpp.BENCH_TASKS]
    assert numbers == sorted(numbers) and len(numbers) == 89
    assert sum(r.plus for r in small.values()) == 48
    assert sum(r.plus for r in large.values()) == 60
    with pytest.raises(ValueError, match="unknown model key"):
        mbpp.load_recorded("7b")


@pytest.mark.parametrize("task_id", ["Mbpp/2", "Mbpp/137", "Mbpp/106"])
def test_a_canonical_solution_passes_everything(task_id: str) -> None:
    problem = mbpp.load_problems([task_id])[task_id]
    result = mbpp.score(problem, problem.canonical_solution)
    assert (result.visible, result.base, result.plus, result.error) == (True, True, True, "")


def test_recorded_code_that_fails_only_the_plus_inputs_scores_plus_false() -> None:
    recorded = mbpp.load_recorded("0.5b")["Mbpp/11"]
    assert recorded.base and not recorded.plus  # the premise, from the recording
    problem = mbpp.load_problems(["Mbpp/11"])["Mbpp/11"]
    result = mbpp.score(problem, recorded.code)
    assert (result.visible, result.base, result.plus) == (True, True, False)
    assert result.error.startswith("plus: input 1: wrong output")


@pytest.mark.parametrize(
    ("task_id", "model"), [("Mbpp/632", "0.5b"), ("Mbpp/137", "1.5b"), ("Mbpp/440", "1.5b")]
)
def test_rescoring_a_recorded_answer_agrees_with_the_recording(task_id: str, model: str) -> None:
    recorded = mbpp.load_recorded(model)[task_id]
    result = mbpp.score(mbpp.load_problems([task_id])[task_id], recorded.code)
    assert (result.visible, result.base, result.plus) == (
        recorded.visible,
        recorded.base,
        recorded.plus,
    )


def test_a_hanging_candidate_fails_within_its_cpu_limit(mbpp2: Any) -> None:
    code = "def similar_elements(a, b):\n    while True:\n        pass\n"
    result = mbpp.score(mbpp2, code)
    assert (result.visible, result.base, result.plus) == (False, False, False)
    assert "cpu timeout 1.00s" in result.error
    assert result.seconds < 8  # one second per stage, two stages, plus start-up


def test_a_hang_inside_c_code_is_killed_by_the_cpu_rlimit(mbpp2: Any) -> None:
    code = "def similar_elements(a, b):\n    return sum(range(10**15))\n"
    result = mbpp.score(mbpp2, code)
    assert (result.visible, result.base, result.plus) == (False, False, False)
    assert "SIGXCPU" in result.error
    assert result.seconds < 15


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("raise RuntimeError('boom')\n", "load: RuntimeError: boom"),
        ("def similar(a, b):\n    return ()\n", "load: KeyError: 'similar_elements'"),
        ("def similar_elements(a, b)\n    return ()\n", "load: SyntaxError"),
        ("import sys\nsys.exit(0)\n" + SHARED, "load: SystemExit"),
    ],
)
def test_code_that_fails_to_load_fails_everything(mbpp2: Any, code: str, error: str) -> None:
    result = mbpp.score(mbpp2, code)
    assert (result.visible, result.base, result.plus) == (False, False, False)
    assert result.error.startswith(error)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("    import sys\n    print('x' * 10**7)\n    sys.exit(0)\n", "SystemExit"),
        ("    import os\n    os._exit(0)\n", "worker exited with code 0"),
        ("    return [0] * 10**9\n", "MemoryError"),
    ],
)
def test_a_candidate_that_exits_prints_or_hogs_memory_fails(
    mbpp2: Any, body: str, error: str
) -> None:
    result = mbpp.score(mbpp2, "def similar_elements(a, b):\n" + body)
    assert not (result.visible or result.base or result.plus)
    assert error in result.error


def test_the_candidate_sees_no_secret_from_the_environment(
    mbpp2: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_TEST_SECRET", "hunter2")
    code = (
        "import os\n"
        "def similar_elements(a, b):\n"
        "    if any('hunter2' in v for v in os.environ.values()):\n"
        "        return None\n"
        "    return tuple(set(a) & set(b))\n"
    )
    assert mbpp.score(mbpp2, code).plus


def test_set_answers_compare_as_sets_for_similar_elements(mbpp2: Any) -> None:
    reversed_order = (
        "def similar_elements(a, b):\n    return tuple(sorted(set(a) & set(b))[::-1])\n"
    )
    assert mbpp.score(mbpp2, reversed_order).plus
    assert not mbpp.score(mbpp2, "def similar_elements(a, b):\n    return (a[0],)\n").base


def test_check_output_special_oracles() -> None:
    check = mbpp.check_output
    assert check("similar_elements", (5, 4), (4, 5), [], 0) == 0
    with pytest.raises(mbpp.OutputMismatch):
        check("similar_elements", [4], (4, 5), [], 0)
    match = re.search("a", "cat")
    assert check("text_match_three", match, True, [], 0) == 0  # not None, as expected
    for wrong in (None, False):
        with pytest.raises(mbpp.OutputMismatch):
            check("text_match_three", wrong, True, [], 0)
    with pytest.raises(mbpp.OutputMismatch):
        check("some_function", [4, 5], (4, 5), [], 0)  # elsewhere a list is not a tuple


def test_check_output_float_tolerance() -> None:
    check = mbpp.check_output
    assert check("f", 1.0 + 1e-9, 1.0, [], 0) == 1e-6  # atol 0 becomes 1e-6 for floats
    assert check("f", [1.0, 2.0 + 1e-9], [1.0, 2.0], [], 0) == 1e-6
    assert check("f", 0.18182, 0.181818, [], 1e-4) == 1e-4  # the problem's own atol
    for out, exp in [(1.1, 1.0), (1, 1.0000001), ([1.0], [1.0, 2.0]), ((1.0, 2.0), [1.0, 2.0])]:
        with pytest.raises(mbpp.OutputMismatch):
            check("f", out, exp, [], 0)


def test_expected_outputs_are_cached_on_disk(
    mbpp2: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = mbpp.expected_outputs(mbpp2, tmp_path)
    assert len(list(tmp_path.glob("Mbpp_2-*.pkl"))) == 1
    monkeypatch.setattr(mbpp, "_MEMORY", {})

    def no_canonical_run(problem: Any) -> None:
        raise AssertionError("the cached outputs should have been used")

    monkeypatch.setattr(mbpp, "_compute_expected", no_canonical_run)
    again = mbpp.expected_outputs(mbpp2, tmp_path)
    assert again.base == first.base == [(4, 5), (3, 4), (13, 14)]
    assert again.plus == first.plus and len(again.plus_time) == len(mbpp2.plus_input)
