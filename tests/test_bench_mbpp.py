"""bench/mbpp.py: the MBPP+ problems, the recordings, and the EvalPlus-style scorer.

bench/ is not a package, so the module is loaded from its path. Each score runs real
subprocesses (the canonical solution, then one per stage), so the tests pick small problems.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import pickle
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.bench import load_bench

mbpp = load_bench("mbpp", "bench_mbpp")

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


# --------------------------------------------------------------------------------------------
# Other EvalPlus problem files: HumanEval+ and MBPP+ records of one's own
# --------------------------------------------------------------------------------------------

CLOSE_PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """Tell whether any two of the numbers are closer to each other than the threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)  # 2.8 and 3.0
    True
    """
'''
CLOSE_BODY = (
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1 :]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
)
MIN_MAX_PROMPT = '''def min_max(values: list) -> tuple:
    """Return the smallest and the largest of the values.
    >>> min_max([3, 1, 2])
    (1, 3)
    >>> min_max([5]) == (5, 5)
    """
'''
HUMANEVAL_RECORDS = [  # in reverse task-id order: the loader sorts them
    {
        "task_id": "HumanEval/2",  # Mbpp/2's inputs become tuples; these must stay lists
        "prompt": MIN_MAX_PROMPT,
        "entry_point": "min_max",
        "canonical_solution": "    return (min(values), max(values))\n",
        "base_input": [[[3, 1, 2]], [[5]]],
        "plus_input": [[[-1, 7, 0, 7]]],
        "atol": 0,
    },
    {
        "task_id": "HumanEval/0",
        "prompt": CLOSE_PROMPT,
        "entry_point": "has_close_elements",
        "canonical_solution": CLOSE_BODY,
        "base_input": [
            [[1.0, 2.0, 3.0], 0.5],
            [[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3],
            [[1.0, 2.0, 3.9, 4.0], 0.2],
        ],
        "plus_input": [[[1.0, 5.0, 1.1], 0.5], [[], 1.0], [[0.5], 0.1]],
        "atol": 0,
    },
]


def _write_jsonl(path: Path, records: list[dict[str, Any]], *, compress: bool = False) -> Path:
    text = "".join(json.dumps(record) + "\n" for record in records)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


@pytest.fixture(scope="module")
def humaneval(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("humaneval") / "HumanEvalPlus.jsonl"
    return mbpp.load_problems(path=_write_jsonl(path, HUMANEVAL_RECORDS))


def test_a_humaneval_file_loads_with_the_prompt_and_its_doctests(humaneval: Any) -> None:
    assert list(humaneval) == ["HumanEval/0", "HumanEval/2"]  # task-id order
    close, min_max = humaneval["HumanEval/0"], humaneval["HumanEval/2"]
    assert close.dataset == min_max.dataset == mbpp.HUMANEVAL
    assert close.description == CLOSE_PROMPT.strip()  # signature and docstring: complete it
    assert close.example.splitlines() == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
    ]
    assert min_max.example.splitlines() == [
        "assert min_max([3, 1, 2]) == (1, 3)",
        "assert min_max([5]) == (5, 5)",  # a ">>> f(x) == y" line is a check of its own
    ]
    assert close.canonical_code == CLOSE_PROMPT + CLOSE_BODY
    assert min_max.base_input == [[[3, 1, 2]], [[5]]]  # as JSON gives them: no MBPP quirk
    assert type(min_max.base_input[0][0]) is list


def test_a_humaneval_canonical_solution_passes_and_a_wrong_one_fails_plus(humaneval: Any) -> None:
    close = humaneval["HumanEval/0"]
    result = mbpp.score(close, close.canonical_code)
    assert (result.visible, result.base, result.plus, result.error) == (True, True, True, "")
    adjacent_only = (  # passes the docstring and the base inputs, not [1.0, 5.0, 1.1]
        "def has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold for a, b in zip(numbers, numbers[1:]))\n"
    )
    result = mbpp.score(close, adjacent_only)
    assert (result.visible, result.base, result.plus) == (True, True, False)
    assert result.error.startswith("plus: input 0: wrong output False")


def test_doctest_asserts_turn_examples_into_one_line_asserts() -> None:
    prompt = '''def pick(items):
    """The first item, or None.
    >>> pick([1, 2])  # the first
    1
    >>> pick([])

    >>> pick([1,
    ...       2]), pick([5])
    (1, 5)
    >>> x = [7]
    >>> pick(x) < 8
    True
    >>> print(pick(['a']))
    a
    >>> pick([None, 1]) [0]
    >>> pick([3]) == 3"""
'''
    asserts = mbpp.doctest_asserts(prompt)
    assert asserts == [
        "assert pick([1, 2]) == 1",
        "assert pick([]) is None",  # doctest's "no output": the result is None
        "assert (pick([1, 2]), pick([5])) == (1, 5)",
        "x = [7]",
        "assert (pick(x) < 8) == True",  # unparenthesized, 8 == True would chain in
        "assert pick([3]) == 3",  # printed text and a bare subscript are left out
    ]
    scope: dict[str, Any] = {}
    exec("def pick(items):\n    return items[0] if items else None\n", scope)
    for line in asserts:
        exec(line, scope)


def test_an_mbpp_file_of_ones_own_uses_the_assertion_field_when_the_prompt_has_none(
    tmp_path: Path,
) -> None:
    records = [
        {
            "task_id": "Mbpp/2",  # an Mbpp id: MBPP+'s deserialization applies
            "prompt": '"""\nWrite a function to return the shared elements of two tuples.\n"""\n',
            "entry_point": "common",
            "canonical_solution": "def common(a, b):\n    return tuple(set(a) & set(b))\n",
            "base_input": [[[1, 2], [2, 3]]],
            "plus_input": [[[1], [1]]],
            "atol": 0,
            "assertion": "\nassert common((1, 2), (2, 3)) == (2,)\nassert common((), ()) == ()\n",
        },
        {
            "task_id": "Mbpp/3",
            "prompt": '"""\nWrite a function to double a number.\nassert double(2) == 4\n"""\n',
            "entry_point": "double",
            "canonical_solution": "def double(n):\n    return 2 * n\n",
            "base_input": [[2], [0], [-1]],
            "plus_input": [],
            "atol": 0,
            "assertion": "assert double(2) == 4\nassert double(0) == 0\nassert double(-1) == -2\n",
        },
    ]
    path = _write_jsonl(tmp_path / "mine.jsonl.gz", records, compress=True)
    problems = mbpp.load_problems(path=path)
    common, double = problems["Mbpp/2"], problems["Mbpp/3"]
    assert common.dataset == double.dataset == mbpp.MBPP
    assert common.description == "Write a function to return the shared elements of two tuples."
    assert common.example == "assert common((1, 2), (2, 3)) == (2,)\nassert common((), ()) == ()"
    assert common.base_input == [[(1, 2), (2, 3)]]
    # With an assert in the prompt, that is the visible example: the field holds the base tests.
    assert double.example == "assert double(2) == 4"
    with pytest.raises(KeyError, match="Mbpp/4"):
        mbpp.load_problems(["Mbpp/4"], path=path)


def test_a_bad_record_is_refused_with_its_line(tmp_path: Path) -> None:
    record = {k: v for k, v in HUMANEVAL_RECORDS[0].items() if k != "entry_point"}
    path = _write_jsonl(tmp_path / "bad.jsonl", [HUMANEVAL_RECORDS[1], record])
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 2: no 'entry_point' field"):
        mbpp.load_problems(path=path)


def test_record_dataset_by_id_then_by_shape() -> None:
    def dataset(task_id: str, prompt: str) -> str:
        return mbpp.record_dataset({"task_id": task_id, "prompt": prompt, "entry_point": "f"})

    assert dataset("HumanEval/3", '"""Docstring only."""') == mbpp.HUMANEVAL
    assert dataset("Mbpp/3", 'def f(x):\n    """Doc."""\n') == mbpp.MBPP
    assert dataset("Mine/1", 'def f(x):\n    """Doc."""\n') == mbpp.HUMANEVAL
    assert dataset("Mine/2", '"""\nWrite f.\nassert f(1) == 1\n"""\n') == mbpp.MBPP


def test_the_bundled_file_loads_the_same_through_a_path(tmp_path: Path) -> None:
    copy = tmp_path / "MbppPlus.jsonl"  # uncompressed, and another file: read afresh
    copy.write_bytes(gzip.decompress(mbpp.PROBLEMS_FILE.read_bytes()))
    default, again = mbpp.load_problems(), mbpp.load_problems(path=copy)
    assert list(again) == list(default)
    fields = ("description", "example", "cache_key", "canonical_code", "dataset")
    for task_id, problem in default.items():
        other = again[task_id]
        assert [getattr(other, f) for f in fields] == [getattr(problem, f) for f in fields]
        assert pickle.dumps(other.plus_input) == pickle.dumps(problem.plus_input)
    # The MBPP+ cache key is the one it always was, so on-disk caches stay valid.
    mbpp2 = default["Mbpp/2"]
    material = (
        mbpp.SCORER_VERSION,
        sys.version_info[:2],
        mbpp2.task_id,
        mbpp2.entry_point,
        mbpp2.canonical_solution,
        mbpp2.example,
        mbpp2.base_input,
        mbpp2.plus_input,
    )
    assert mbpp2.cache_key == hashlib.sha256(pickle.dumps(material, protocol=4)).hexdigest()


def test_mbpp_oracles_do_not_fire_for_humaneval_and_find_zero_checks_the_root() -> None:
    check = mbpp.check_output
    assert check("similar_elements", (5, 4), (4, 5), [], 0) == 0  # MBPP+: set equality
    with pytest.raises(mbpp.OutputMismatch):
        check("similar_elements", (5, 4), (4, 5), [], 0, mbpp.HUMANEVAL)
    with pytest.raises(mbpp.OutputMismatch):
        check("check_str", "match", True, [], 0, mbpp.HUMANEVAL)
    assert check("sum_div", 0, 7, [], 0) == 0
    with pytest.raises(mbpp.OutputMismatch):
        check("sum_div", 0, 7, [], 0, mbpp.HUMANEVAL)
    # HumanEval/32: -1 + x has its root at 1.0, whatever root the canonical solution found.
    assert check("find_zero", 1.0, 3.0, [[-1.0, 1.0]], 1e-6, mbpp.HUMANEVAL) == 1e-6
    with pytest.raises(mbpp.OutputMismatch):
        check("find_zero", 3.0, 3.0, [[-1.0, 1.0]], 1e-6, mbpp.HUMANEVAL)
    with pytest.raises(mbpp.OutputMismatch):  # no float rule here: the atol stays 0
        check("find_zero", 1.0 + 1e-9, 1.0, [[-1.0, 1.0]], 0, mbpp.HUMANEVAL)
    assert check("f", 1.0 + 1e-9, 1.0, [], 0, mbpp.HUMANEVAL) == 1e-6  # the float rule holds
