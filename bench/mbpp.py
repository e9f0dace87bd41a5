"""MBPP+ problems, the recorded answers of the embedded models, and an EvalPlus-style scorer.

A library for the benchmarks in ``bench/`` (load it from its path: ``bench/`` is not a
package), and a command line that checks the scorer against the recordings::

    .venv/bin/python bench/mbpp.py --rescore 0.5b 1.5b   # re-score the recorded code
    .venv/bin/python bench/mbpp.py --canonical           # score the 378 canonical solutions
    .venv/bin/python bench/mbpp.py --canonical --problems HumanEvalPlus.jsonl.gz  # any file

The library: :func:`load_problems`, :func:`load_recorded`, ``BENCH_TASKS`` (the 89 recorded
task ids, in task-id order), :func:`score` (a :class:`Score`), :func:`expected_outputs` and
:func:`check_output`. Only ``bench/data`` is read, unless :func:`load_problems` is given a
``path``. It is one module of over 400 lines because ``bench/`` keeps one file per benchmark,
and its subprocesses run this very file.

Problem files: the bundled ``bench/data/MbppPlus.jsonl.gz`` by default, or any EvalPlus-format
file (JSON lines, gzipped or not), each record MBPP+'s or HumanEval+'s (by its id, ``Mbpp/N``
or ``HumanEval/N``; any other id by whether its prompt defines the entry point). A problem's
``description`` and ``example`` are the request a user would type: for MBPP+ the prompt's
docstring and its ``assert`` line(s) (the record's ``assertion`` field only when the prompt
has none: in EvalPlus's MBPP+ it holds the base tests, 3 or more asserts, which stay hidden);
for HumanEval+ the prompt itself and its docstring's ``>>>`` examples as ``assert`` lines
(:func:`doctest_asserts`). HumanEval+'s canonical solution is a body: the code run is the
prompt followed by it, as in EvalPlus; candidates are whole modules for both.

Scoring, as the recordings' ``settings.scoring`` describes it and EvalPlus does for MBPP+
(and, where said, for HumanEval+):

* Inputs are deserialized as EvalPlus does (``mbpp_deserialize_inputs``: the tuples, sets and
  complex numbers that JSON lost), for ``Mbpp/N`` ids only: EvalPlus's ``get_human_eval_plus``
  uses HumanEval+'s inputs as JSON gives them, and so does this module. An empty
  ``plus_input`` (Mbpp/793) means the base inputs.
* The oracle is the canonical solution, run once per problem in a subprocess of its own (4 GiB,
  as EvalPlus) on every input; its outputs and CPU times are cached in memory and, given
  ``cache_dir``, on disk (keyed by the problem's data and format; MBPP+ keys are as they
  were, so their caches stay valid).
* Three stages, each one subprocess for all its inputs. *visible*: the example's ``assert``
  line(s), run in the candidate's namespace (``math`` available: some prompts assert with
  ``math.isclose``). *base*: stops at the first failing input. *plus*: only if base passed, so
  ``plus`` means base and plus inputs all pass. Code that fails to load fails all three.
* Each input gets ``max(1.0, 4.0 x canonical CPU time)`` seconds of CPU (``ITIMER_PROF``; a
  soft ``RLIMIT_CPU`` just after it kills C code that never returns to the interpreter);
  loading gets 5 s of CPU; a stage gets ``max(10, min(60, sum of its limits) + 2)`` seconds of
  wall time (EvalPlus caps a stage at 60 s too). Inputs are deep-copied before each call.
* Outputs compare as in EvalPlus's ``unsafe_execute``: exact equality; set equality for the
  eight set tasks; for ``check_str``, ``text_match_three`` and ``text_starta_endb`` the expected
  value is ``canonical output is not None``, which a bool answer must equal and any other
  answer matches as ``answer is not None`` (EvalPlus's code; comparing ``out is not None``
  with ``exp is not None`` differs only for bool answers); EvalPlus's four other oracles too
  (Mbpp/164, 295, 558, 581; none is among the 89). These apply to MBPP+ problems only;
  HumanEval+ has EvalPlus's one, ``find_zero`` (HumanEval/32): the polynomial at the answer
  within the atol of 0. Then, if the problem has an atol or the expected value is a float or
  a list/tuple of floats (atol 0 then becomes 1e-6 for the rest of the stage: an EvalPlus
  quirk, kept), the same type, the same length and ``numpy.allclose(rtol=1e-07)`` (numpy is
  in the venv; a plain rule stands in without it).

Isolation, against accidents rather than attacks (the candidate runs as the calling user, and
can reach the network):

* ``python -s -P -B`` with a minimal environment (PATH; HOME, TMPDIR and the cwd in a fresh
  temporary directory; C.UTF-8; one BLAS thread; ``PYTHONHASHSEED=0``). That is ``-I``
  (``-E -P -s``) but for ``-E``, which would drop ``PYTHONHASHSEED``: the seed is fixed, so an
  answer that orders a set of strings scores the same on every run, and on the canonical
  solution's seed, as in EvalPlus, whose forked subprocesses share one. On this data it changes
  no verdict (candidates on another seed than the canonical: the 2 x 89 rescores and 377
  canonical solutions all agree), but it keeps scores reproducible.
* ``RLIMIT_AS`` 1 GiB, or 3 x the canonical subprocess's peak RSS when that is more, which only
  Mbpp/255 needs (its plus input 85 returns 1.66 million 77-tuples: the canonical peaks at 1.3
  GiB, an answer needs 3 GiB next to the expected outputs, 3.8 GiB are given). ``RLIMIT_FSIZE``
  64 MiB, no core files, stdin, stdout and stderr on /dev/null, a process group of its own,
  killed whole at the end (whatever the candidate left running in it).
* The job goes in as a pickle on stdin (our own data); results come back as JSON lines on a
  duplicate of stdout, so nothing a candidate made is ever unpickled here. Only the trusted
  canonical solution's outputs come back pickled. A candidate that hangs, crashes, prints,
  exits, exhausts memory or raises at import fails the stage; it never raises in the caller.

Checked against the recordings (``--rescore 0.5b 1.5b``, 2 cores, other work running): 0.5B
passes visible 57, base 53, plus 48 of the 89; 1.5B visible 67, base 66, plus 60; that is 0
disagreements with the recorded booleans, on any of the three, for both models. Nothing is
timing-sensitive: no verdict changes with limits 10 times tighter (0.1 s, 1 x canonical) or
looser (5 s, 16 x). The one timeout, Mbpp/781 for both models (counting the divisors of n one by
one, and plus input 12 is 987654321), needs about 30 s of CPU against its 1 s. ``--canonical``:
378/378 pass. Runtime: 27 s for the first model (canonical runs included), 16 s for the second
(33 s for both with ``--jobs 2``); ``--canonical`` about 190 s.

HumanEval's ``>>>`` examples, checked on the 164 original HumanEval prompts (not bundled;
HumanEval+ builds on the same problems): 76 have ``>>>`` lines, which give 181 ``assert``
lines (one example left out, HumanEval/116's ``f(x) [0, 1, ...]`` typo); the canonical
solutions pass all but 3, which the docstrings themselves get wrong (HumanEval/47's median of
8.0 written 15.0, and two of HumanEval/116's). The other 88 prompts give their examples in
prose (``f(x) ==> y``, ``f(x) == y`` after "For example:", ``➞``) and so have no visible
example here.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import dataclasses
import gzip
import hashlib
import io
import json
import math
import os
import pickle
import re
import reprlib
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
PROBLEMS_FILE = DATA_DIR / "MbppPlus.jsonl.gz"
RECORDING_FILES = {
    "0.5b": DATA_DIR / "qwen05b_mbppplus.json.gz",
    "1.5b": DATA_DIR / "qwen15b_mbppplus.json.gz",
}

MIN_TIME_LIMIT = 1.0  # seconds of CPU per input, at least
TIME_LIMIT_FACTOR = 4.0  # ... or this many times the canonical solution's CPU time
LOAD_TIME_LIMIT = 5.0  # seconds of CPU to execute the candidate's module body
MIN_STAGE_WALL = 10.0  # a stage's subprocess gets at least this much wall time ...
MAX_STAGE_SUM = 60.0  # ... or the sum of its per-input limits, capped here (as EvalPlus does)
MEMORY_LIMIT = 1 << 30  # RLIMIT_AS of a candidate's subprocess, at least ...
MEMORY_FACTOR = 3  # ... or this many times the canonical solution's peak RSS (Mbpp/255)
CANONICAL_MEMORY_LIMIT = 4 << 30  # the trusted canonical solution gets EvalPlus's 4 GiB
CANONICAL_TIME_LIMIT = 60.0  # CPU seconds per input for the canonical solution
CANONICAL_WALL = 900.0
FILE_SIZE_LIMIT = 64 << 20
HASH_SEED = "0"  # shared by every subprocess: see "Isolation" above
RTOL = 1e-07
FLOAT_ATOL = 1e-6  # EvalPlus's atol for float outputs of problems whose atol is 0
SCORER_VERSION = "1"  # part of the expected-output cache key

# EvalPlus's special oracles for MBPP+ (evalplus/eval/_special_oracle.py).
MBPP_OUTPUT_SET_EQ_TASKS = frozenset(
    {
        "similar_elements",
        "find_char_long",
        "common_in_nested_lists",
        "extract_singly",
        "larg_nnum",
        "intersection_array",
        "find_dissimilar",
        "Diff",
    }
)
MBPP_OUTPUT_NOT_NONE_TASKS = frozenset({"check_str", "text_match_three", "text_starta_endb"})


# --------------------------------------------------------------------------------------------
# Problems and recordings
# --------------------------------------------------------------------------------------------


MBPP = "mbpp"  # a Problem's ``dataset``: an MBPP+ record ...
HUMANEVAL = "humaneval"  # ... or a HumanEval+ record (EvalPlus's own dataset names)
DATASETS = (MBPP, HUMANEVAL)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One EvalPlus problem (MBPP+ or HumanEval+), its inputs deserialized as EvalPlus does.

    ``description`` and ``example`` are what a user would type as the request's description
    and its ``--example``: for MBPP+ (``dataset`` ``"mbpp"``), derived from ``prompt``: the
    docstring's text without its ``assert`` line(s), and those line(s) joined by newlines (the
    record's ``assertion`` field only when the prompt has no ``assert`` line: in the EvalPlus
    files it holds the base tests, which stay hidden). For HumanEval+ (``"humaneval"``): the
    prompt itself (signature and docstring: the task is "complete this function"), and its
    docstring's ``>>>`` examples as ``assert`` lines (:func:`doctest_asserts`). ``cache_key``
    is a digest of everything the expected outputs depend on.
    """

    task_id: str
    prompt: str
    entry_point: str
    canonical_solution: str
    base_input: list[Any] = dataclasses.field(repr=False, hash=False)
    plus_input: list[Any] = dataclasses.field(repr=False, hash=False)
    atol: float
    dataset: str = MBPP
    assertion: str = dataclasses.field(default="", repr=False)  # MBPP+'s field, if any
    description: str = dataclasses.field(init=False)
    example: str = dataclasses.field(init=False)
    cache_key: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Derive ``description``, ``example`` and ``cache_key``.

        Raises:
            ValueError: an unknown ``dataset``.
        """
        if self.dataset == HUMANEVAL:
            description, example = self.prompt.strip(), "\n".join(doctest_asserts(self.prompt))
        elif self.dataset == MBPP:
            description, example = split_prompt(self.prompt)
            if not example:
                lines = self.assertion.splitlines()
                example = "\n".join(line.strip() for line in lines if line.strip())
        else:
            raise ValueError(f"{self.task_id}: unknown dataset {self.dataset!r} (not {DATASETS})")
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "example", example)
        material: tuple[Any, ...] = (
            SCORER_VERSION,
            sys.version_info[:2],
            self.task_id,
            self.entry_point,
            self.canonical_solution,
            self.example,
            self.base_input,
            self.plus_input,
        )
        if self.dataset != MBPP:  # MBPP+ keys stay as they were, and so do their caches
            material += (self.dataset, self.prompt)  # the canonical code includes the prompt
        digest = hashlib.sha256(pickle.dumps(material, protocol=4)).hexdigest()
        object.__setattr__(self, "cache_key", digest)

    @property
    def canonical_code(self) -> str:
        """The canonical solution as a module: HumanEval+'s is a body to append to the prompt."""
        if self.dataset == HUMANEVAL:
            return self.prompt + self.canonical_solution
        return self.canonical_solution


@dataclasses.dataclass(frozen=True)
class Recorded:
    """One recorded answer of an embedded model, with the recording scorer's verdicts."""

    task_id: str
    code: str
    visible: bool
    base: bool
    plus: bool
    reply: str = ""
    user_message: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reason: str = ""


def split_prompt(prompt: str) -> tuple[str, str]:
    """Split an MBPP+ prompt into its description and its visible example.

    Args:
        prompt: the prompt: a triple-quoted docstring holding one task sentence and the
            visible ``assert`` line(s).

    Returns:
        ``(description, example)``: the docstring's text without the ``assert`` lines,
        stripped, and the ``assert`` lines (stripped, source text as written) joined by
        newlines.
    """
    body = prompt.strip()
    for quote in ('"""', "'''"):
        if body.startswith(quote) and body.endswith(quote) and len(body) >= 6:
            body = body[3:-3]
            break
    asserts: list[str] = []
    text: list[str] = []
    for line in body.splitlines():
        (asserts if line.strip().startswith("assert") else text).append(line)
    return "\n".join(text).strip(), "\n".join(line.strip() for line in asserts)


_PS1 = re.compile(r"^\s*>>>(?: (.*)|$)")  # a doctest example's first line ...
_PS2 = re.compile(r"^\s*\.\.\.(?: (.*)|$)")  # ... and its continuation lines
# Expressions that bind more loosely than ``==``: parenthesized in an ``assert a == b``.
_LOOSE = (ast.Compare, ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Tuple, ast.Starred)


def doctest_asserts(prompt: str) -> list[str]:
    """Turn the ``>>>`` examples of a HumanEval+ prompt's docstring into ``assert`` lines.

    Each example ``>>> CALL`` (with its ``...`` continuation lines, comments dropped) and its
    expected output (the lines after it, up to a blank line, the next ``>>>`` or the end of
    the docstring) becomes ``assert CALL == OUTPUT`` on one line, operands parenthesized
    where ``==`` would bind them otherwise. An output that is not a Python literal (printed
    text, a traceback, ``<object at ...>``) cannot be compared with ``==``: that example is
    left out. Without an output line, a comparison (HumanEval's ``>>> f(x) == y``) becomes
    ``assert CALL``, a call ``assert CALL is None`` (what doctest means by no
    output), and a statement (``>>> x = [1, 2]``) stays as it is, for the examples after it.

    Args:
        prompt: the prompt: the function's signature and docstring.

    Returns:
        The ``assert`` lines (and setup statements), in the docstring's order.
    """
    lines = prompt.splitlines()
    asserts: list[str] = []
    index = 0
    while index < len(lines):
        first = _PS1.match(lines[index])
        index += 1
        if first is None:
            continue
        source = [first.group(1) or ""]
        while index < len(lines) and (more := _PS2.match(lines[index])) is not None:
            source.append(more.group(1) or "")
            index += 1
        ended = source[-1].rstrip().endswith(('"""', "'''"))  # the docstring ends here
        if ended:
            source[-1] = source[-1].rstrip()[:-3]
        want: list[str] = []
        while (
            not ended
            and index < len(lines)
            and lines[index].strip()
            and not _PS1.match(lines[index])
        ):
            text = lines[index].strip()
            index += 1
            closing = text.endswith(('"""', "'''"))
            if closing:
                text = text[:-3].rstrip()
            if text:
                want.append(text)
            if closing:
                break
        statement = _doctest_assert(source, want)
        if statement:
            asserts.append(statement)
    return asserts


def _without_comments(lines: list[str]) -> str | None:
    """The source lines with their comments dropped, joined into one line (None: no source)."""
    text = "\n".join(lines)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    rows = text.split("\n")
    for token in reversed(tokens):
        if token.type == tokenize.COMMENT:
            row, col = token.start
            rows[row - 1] = rows[row - 1][:col]
    joined = " ".join(row.strip() for row in rows if row.strip())
    return joined or None


def _loose(node: ast.expr) -> bool:
    return isinstance(node, _LOOSE) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
    )


def _doctest_assert(source_lines: list[str], want: list[str]) -> str | None:
    source = _without_comments(source_lines)
    if source is None:
        return None
    try:
        call = ast.parse(source, mode="eval").body
    except SyntaxError:  # a statement: setup for the examples after it, if it expects nothing
        return source if not want and _compiles(source) else None
    operand = f"({source})" if _loose(call) else source
    if not want:  # HumanEval's ">>> f(x) == y" lines are checks; doctest's no output is None
        if isinstance(call, ast.Compare):
            statement = f"assert {source}"
        elif isinstance(call, ast.Call):
            statement = f"assert {operand} is None"
        else:  # such as HumanEval/116's typo "f(x) [0, 1]": a subscript, not a check
            return None
        return statement if _compiles(statement) else None
    expected = None
    for text in dict.fromkeys((" ".join(want), *want[:1])):  # all output lines, or the first
        try:
            value = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        node = ast.parse(text, mode="eval").body
        enclosed = isinstance(node, ast.Tuple) and repr(value) == text
        expected = f"({text})" if _loose(node) and not enclosed else text
        break
    if expected is None:  # printed text, a traceback: not a literal
        return None
    statement = f"assert {operand} == {expected}"
    return statement if _compiles(statement) else None


def _compiles(source: str) -> bool:
    try:
        compile(source, "<doctest>", "exec")
    except (SyntaxError, ValueError):
        return False
    return True


def task_number(task_id: str) -> int:
    """The number in a task id such as ``Mbpp/2``, for sorting in task-id order."""
    return int(task_id.rsplit("/", 1)[-1])


# Which arguments EvalPlus turns from JSON lists back into tuples etc.
# (evalplus/data/mbpp.py, mbpp_deserialize_inputs).
_EVERY_ARG_TUPLE = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579}
_EVERY_ARG_TUPLE |= {596, 616, 630, 726, 740, 744, 809}
_EVERY_ARG_LIST_OF_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614}
_EVERY_ARG_LIST_OF_TUPLES |= {780}
_FIRST_ARG_LIST_OF_TUPLES = {75, 413, 444, 753}
_SECOND_ARG_TUPLE = {106, 750}
_FIRST_ARG_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_EVERY_ARG_TUPLE_OF_TUPLES = {259, 401, 445}
_ALL_NESTED_TUPLES = {580, 615, 791}


def _nested_tuple(value: Any) -> Any:
    return tuple(_nested_tuple(item) for item in value) if isinstance(value, list) else value


def deserialize_inputs(task_id: str, inputs: list[Any]) -> list[Any]:
    """Restore the argument types that JSON lost, exactly as EvalPlus does for MBPP+.

    Args:
        task_id: the problem's id, such as ``Mbpp/2``.
        inputs: the argument lists as read from the JSON file.

    Returns:
        The argument lists with tuples, sets and complex numbers where the problem wants them;
        ``inputs`` itself for any id but ``Mbpp/N`` (HumanEval+'s are used as JSON gives them).
    """
    if not task_id.startswith("Mbpp/"):
        return inputs
    n = task_number(task_id)
    if n in _EVERY_ARG_TUPLE:
        return [[tuple(arg) for arg in inp] for inp in inputs]
    if n in _EVERY_ARG_LIST_OF_TUPLES:
        return [[[tuple(item) for item in arg] for arg in inp] for inp in inputs]
    if n in _FIRST_ARG_LIST_OF_TUPLES:
        return [[[tuple(item) for item in inp[0]], inp[1]] for inp in inputs]
    if n in _SECOND_ARG_TUPLE:
        return [[inp[0], tuple(inp[1])] for inp in inputs]
    if n == 115:  # EvalPlus's own quirk: an empty list becomes {} (a dict), not set()
        return [
            [[set(item) if isinstance(item, list) and item else {} for item in inp[0]]]
            for inp in inputs
        ]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in _FIRST_ARG_TUPLE:
        return [[tuple(inp[0]), inp[1]] for inp in inputs]
    if n in _EVERY_ARG_TUPLE_OF_TUPLES:
        return [[tuple(tuple(item) for item in arg) for arg in inp] for inp in inputs]
    if n == 278:
        return [
            [tuple(tuple(item) if isinstance(item, list) else item for item in inp[0])]
            for inp in inputs
        ]
    if n == 307:
        return [[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}, *inp[1:]] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in _ALL_NESTED_TUPLES:
        return [_nested_tuple(inp) for inp in inputs]
    return inputs


def _task_order(task_id: str) -> tuple[str, int, str]:
    prefix, _, number = task_id.rpartition("/")
    return (prefix, int(number), "") if number.isdigit() else (prefix, -1, number)


def record_dataset(record: Mapping[str, Any]) -> str:
    """Which EvalPlus dataset a problem record is in: :data:`MBPP` or :data:`HUMANEVAL`.

    By its id (``Mbpp/N``, ``HumanEval/N``); for any other id, by its shape: a prompt that
    defines the entry point is HumanEval+'s (a signature and docstring to complete), one that
    does not is MBPP+'s (a docstring only).

    Args:
        record: the problem as read from the JSON line.

    Returns:
        The dataset's name.
    """
    task_id = str(record.get("task_id", ""))
    if task_id.startswith("Mbpp/"):
        return MBPP
    if task_id.startswith("HumanEval/"):
        return HUMANEVAL
    defines = re.search(
        rf"^\s*def\s+{re.escape(str(record.get('entry_point', '')))}\s*\(",
        str(record.get("prompt", "")),
        re.MULTILINE,
    )
    return HUMANEVAL if defines else MBPP


def _inputs(raw: Any) -> list[Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return list(raw or [])  # Mbpp/793 has {} as plus_input: EvalPlus then reuses base


def _read_problems(path: Path) -> dict[str, Problem]:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    problems: dict[str, Problem] = {}
    for number, line in enumerate(data.decode("utf-8").split("\n"), start=1):  # as JSON lines
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            raw = json.loads(line)
            task_id = raw["task_id"]
            if task_id in problems:
                raise ValueError(f"{task_id} is there twice")
            problems[task_id] = Problem(
                task_id=task_id,
                prompt=raw["prompt"],
                entry_point=raw["entry_point"],
                canonical_solution=raw["canonical_solution"],
                base_input=deserialize_inputs(task_id, _inputs(raw["base_input"])),
                plus_input=deserialize_inputs(task_id, _inputs(raw.get("plus_input"))),
                atol=float(raw.get("atol") or 0),
                dataset=record_dataset(raw),
                assertion=raw.get("assertion") or "",
            )
        except KeyError as exc:
            raise ValueError(f"{where}: no {exc.args[0]!r} field") from None
        except (TypeError, ValueError) as exc:  # JSON errors are ValueErrors too
            raise ValueError(f"{where}: {exc}") from None
    return problems


@cache
def _problems_of(path: Path, mtime_ns: int, size: int) -> dict[str, Problem]:
    return _read_problems(path)


def load_problems(
    task_ids: Sequence[str] | None = None, *, path: str | Path | None = None
) -> dict[str, Problem]:
    """The problems of an EvalPlus problem file, by task id: MBPP+'s of ``bench/data`` by default.

    The file is JSON lines (gzipped or not) in EvalPlus's format, MBPP+ or HumanEval+ (told
    apart per record: :func:`record_dataset`), such as ``MbppPlus.jsonl.gz`` or
    ``HumanEvalPlus.jsonl.gz``. It is read once per state of the file.

    Args:
        task_ids: the ids wanted, in the order wanted; None for all (378 by default), in
            task-id order.
        path: the problem file; None for ``bench/data/MbppPlus.jsonl.gz``.

    Returns:
        A new dict of task id to problem.

    Raises:
        KeyError: a requested id is not in the file.
        ValueError: a record of the file is not an EvalPlus problem (the message names it).
        OSError: the file cannot be read.
    """
    file = Path(PROBLEMS_FILE if path is None else path).resolve()
    stat = file.stat()
    problems = _problems_of(file, stat.st_mtime_ns, stat.st_size)
    if task_ids is None:
        task_ids = sorted(problems, key=_task_order)
    missing = [task_id for task_id in task_ids if task_id not in problems]
    if missing:
        raise KeyError(f"not in {file.name}: {', '.join(missing)}")
    return {task_id: problems[task_id] for task_id in task_ids}


@cache
def _recording(model_key: str) -> dict[str, Recorded]:
    try:
        path = RECORDING_FILES[model_key]
    except KeyError:
        known = ", ".join(sorted(RECORDING_FILES))
        raise ValueError(f"unknown model key {model_key!r} (known: {known})") from None
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = json.load(handle)
    recorded: dict[str, Recorded] = {}
    for task_id in sorted(data["results"], key=task_number):
        row = data["results"][task_id]
        recorded[task_id] = Recorded(
            task_id=task_id,
            code=row.get("code") or "",
            visible=bool(row["visible"]),
            base=bool(row["base"]),
            plus=bool(row["plus"]),
            reply=row.get("reply") or "",
            user_message=row.get("user_message") or "",
            prompt_tokens=int(row.get("prompt_tokens") or 0),
            completion_tokens=int(row.get("completion_tokens") or 0),
            seconds=float(row.get("seconds") or 0.0),
            finish_reason=row.get("finish_reason") or "",
        )
    return recorded


def load_recorded(model_key: str) -> dict[str, Recorded]:
    """The recorded answers of one embedded model, by task id in task-id order.

    Args:
        model_key: ``"0.5b"`` or ``"1.5b"``.

    Returns:
        A new dict of task id to recorded answer.

    Raises:
        ValueError: an unknown model key.
    """
    return dict(_recording(model_key))


BENCH_TASKS: tuple[str, ...] = tuple(_recording("0.5b"))


# --------------------------------------------------------------------------------------------
# Comparing outputs (runs inside the worker subprocess)
# --------------------------------------------------------------------------------------------


class OutputMismatch(AssertionError):
    """The candidate's output is not the expected one."""


def _is_floats(value: Any) -> bool:
    """EvalPlus's ``is_floats``: a float, or a non-empty list/tuple of floats, or a float array."""
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(item, float) for item in value)
    numpy = sys.modules.get("numpy")  # an ndarray exists only if someone imported numpy
    if numpy is not None and isinstance(value, numpy.ndarray):
        return bool(value.dtype == numpy.float64 or value.dtype == numpy.float32)
    return False


def _numpy() -> Any:
    try:
        import numpy  # optional: only where floats are compared
    except ImportError:
        return None
    return numpy


def _allclose(out: Any, exp: Any, atol: float) -> bool:
    """``np.allclose(out, exp, rtol=1e-07, atol=atol)``, or the same rule without numpy."""
    numpy = _numpy()
    if numpy is not None:
        return bool(numpy.allclose(out, exp, rtol=RTOL, atol=atol))
    return _allclose_plain(out, exp, atol)


def _allclose_plain(out: Any, exp: Any, atol: float) -> bool:
    if isinstance(out, (list, tuple)) and isinstance(exp, (list, tuple)):
        return len(out) == len(exp) and all(
            _allclose_plain(a, b, atol) for a, b in zip(out, exp, strict=True)
        )
    if isinstance(out, (list, tuple)) or isinstance(exp, (list, tuple)):
        return False
    try:
        return bool(out == exp) or bool(abs(out - exp) <= atol + RTOL * abs(exp))
    except TypeError:
        return False


def _surface_area_oracle(base_edge: float, height: float) -> int:
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_oracle(num1: int, num2: int) -> int:
    left, right = str(num1), str(num2)
    width = max(len(left), len(right))
    return sum(
        abs(int(a) - int(b)) for a, b in zip(left.zfill(width), right.zfill(width), strict=True)
    )


def _poly_oracle(xs: Sequence[float], x: float) -> float:
    """EvalPlus's ``_poly`` for HumanEval/32 (``find_zero``): the polynomial ``xs`` at ``x``."""
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def check_output(
    entry_point: str,
    out: Any,
    exp: Any,
    args: Sequence[Any],
    atol: float,
    dataset: str = MBPP,
) -> float:
    """Compare one output with the expected one, exactly as EvalPlus's loop does.

    Exact equality, EvalPlus's special oracles, then ``np.allclose`` (rtol 1e-07) when the
    problem has an atol or the expected value is a float (or a list/tuple of floats), in which
    case an atol of 0 becomes 1e-6 *for the rest of the stage*, as in EvalPlus. The special
    oracles are EvalPlus's for the problem's dataset: MBPP+'s (by entry point) only for MBPP+
    problems; for HumanEval+, ``find_zero`` (HumanEval/32) passes when the polynomial at the
    answer is within the atol of 0, and only then, whatever the expected root.

    Args:
        entry_point: the function's name (selects the special oracles).
        out: what the candidate returned.
        exp: the canonical solution's output (for the not-None tasks: ``output is not None``).
        args: the arguments the candidate was called with (three oracles recompute from them).
        atol: the stage's current absolute tolerance.
        dataset: the problem's dataset, :data:`MBPP` or :data:`HUMANEVAL`.

    Returns:
        The atol to use for the next input of the stage.

    Raises:
        OutputMismatch: the output does not match.
        Exception: whatever comparing raises (for instance ``set(out)`` on a non-iterable),
            which counts as a mismatch too.
    """
    if dataset == HUMANEVAL:
        if entry_point == "find_zero":
            if not abs(_poly_oracle(*args, out)) <= atol:
                raise OutputMismatch
            return atol  # EvalPlus moves on at once: no float rule, the atol unchanged
        return _compare(out, exp, out == exp, atol)
    exact = out == exp
    if entry_point == "are_equivalent":  # Mbpp/164: any answer passes (EvalPlus)
        exact = exact or True
    elif entry_point == "sum_div":  # Mbpp/295
        exact = exact or out == 0
    elif entry_point == "surface_Area":  # Mbpp/581
        exact = exact or abs(out - _surface_area_oracle(*args)) <= atol
    elif entry_point == "digit_distance_nums":  # Mbpp/558
        exact = exact or out == _digit_distance_oracle(*args)
    elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
        exact = set(out) == set(exp)
    elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
        exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    return _compare(out, exp, exact, atol)


def _compare(out: Any, exp: Any, exact: Any, atol: float) -> float:
    if atol == 0 and _is_floats(exp):
        atol = FLOAT_ATOL
    if not exact and atol != 0:
        if type(out) is not type(exp):
            raise OutputMismatch
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            raise OutputMismatch
        if not _allclose(out, exp, atol):
            raise OutputMismatch
    elif not exact:
        raise OutputMismatch
    return atol


# --------------------------------------------------------------------------------------------
# The worker: `python -s -P -B bench/mbpp.py --worker`, job (pickle) on stdin, results on stdout
# --------------------------------------------------------------------------------------------


class _CpuTimeout(BaseException):
    """An input used up its CPU time (a BaseException: `except Exception` does not catch it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _Timer:
    armed = False
    seconds = 0.0


def _on_cpu_timer(signum: int, frame: FrameType | None) -> None:
    if _Timer.armed:
        raise _CpuTimeout(_Timer.seconds)


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _CpuLimit:
    """At most ``seconds`` of process CPU time for the block.

    ``ITIMER_PROF`` raises :class:`_CpuTimeout` (again every 0.1 s if the code swallows it);
    the soft ``RLIMIT_CPU``, from half a second to 1.5 s later, kills the process if C code
    never returns to the interpreter (``sum(range(10**12))``).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = math.ceil(_cpu_used() + self.seconds + 0.5)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        _Timer.seconds = self.seconds
        _Timer.armed = True
        signal.setitimer(signal.ITIMER_PROF, self.seconds, 0.1)

    def __exit__(self, *exc: object) -> None:
        _Timer.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _CpuTimeout):
        return f"cpu timeout {exc.seconds:.2f}s"
    try:
        text = str(exc)
    except BaseException:
        text = "<unprintable>"
    name = type(exc).__name__
    return _clip(f"{name}: {text}" if text else name)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 10
_REPR.maxdict = 6
_REPR.maxlevel = 3


def _short_repr(value: Any) -> str:
    try:
        return _clip(_REPR.repr(value), 160)
    except BaseException:
        return f"<{type(value).__name__}>"


def _write_all(fd: int, data: bytes, write: Callable[[int, Any], int] = os.write) -> None:
    """Write all of ``data``; ``os.write`` is bound at import, before any candidate runs."""
    view = memoryview(data)
    while view:
        view = view[write(fd, view) :]


def _peak_memory() -> int:
    """This process's peak RSS in bytes (``VmHWM``: ``ru_maxrss`` survives fork and exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _worker_limits(memory: int, cpu_total: float) -> None:
    cpu = math.ceil(cpu_total)
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def _worker_main() -> None:
    """Run one job: the canonical solution on all inputs, or a candidate on one stage."""
    result_fd = os.dup(1)
    job = pickle.loads(sys.stdin.buffer.read())
    _worker_limits(job["memory"], job["cpu_total"])
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the candidate's prints, and its reads, go nowhere
        os.dup2(null, fd)
    signal.signal(signal.SIGPROF, _on_cpu_timer)
    dumps = json.dumps  # bound before the candidate runs, in case it patches json

    def emit(record: dict[str, Any]) -> None:
        _write_all(result_fd, (dumps(record) + "\n").encode())

    try:
        if job["mode"] == "canonical":
            _write_all(result_fd, pickle.dumps(_canonical_job(job), protocol=4))
        else:
            _stage_job(job, emit)
            emit({"done": True})
    except BaseException as exc:
        try:
            _write_all(result_fd, (dumps({"internal": _describe(exc)}) + "\n").encode())
        finally:
            os._exit(3)
    os._exit(0)


def _canonical_job(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"error": ""}
    where = "load"
    try:
        namespace: dict[str, Any] = {"__name__": "__canonical__"}
        exec(compile(job["code"], "<canonical>", "exec"), namespace)
        fn = namespace[job["entry_point"]]
        for name in ("base", "plus"):
            outputs: list[Any] = []
            times: list[float] = []
            for index, inp in enumerate(job[name]):
                where = f"{name} input {index}"
                args = copy.deepcopy(inp)
                with _CpuLimit(job["limit"]):
                    start = time.process_time()
                    out = fn(*args)
                    times.append(time.process_time() - start)
                outputs.append(out is not None if job["not_none"] else out)
            result[name] = outputs
            result[f"{name}_time"] = times
        where = "visible"
        result["visible_time"] = 0.0
        result["visible_error"] = ""
        scope = dict(namespace)
        scope.setdefault("math", math)  # the prompts' asserts use math.isclose
        start = time.process_time()
        try:
            with _CpuLimit(job["limit"]):
                for line in job["asserts"]:
                    exec(line, scope)
        except BaseException as exc:
            result["visible_error"] = _describe(exc)
        result["visible_time"] = time.process_time() - start
        result["peak_memory"] = _peak_memory()
    except BaseException as exc:
        result["error"] = f"{where}: {_describe(exc)}"
    return result


def _stage_job(job: dict[str, Any], emit: Callable[[dict[str, Any]], None]) -> None:
    entry_point = job["entry_point"]
    namespace: dict[str, Any] = {"__name__": "__candidate__"}
    deepcopy = copy.deepcopy
    try:
        with _CpuLimit(job["load_limit"]):
            exec(compile(job["code"], "<candidate>", "exec"), namespace)
        fn = namespace[entry_point]
    except BaseException as exc:
        emit({"load": False, "error": _describe(exc)})
        return
    emit({"load": True})
    limits: list[float] = job["limits"]
    if job["kind"] == "visible":
        scope = dict(namespace)
        scope.setdefault("math", math)  # the prompts' asserts use math.isclose
        for index, line in enumerate(job["items"]):
            try:
                with _CpuLimit(limits[index]):
                    exec(line, scope)
            except BaseException as exc:
                emit({"i": index, "ok": False, "error": f"{line}: {_describe(exc)}"})
                return
            emit({"i": index, "ok": True})
        return
    atol: float = job["atol"]
    dataset: str = job.get("dataset", MBPP)  # a parent loaded before formats sends none
    expected: list[Any] = job["expected"]
    if atol != 0 or any(_is_floats(exp) for exp in expected):
        _numpy()  # imported here, not on an input's clock
    for index, inp in enumerate(job["items"]):
        args = deepcopy(inp)
        error = ""
        try:
            with _CpuLimit(limits[index]):
                out = fn(*args)
                try:
                    atol = check_output(entry_point, out, expected[index], args, atol, dataset)
                except OutputMismatch:
                    error = f"wrong output {_short_repr(out)}"
        except BaseException as exc:
            error = _describe(exc)
        emit({"i": index, "ok": not error, "error": error})
        if error:
            return


# --------------------------------------------------------------------------------------------
# Running workers (parent side)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Run:
    stdout: bytes
    stderr: str
    returncode: int | None
    timed_out: bool
    wall: float

    def death(self) -> str:
        """Why the worker stopped early, in a few words."""
        if self.timed_out:
            return f"wall timeout {self.wall:.0f}s"
        code = self.returncode
        if code is not None and code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            reason = {"SIGXCPU": "cpu limit", "SIGKILL": "killed", "SIGXFSZ": "file size limit"}
            return f"{reason.get(name, 'crashed')} ({name})"
        tail = self.stderr.strip().splitlines()[-1:] if self.stderr.strip() else []
        return _clip(f"worker exited with code {code}" + (f": {tail[0]}" if tail else ""))


def _worker_env(home: str) -> dict[str, str]:
    """A minimal environment: no secrets, no PYTHON* settings but the shared hash seed."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": HASH_SEED,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONIOENCODING": "utf-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _run_worker(job: dict[str, Any], wall: float) -> _Run:
    payload = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    work = tempfile.mkdtemp(prefix="mbpp-score-")
    command = [sys.executable, "-s", "-P", "-B", str(Path(__file__).resolve()), "--worker"]
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=work,
            env=_worker_env(work),
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = proc.communicate(payload, timeout=wall)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # an escaped grandchild holds the pipes
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
                proc.wait()
                out, err = b"", b""
        finally:
            _kill_group(proc.pid)  # whatever the candidate left running in its group
        return _Run(out, err.decode("utf-8", "replace"), proc.returncode, timed_out, wall)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Expected outputs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Expected:
    """The canonical solution's outputs and CPU times on a problem's inputs."""

    base: list[Any] = dataclasses.field(repr=False)
    base_time: list[float] = dataclasses.field(repr=False)
    plus: list[Any] = dataclasses.field(repr=False)  # on plus_input (base_input if it is empty)
    plus_time: list[float] = dataclasses.field(repr=False)
    visible_time: float
    visible_error: str  # the canonical failing its own example (no MBPP+ one does)
    peak_memory: int = 0  # the canonical subprocess's peak RSS, in bytes


_MEMORY: dict[str, Expected] = {}
_MEMORY_LOCK = threading.Lock()


def _plus_inputs(problem: Problem) -> list[Any]:
    return problem.plus_input or problem.base_input  # as EvalPlus, for Mbpp/793


def expected_outputs(problem: Problem, cache_dir: str | Path | None = None) -> Expected:
    """Run the canonical solution (in a subprocess) on every input, or reuse a cached run.

    Args:
        problem: the problem.
        cache_dir: a directory to keep the results in across processes (pickles named by
            task and ``problem.cache_key``); None to cache in memory only.

    Returns:
        The expected outputs and the canonical CPU time of every input.

    Raises:
        RuntimeError: the canonical solution failed (a data problem, never a candidate's).
    """
    key = problem.cache_key
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{problem.task_id.replace('/', '_')}-{key[:20]}.pkl"
    with _MEMORY_LOCK:
        expected = _MEMORY.get(key)
    if expected is None and path is not None:
        expected = _read_cached(path)
    if expected is None:
        expected = _compute_expected(problem)
    with _MEMORY_LOCK:
        _MEMORY[key] = expected
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with partial.open("wb") as handle:
            pickle.dump(dict(vars(expected)), handle, protocol=4)
        os.replace(partial, path)
    return expected


def _read_cached(path: Path) -> Expected | None:
    try:
        with path.open("rb") as handle:  # plain data, written by expected_outputs only
            return Expected(**pickle.load(handle))
    except Exception:  # missing, partial or from another version: compute it again
        return None


def _compute_expected(problem: Problem) -> Expected:
    job = {
        "mode": "canonical",
        "memory": CANONICAL_MEMORY_LIMIT,
        "cpu_total": CANONICAL_WALL,
        "code": problem.canonical_code,
        "entry_point": problem.entry_point,
        "asserts": problem.example.splitlines(),
        "base": problem.base_input,
        "plus": _plus_inputs(problem),
        "not_none": problem.dataset == MBPP and problem.entry_point in MBPP_OUTPUT_NOT_NONE_TASKS,
        "limit": CANONICAL_TIME_LIMIT,
    }
    run = _run_worker(job, CANONICAL_WALL)
    if run.returncode != 0 or not run.stdout:
        raise RuntimeError(f"{problem.task_id}: canonical solution: {run.death()}")
    result = pickle.loads(run.stdout)  # the trusted canonical solution's own pickle
    if result["error"]:
        raise RuntimeError(f"{problem.task_id}: canonical solution: {result['error']}")
    return Expected(
        base=result["base"],
        base_time=result["base_time"],
        plus=result["plus"],
        plus_time=result["plus_time"],
        visible_time=result["visible_time"],
        visible_error=result["visible_error"],
        peak_memory=result["peak_memory"],
    )


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Score:
    """A candidate's verdicts: the prompt's assert, the base inputs, base and plus inputs."""

    visible: bool
    base: bool
    plus: bool
    error: str = ""  # the first failure, such as "base: input 1: wrong output 2"
    seconds: float = 0.0  # wall time of the whole scoring, canonical run included


@dataclasses.dataclass(frozen=True)
class _Stage:
    ok: bool
    loaded: bool
    error: str


def _stage_wall(limits: Sequence[float]) -> float:
    return max(MIN_STAGE_WALL, min(MAX_STAGE_SUM, sum(limits)) + 2.0)


def _run_stage(
    problem: Problem,
    code: str,
    kind: str,
    items: list[Any],
    expected: list[Any],
    limits: list[float],
    memory: int,
) -> _Stage:
    job = {
        "mode": "stage",
        "kind": kind,
        "memory": memory,
        "cpu_total": LOAD_TIME_LIMIT + sum(limits) + 5.0,
        "code": code,
        "entry_point": problem.entry_point,
        "items": items,
        "expected": expected,
        "limits": limits,
        "atol": problem.atol,
        "dataset": problem.dataset,
        "load_limit": LOAD_TIME_LIMIT,
    }
    run = _run_worker(job, _stage_wall(limits))
    records: list[dict[str, Any]] = []
    for line in run.stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    load = next((r for r in records if "load" in r), None)
    if load is None:
        return _Stage(False, False, f"load: {run.death()}")
    if load["load"] is not True:
        return _Stage(False, False, f"load: {load.get('error', '')}")
    results = [r for r in records if "i" in r]
    failed = next((r for r in results if r.get("ok") is not True), None)
    if failed is not None:
        return _Stage(False, True, f"input {failed['i']}: {failed.get('error', '')}")
    internal = next((r for r in records if "internal" in r), None)
    if internal is not None:
        return _Stage(False, True, f"scorer worker failed: {internal['internal']}")
    done = any(r.get("done") is True for r in records)
    if not done or len(results) != len(items):
        return _Stage(False, True, f"input {len(results)}: {run.death()}")
    return _Stage(True, True, "")


def score(
    problem: Problem,
    code: str,
    *,
    cache_dir: str | Path | None = None,
    min_time_limit: float = MIN_TIME_LIMIT,
    time_factor: float = TIME_LIMIT_FACTOR,
) -> Score:
    """Score candidate code on a problem: its visible assert, base inputs, then plus inputs.

    Each stage runs in its own subprocess (all of the stage's inputs in one), with a CPU limit
    per input of ``max(min_time_limit, time_factor * canonical CPU time)``. ``base`` stops at
    the first failing input; the plus inputs run only if ``base`` passed, so ``plus`` means
    "base and plus inputs all pass". A candidate that hangs, crashes, exits or fails to load
    fails; it never raises here.

    Args:
        problem: the problem.
        code: the candidate module's source; it must define ``problem.entry_point``.
        cache_dir: where to keep the canonical solution's outputs across processes (None:
            in memory only).
        min_time_limit: the least CPU seconds an input gets.
        time_factor: how many times the canonical solution's CPU time an input gets.

    Returns:
        The verdicts, the first failure and the wall time spent.
    """
    start = time.monotonic()
    expected = expected_outputs(problem, cache_dir)

    def limit(seconds: float) -> float:
        return max(min_time_limit, time_factor * seconds)

    def done(visible: bool, base: bool, plus: bool, error: str) -> Score:
        return Score(visible, base, plus, error, round(time.monotonic() - start, 3))

    memory = max(MEMORY_LIMIT, MEMORY_FACTOR * expected.peak_memory)
    asserts = problem.example.splitlines()
    visible_limits = [limit(expected.visible_time)] * len(asserts)
    visible = _run_stage(problem, code, "visible", asserts, [], visible_limits, memory)
    if not visible.loaded:
        return done(False, False, False, visible.error)
    base = _run_stage(
        problem,
        code,
        "inputs",
        problem.base_input,
        expected.base,
        [limit(t) for t in expected.base_time],
        memory,
    )
    errors = []
    if not visible.ok:
        errors.append(f"visible: {visible.error}")
    if not base.ok:
        errors.append(f"base: {base.error}")
        return done(visible.ok, False, False, errors[0])
    plus = _run_stage(
        problem,
        code,
        "inputs",
        _plus_inputs(problem),
        expected.plus,
        [limit(t) for t in expected.plus_time],
        memory,
    )
    if not plus.ok:
        errors.append(f"plus: {plus.error}")
    return done(visible.ok, True, plus.ok, errors[0] if errors else "")


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _score_all(jobs: list[tuple[Problem, str]], workers: int, cache_dir: str | None) -> list[Score]:
    def one(job: tuple[Problem, str]) -> Score:
        return score(job[0], job[1], cache_dir=cache_dir)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, jobs))


def _rescore(model_key: str, task_ids: Sequence[str], workers: int, cache_dir: str | None) -> int:
    recorded = load_recorded(model_key)
    missing = [task_id for task_id in task_ids if task_id not in recorded]
    if missing:
        print(f"not in the {model_key} recording: {', '.join(missing)}", file=sys.stderr)
        return 2
    problems = load_problems(task_ids)
    start = time.monotonic()
    scores = _score_all([(problems[t], recorded[t].code) for t in task_ids], workers, cache_dir)
    elapsed = time.monotonic() - start
    print(f"rescore {model_key}: {len(task_ids)} tasks in {elapsed:.1f} s")
    print(f"{'':8}{'now':>6}{'recorded':>10}{'disagree':>10}")
    disagreements: dict[str, list[str]] = {}
    for stage in ("visible", "base", "plus"):
        now = sum(getattr(s, stage) for s in scores)
        was = sum(getattr(recorded[t], stage) for t in task_ids)
        differ = [
            t
            for t, s in zip(task_ids, scores, strict=True)
            if getattr(s, stage) != getattr(recorded[t], stage)
        ]
        disagreements[stage] = differ
        print(f"{stage:8}{now:>6}{was:>10}{len(differ):>10}")
    by_id = dict(zip(task_ids, scores, strict=True))
    for stage, differ in disagreements.items():
        for task_id in differ:
            s, r = by_id[task_id], recorded[task_id]
            print(
                f"  {stage} differs on {task_id}: recorded {getattr(r, stage)}, "
                f"now {getattr(s, stage)} ({s.error or 'no error'})"
            )
    return 1 if disagreements["plus"] else 0


def _canonical(
    task_ids: Sequence[str], workers: int, cache_dir: str | None, path: str | None = None
) -> int:
    problems = load_problems(task_ids, path=path)
    start = time.monotonic()
    scores = _score_all(
        [(problems[t], problems[t].canonical_code) for t in task_ids], workers, cache_dir
    )
    elapsed = time.monotonic() - start
    failed = [(t, s) for t, s in zip(task_ids, scores, strict=True) if not (s.visible and s.plus)]
    print(
        f"canonical: {len(task_ids) - len(failed)}/{len(task_ids)} pass visible, base and plus"
        f" in {elapsed:.1f} s"
    )
    for task_id, s in failed:
        print(f"  {task_id}: visible {s.visible}, base {s.base}, plus {s.plus}: {s.error}")
    return 1 if failed else 0


def _task_ids(spec: str, path: str | None = None) -> list[str]:
    if spec == "bench":
        return list(BENCH_TASKS)
    if spec == "all":
        return list(load_problems(path=path))
    return [part if "/" in part else f"Mbpp/{part}" for part in spec.split(",") if part]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``--rescore 0.5b [1.5b]`` and ``--canonical``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--rescore",
        nargs="+",
        choices=sorted(RECORDING_FILES),
        metavar="MODEL",
        help="re-score the recorded code of a model (0.5b, 1.5b) and compare the verdicts",
    )
    parser.add_argument(
        "--canonical", action="store_true", help="score the canonical solutions themselves"
    )
    parser.add_argument(
        "--tasks",
        help="'bench' (the recorded 89, the default for --rescore), 'all' (the default for "
        "--canonical) or comma-separated ids such as Mbpp/2,11",
    )
    parser.add_argument(
        "--problems",
        help="an EvalPlus problem file (MBPP+ or HumanEval+ JSON lines, gzipped or not) for "
        "--canonical; default: bench/data/MbppPlus.jsonl.gz",
    )
    parser.add_argument("--jobs", type=int, default=1, help="tasks scored at once (default 1)")
    parser.add_argument("--cache-dir", help="keep the canonical outputs here across runs")
    args = parser.parse_args(argv)
    if not args.rescore and not args.canonical:
        parser.error("give --rescore MODEL and/or --canonical")
    if args.problems and args.rescore:
        parser.error("--problems goes with --canonical: the recordings are of MBPP+ problems")
    status = 0
    for model_key in args.rescore or []:
        ids = _task_ids(args.tasks or "bench")
        status = max(status, _rescore(model_key, ids, args.jobs, args.cache_dir))
    if args.canonical:
        ids = _task_ids(args.tasks or "all", args.problems)
        status = max(status, _canonical(ids, args.jobs, args.cache_dir, args.problems))
    return status


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _worker_main()
    sys.exit(main())
