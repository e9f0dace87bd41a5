"""A replay provider, for benchmarks only: models answer as they did in recorded evaluations.

``bench/routing.py`` runs the real codegen flow with the vendors' providers replaced by this
one, so that routing strategies can be compared on many tasks and seeds without spending money
or waiting for models, yet with the real estimate, budget gate, validation, pricing and ledger.

Data (``bench/data``, see its README):

* ``evalperf_mbppplus_outcomes.json.gz``: for 32 models and 89 MBPP+ tasks, pass@1 over 100
  samples at temperature 1.0 and up to 5 correct solutions (EvalPerf, Apache-2.0).
* ``qwen05b_mbppplus.json.gz`` and ``qwen15b_mbppplus.json.gz`` (any file in that format, via
  ``answers``): the embedded models' real answers, scored on the hidden tests. Those whose
  ``plus`` verdict is false are the *real wrong answers* of their task.

How a model answers (:meth:`Outcomes.draw`). For a model with pass@1 ``p`` on a task, a draw is
correct with probability ``p``: it returns one of the model's recorded correct solutions; else a
wrong answer of the task. The draw is a pure function of (run seed, model, task, the call's
``seed`` argument, the number of earlier calls for that model and task in this installation):
runs repeat exactly, and a retry on the same model is a fresh, independent draw (as samples at
temperature 1.0 are; the call's own temperature is ignored). The reply is the code in one fenced
```` ```python ```` block; usage is the real prompt the flow built and the reply, counted with
frugalflow's own counter (``count_message_tokens``, ``count_input_tokens``) as the flow's meter
would count them for that address; a reply longer than ``max_tokens`` is cut there
(``finish_reason`` ``length``). It never sleeps: ``seconds`` is the time the call really took.

Two gaps in the data, and what fills them:

* **Tasks without a real wrong answer** (both embedded models passed them: 44 of the 89). A
  wrong answer there is a *mutant*: a recorded correct solution of that task (any model's,
  models in name order) with one small slip of the kind models make, edited into its source
  text (comments and style kept). The slips, most preferred first: an ``if ...: return ...``
  guard at the top of the function dropped (a forgotten edge case; not an ``isinstance``
  check); a boundary moved (``<`` for ``<=``, ``>=`` for ``>``...); an off-by-one (``x + 1``
  or ``x - 1`` written ``x``, index ``1`` for ``0``); ``and`` for ``or`` and the reverse, a
  comprehension's filter forgotten; ``min``/``max`` or ``all``/``any`` swapped, ``reverse=``
  flipped; the last of chained ``.replace(...)`` calls forgotten, a character left out of a
  regex class, ``.replace(' ', '')`` written ``''.join(x.split())`` (every whitespace, not
  only spaces: the strong models' real mistake on Mbpp/451 and 800), ``split()`` written
  ``split(' ')``; ``list(...)`` for ``tuple(...)`` and the reverse. A mutant is used only once
  it is *verified to fail the hidden tests* (``fails_hidden``; by default ``bench/mbpp.py``'s
  scorer, base and plus inputs; verdicts kept in ``cache_dir``), at most one per source
  solution and ``MUTANTS_PER_TASK`` per task, scoring at most ``MUTANT_TRIES`` candidates
  (``MUTANT_TRIES_PER_SLIP`` of one kind). Stubs and perturbed return values are never used:
  nothing a model would send. On the 89 tasks, 38 of the 44 get mutants (a first load scores
  for about a minute; with a ``cache_dir`` a later one takes 2 s); 6 have no slip that fails
  (Mbpp/88, 140, 230, 405, 477, 808: one-liners such as ``return k in t``). There a wrong draw
  raises :class:`ReplayError` rather than inventing an answer; the four models of
  :data:`DEFAULT_MAPPING` have p = 1 on all six, so it never happens for them
  (:meth:`Outcomes.unanswerable` lists the pairs where it could: 60 of the 32 x 89). The
  mutants pass the visible example more often than the recorded wrong answers do (29 of 74
  against 16 of 70), so validation lets more of them through.
* **p > 0 but no stored solution** (EvalPerf keeps solutions only for some model x task pairs:
  143 of the 32 x 89 pairs; 1 for claude-3-5-sonnet, 3 for gpt-4o, 2 for gpt-4o-mini, 2 for
  Qwen2.5-7B-Instruct). A correct draw then returns another model's recorded correct solution of
  the same task (every task has some), so the model keeps its measured pass@1; only when no
  model has one is ``p`` taken as 0 (:attr:`Outcomes.borrowed`, :attr:`Outcomes.zeroed`).

"Correct" is EvalPerf's verdict (the base and plus tests, under its time limits). A few correct
solutions are too slow for ``bench/mbpp.py``'s CPU limits on the largest plus inputs and score as
failing there, as the same slow answer from the real model would: of the first stored solution
of each (model, task) of :data:`DEFAULT_MAPPING` (337 pairs), 3 do (claude-3-5-sonnet on
Mbpp/239 and 781, Qwen2.5-7B-Instruct on Mbpp/781), and on Mbpp/781 (counting the divisors of
987654321 one by one) 9 of the 19 stored solutions of those four models do. They are kept:
validation, which runs the visible example only, lets them through, a false accept that the
benchmark's hidden scoring counts, as it would with the real model.

Which task a prompt is about (:meth:`Outcomes.match_task`): the task whose description (the
problem text, whitespace-insensitive) appears in the messages; among several, those whose
visible example appears too, then those whose entry point appears as a word, then the longest
description (MBPP+ has two descriptions shared by two tasks each). No match, or a tie, raises
:class:`UnknownTaskError`: the flow's docstring requests, which show only the code, are not
replayed (the document step then leaves the code undocumented, and the ledger books a failed
call at $0 for the local model).

It cannot be selected by a user: it lives in ``bench/`` (no frugalflow module imports it), user
configuration cannot register providers, and :func:`install` only replaces built-in vendors
for the duration of a ``with`` block, so no ``replay:`` address ever exists. While installed,
the replaced vendors send nothing anywhere: a model the mapping does not name is refused.

    import replay  # with bench/ on sys.path, as bench/free_tier.py does for mbpp
    outcomes = replay.Outcomes.load()
    with replay.install(outcomes, replay.DEFAULT_MAPPING, seed=1) as run:
        ...  # run the codegen flow; run.draws lists every answer given
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mbpp  # bench/ is not a package: its directory is on the path above

from frugalflow.core.errors import ConfigurationError, PermanentProviderError
from frugalflow.core.models import PROVIDER_TIERS, parse_address
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.money.estimation import count_input_tokens, count_message_tokens, encoding_for
from frugalflow.money.pricing import PriceCatalog
from frugalflow.money.tokens import get_encoding
from frugalflow.providers import (
    Availability,
    ChatMessage,
    Completion,
    Provider,
    register_provider,
    unregister_provider,
)
from frugalflow.providers.pool import reset_pools

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_OUTCOMES = DATA_DIR / "evalperf_mbppplus_outcomes.json.gz"
DEFAULT_ANSWERS: tuple[Path, ...] = tuple(mbpp.RECORDING_FILES.values())
DEFAULT_MAPPING: dict[str, str] = {
    # The evaluated checkpoints themselves, which the price catalog knows.
    "anthropic:claude-3-5-sonnet-20240620": "claude-3-5-sonnet-20240620",
    "openai:gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "openai:gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    # A user's Ollama model: the local tier, $0.
    "ollama:qwen2.5:7b-instruct": "Qwen--Qwen2.5-7B-Instruct",
}
MUTANTS_PER_TASK = 2
MUTANT_TRIES = 24  # candidates scored per task, at most ...
MUTANT_TRIES_PER_SLIP = 4  # ... and of one kind of slip, so that every kind gets its turn


class ReplayError(PermanentProviderError):
    """A call the replay cannot answer (a model it does not replay, a task without a wrong
    answer). Permanent: it rests no circuit breaker, and the flow moves on."""


class UnknownTaskError(ReplayError):
    """No task of the outcome data matches the prompt (or several match equally)."""


class ProblemLike(Protocol):
    """What the replay needs of a problem (``bench/mbpp.py``'s :class:`mbpp.Problem` has it)."""

    @property
    def task_id(self) -> str: ...

    @property
    def entry_point(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def example(self) -> str: ...


FailsHidden = Callable[[Any, str], bool]
"""``fails_hidden(problem, code)``: True when ``code`` fails the problem's hidden tests."""


@dataclasses.dataclass(frozen=True)
class TaskOutcome:
    """One model on one task.

    Attributes:
        pass_at_1: the recorded pass@1 (EvalPerf: 100 samples at temperature 1.0).
        p: the probability a draw is correct: ``pass_at_1``, or 0 when no correct solution of
            the task exists anywhere in the data.
        solutions: what a correct draw returns: the model's own recorded solutions, or, when it
            has none, every other model's for the task (``borrowed``).
        borrowed: the solutions are other models'.
    """

    pass_at_1: float
    p: float
    solutions: tuple[str, ...]
    borrowed: bool = False


@dataclasses.dataclass(frozen=True)
class WrongAnswer:
    """A wrong answer to a task, verified to fail its hidden tests.

    Attributes:
        code: the answer's code.
        source: where it comes from: ``recorded <file name>``, or ``mutant of <model>
            solution <n>: <the slip>``.
    """

    code: str
    source: str

    @property
    def real(self) -> bool:
        """A real model's recorded answer, not a mutant."""
        return self.source.startswith("recorded ")


@dataclasses.dataclass(frozen=True)
class Answer:
    """One draw: what a model answers on a task.

    Attributes:
        model: the outcome data's model name.
        task_id: the task.
        correct: whether it is one of the recorded correct solutions (EvalPerf's verdict; see
            the module docstring for the few that are too slow for ``bench/mbpp.py``).
        code: the answer's code.
        source: ``solution <n> of <model>`` or the wrong answer's source.
    """

    model: str
    task_id: str
    correct: bool
    code: str
    source: str


@dataclasses.dataclass(frozen=True)
class Draw:
    """One call the replay answered, as :attr:`Replay.draws` lists them.

    Attributes:
        address: the ``provider:model`` that was called.
        answer: what it answered.
        seed: the call's ``seed`` argument.
        index: how many calls for the same model and task came before it.
        input_tokens: the prompt's tokens as reported.
        output_tokens: the reply's tokens as reported.
    """

    address: str
    answer: Answer
    seed: int | None
    index: int
    input_tokens: int
    output_tokens: int


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _uniform(*key: Any) -> tuple[float, int]:
    """Two independent pseudo-random numbers, a pure function of ``key``: a float in [0, 1)
    and a large non-negative integer (for picking among answers)."""
    digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64, int.from_bytes(digest[8:16], "big")


def _model_order(models: Mapping[str, Any]) -> list[str]:
    return sorted(models)


# --------------------------------------------------------------------------------------------
# Mutants: one small slip in a correct solution
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Edit:
    rank: int  # the slip's preference order (lower first)
    start: int  # character offsets in the source
    end: int
    text: str
    what: str


class _Offsets:
    """Character offsets of ``ast`` positions (whose columns count UTF-8 bytes)."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def at(self, lineno: int, col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        start = self.at(node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = self.at(node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        return start, end


_BOUNDARY = {ast.Lt: ("<", "<="), ast.LtE: ("<=", "<"), ast.Gt: (">", ">="), ast.GtE: (">=", ">")}
_BOOL = {ast.And: ("and", "or"), ast.Or: ("or", "and")}
_SWAP_NAMES = {"min": "max", "max": "min", "all": "any", "any": "all"}
_SWAP_TYPES = {"tuple": "list", "list": "tuple"}
_CHAR_CLASS = re.compile(r"\[([^\]\\^-]{2,})\]")


def _dropped_guards(source: str, tree: ast.AST, offsets: _Offsets) -> Iterator[_Edit]:
    """An ``if ...: return ...`` (no else) at the top level of a function body, removed."""
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in function.body:
            if not (
                isinstance(node, ast.If)
                and not node.orelse
                and all(isinstance(statement, ast.Return) for statement in node.body)
            ):
                continue
            start, _ = offsets.span(node)
            line_start = offsets.starts[node.lineno - 1]
            if source[line_start:start].strip() or node.end_lineno is None:
                continue
            guard = ast.get_source_segment(source, node.test) or "..."
            if "isinstance(" in guard:
                continue  # input validation: the tests give valid inputs
            line_end = offsets.starts[node.end_lineno]
            yield _Edit(0, line_start, line_end, "", f"drops the guard `if {guard}`")


def _node_edits(source: str, node: ast.AST, offsets: _Offsets) -> Iterator[_Edit]:
    """The slips one node allows (see the module docstring)."""
    if isinstance(node, ast.Compare) and type(node.ops[0]) in _BOUNDARY:
        old, new = _BOUNDARY[type(node.ops[0])]
        _, left_end = offsets.span(node.left)
        right_start, _ = offsets.span(node.comparators[0])
        segment = source[left_end:right_start]
        if segment.strip() == old:
            start = left_end + segment.index(old)
            yield _Edit(1, start, start + len(old), new, f"`{new}` for `{old}`")
    elif (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Add | ast.Sub)
        and isinstance(node.right, ast.Constant)
        and type(node.right.value) is int
        and node.right.value == 1
    ):
        start, end = offsets.span(node)
        left = ast.get_source_segment(source, node.left)
        if left is not None:
            yield _Edit(2, start, end, left, f"`{left}` for `{source[start:end]}`")
    elif (
        isinstance(node, ast.Subscript)
        and isinstance(node.slice, ast.Constant)
        and type(node.slice.value) is int
        and node.slice.value >= 0
    ):
        start, end = offsets.span(node.slice)
        old_index, new_index = node.slice.value, node.slice.value + 1
        yield _Edit(2, start, end, str(new_index), f"index {new_index} for {old_index}")
    elif isinstance(node, ast.BoolOp) and len(node.values) == 2:
        old, new = _BOOL[type(node.op)]
        _, left_end = offsets.span(node.values[0])
        right_start, _ = offsets.span(node.values[1])
        match = re.search(rf"\b{old}\b", source[left_end:right_start])
        if match:
            start = left_end + match.start()
            yield _Edit(3, start, start + len(old), new, f"`{new}` for `{old}`")
    elif isinstance(node, ast.Name) and node.id in _SWAP_NAMES:
        start, end = offsets.span(node)
        new = _SWAP_NAMES[node.id]
        yield _Edit(4, start, end, new, f"`{new}` for `{node.id}`")
    elif isinstance(node, ast.comprehension) and len(node.ifs) == 1:
        _, iter_end = offsets.span(node.iter)
        _, if_end = offsets.span(node.ifs[0])
        condition = ast.get_source_segment(source, node.ifs[0]) or "..."
        yield _Edit(3, iter_end, if_end, "", f"forgets the filter `if {condition}`")
    elif isinstance(node, ast.keyword) and node.arg == "reverse":
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, bool):
            start, end = offsets.span(value)
            new = str(not value.value)
            yield _Edit(4, start, end, new, f"`reverse={new}` for `reverse={value.value}`")
    elif isinstance(node, ast.Call):
        yield from _call_edits(source, node, offsets)


def _call_edits(source: str, node: ast.Call, offsets: _Offsets) -> Iterator[_Edit]:
    start, end = offsets.span(node)
    func = node.func
    if isinstance(func, ast.Attribute):
        receiver = func.value
        receiver_text = ast.get_source_segment(source, receiver)
        if receiver_text is None:
            return
        if (
            isinstance(receiver, ast.Call)
            and isinstance(receiver.func, ast.Attribute)
            and receiver.func.attr == func.attr
        ):  # x.replace(a, b).replace(c, d): one case forgotten
            yield _Edit(5, start, end, receiver_text, f"forgets the last `.{func.attr}(...)`")
        args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
        if func.attr == "replace" and args == [" ", ""]:  # any whitespace, not just spaces
            joined = f"''.join({receiver_text}.split())"
            yield _Edit(5, start, end, joined, "removes every whitespace, not only spaces")
        if func.attr == "split" and not node.args and not node.keywords:
            yield _Edit(5, start, end, f"{receiver_text}.split(' ')", "splits on single spaces")
        if isinstance(receiver, ast.Name) and receiver.id == "re" and node.args:
            pattern = node.args[0]
            text = ast.get_source_segment(source, pattern)
            if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str) and text:
                match = _CHAR_CLASS.search(text)
                if match:
                    shorter = text[: match.end(1) - 1] + text[match.end(1) :]
                    p_start, p_end = offsets.span(pattern)
                    what = f"leaves `{match.group(1)[-1]}` out of `[{match.group(1)}]`"
                    yield _Edit(5, p_start, p_end, shorter, what)
    elif isinstance(func, ast.Name) and func.id in _SWAP_TYPES:
        f_start, f_end = offsets.span(func)
        new = _SWAP_TYPES[func.id]
        yield _Edit(6, f_start, f_end, new, f"returns a {new} where a {func.id} is asked")


def _edits(source: str) -> list[_Edit]:
    """Every single-slip edit of ``source``, most plausible first, then in source order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    offsets = _Offsets(source)
    edits = list(_dropped_guards(source, tree, offsets))
    for node in ast.walk(tree):
        edits.extend(_node_edits(source, node, offsets))
    edits.sort(key=lambda edit: (edit.rank, edit.start))
    return edits


def _shape(code: str) -> str | None:
    try:
        return ast.dump(ast.parse(code))
    except SyntaxError:
        return None


def mutants(source: str) -> Iterator[tuple[str, str]]:
    """The single-slip mutants of a solution, most plausible first.

    Args:
        source: a correct solution's code.

    Yields:
        ``(code, what)``: the mutant (which parses, and differs from ``source`` in its syntax
        tree) and the slip, in words.
    """
    original = _shape(source)
    for edit in _edits(source):
        code = source[: edit.start] + edit.text + source[edit.end :]
        shape = _shape(code)
        if shape is not None and shape != original:
            yield code, edit.what


# --------------------------------------------------------------------------------------------
# The outcome data
# --------------------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """A JSON file's value, gzip-compressed or not (by its ``.gz`` suffix)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


class _VerdictCache:
    """``fails_hidden`` verdicts, kept in ``cache_dir`` across runs (or in memory only)."""

    def __init__(self, cache_dir: str | Path | None) -> None:
        self.path = Path(cache_dir) / "replay_wrong_verdicts.json" if cache_dir else None
        self.verdicts: dict[str, bool] = {}
        if self.path is not None and self.path.is_file():
            with contextlib.suppress(ValueError, OSError):
                self.verdicts = dict(json.loads(self.path.read_text()))
        self.changed = False

    @staticmethod
    def key(problem: Any, code: str) -> str:
        identity = getattr(problem, "cache_key", None) or repr(
            (problem.task_id, getattr(problem, "prompt", ""), problem.entry_point)
        )
        return hashlib.sha256(f"{identity}\0{code}".encode()).hexdigest()

    def fails(self, problem: Any, code: str, fails_hidden: FailsHidden) -> bool:
        key = self.key(problem, code)
        if key not in self.verdicts:
            self.verdicts[key] = bool(fails_hidden(problem, code))
            self.changed = True
        return self.verdicts[key]

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".verdicts-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.verdicts, handle, sort_keys=True)
        os.replace(name, self.path)


def _mbpp_fails_hidden(cache_dir: str | Path | None) -> FailsHidden:
    def fails_hidden(problem: Any, code: str) -> bool:
        return not mbpp.score(problem, code, cache_dir=cache_dir).plus

    return fails_hidden


@dataclasses.dataclass(frozen=True)
class Outcomes:
    """Per model and task, how often it is right and what it answers; per task, wrong answers.

    Build it with :meth:`load`. Immutable.

    Attributes:
        source: the outcome file's ``source`` text (its origin and licence).
        problems: the replayed tasks' problems, by task id, in task-id order.
        models: model name -> task id -> :class:`TaskOutcome`.
        wrong: task id -> its wrong answers (recorded ones first, then mutants).
        borrowed: ``(model, task)`` pairs with p > 0 but no solution of their own, answered
            with other models' solutions.
        zeroed: ``(model, task)`` pairs with p > 0 but no solution in the whole data: p = 0.
        no_wrong: tasks without any wrong answer (neither recorded nor a verified mutant).
    """

    source: str
    problems: Mapping[str, ProblemLike]
    models: Mapping[str, Mapping[str, TaskOutcome]]
    wrong: Mapping[str, tuple[WrongAnswer, ...]]
    borrowed: tuple[tuple[str, str], ...]
    zeroed: tuple[tuple[str, str], ...]
    no_wrong: tuple[str, ...]

    @classmethod
    def load(
        cls,
        path: str | Path = DEFAULT_OUTCOMES,
        *,
        answers: Sequence[str | Path] = DEFAULT_ANSWERS,
        problems: Mapping[str, ProblemLike] | None = None,
        fails_hidden: FailsHidden | None = None,
        cache_dir: str | Path | None = None,
    ) -> Outcomes:
        """Read an outcome file and recorded answers, and find a wrong answer for every task.

        Args:
            path: the outcome file (``{"models": {model: {task_id: {"pass_at_1": p,
                "solutions": [code, ...]}}}}``, gzip or not).
            answers: recorded answers in the format of ``bench/data/qwen05b_mbppplus.json.gz``
                (``results`` -> task id -> ``code`` and a ``plus`` verdict); those whose
                ``plus`` is false are the real wrong answers.
            problems: the problems by task id (any objects with ``task_id``, ``entry_point``,
                ``description`` and ``example``); only tasks both here and in the outcome file
                are replayed. None: the MBPP+ problems of ``bench/data`` for the file's tasks.
            fails_hidden: tells whether a mutant fails a problem's hidden tests (see
                :data:`FailsHidden`); None: ``bench/mbpp.py``'s scorer (MBPP+ problems only).
            cache_dir: where the default scorer keeps canonical outputs and this loader its
                verdicts on mutants, across runs (None: nothing is kept; a ``fails_hidden``
                of the caller's own is not cached here).

        Returns:
            The outcomes.

        Raises:
            ValueError: the outcome file has no model, or no task in common with ``problems``.
        """
        data = read_json(Path(path))
        raw_models: dict[str, dict[str, Any]] = data["models"]
        if not raw_models:
            raise ValueError(f"{path} lists no model")
        task_ids = {task_id for tasks in raw_models.values() for task_id in tasks}
        if problems is None:
            known = mbpp.load_problems()
            problems = {t: known[t] for t in task_ids if t in known}
        chosen = sorted((t for t in problems if t in task_ids), key=_task_order)
        if not chosen:
            raise ValueError(f"no task of {path} is among the problems given")
        problems = {t: problems[t] for t in chosen}

        models: dict[str, dict[str, TaskOutcome]] = {}
        borrowed: list[tuple[str, str]] = []
        zeroed: list[tuple[str, str]] = []
        for model in _model_order(raw_models):
            models[model] = {}
            for task_id in chosen:
                row = raw_models[model].get(task_id) or {"pass_at_1": 0.0, "solutions": []}
                p = float(row["pass_at_1"])
                own = tuple(dict.fromkeys(row.get("solutions") or ()))
                if own or p <= 0:
                    models[model][task_id] = TaskOutcome(p, p if own else 0.0, own)
                    continue
                others = tuple(
                    dict.fromkeys(
                        code
                        for other in _model_order(raw_models)
                        if other != model
                        for code in (raw_models[other].get(task_id) or {}).get("solutions") or ()
                    )
                )
                if others:
                    borrowed.append((model, task_id))
                    models[model][task_id] = TaskOutcome(p, p, others, borrowed=True)
                else:
                    zeroed.append((model, task_id))
                    models[model][task_id] = TaskOutcome(p, 0.0, ())

        wrong: dict[str, list[WrongAnswer]] = {task_id: [] for task_id in chosen}
        for answer_path in answers:
            answer_path = Path(answer_path)
            results = read_json(answer_path)["results"]
            for task_id in chosen:
                row = results.get(task_id)
                if row is None or row.get("plus", True) or not (row.get("code") or "").strip():
                    continue
                code = row["code"]
                if all(w.code != code for w in wrong[task_id]):
                    wrong[task_id].append(WrongAnswer(code, f"recorded {answer_path.name}"))

        cache = _VerdictCache(cache_dir if fails_hidden is None else None)
        check = fails_hidden or _mbpp_fails_hidden(cache_dir)
        try:
            for task_id in chosen:
                if not wrong[task_id]:
                    wrong[task_id] = _find_mutants(problems[task_id], raw_models, cache, check)
        finally:
            cache.save()
        return cls(
            source=str(data.get("source", "")),
            problems=problems,
            models=models,
            wrong={task_id: tuple(answers) for task_id, answers in wrong.items()},
            borrowed=tuple(borrowed),
            zeroed=tuple(zeroed),
            no_wrong=tuple(task_id for task_id in chosen if not wrong[task_id]),
        )

    @property
    def tasks(self) -> tuple[str, ...]:
        """The replayed task ids, in task-id order."""
        return tuple(self.problems)

    @property
    def without_real_wrong(self) -> tuple[str, ...]:
        """The tasks that no recorded answer gets wrong (their wrong answers are mutants)."""
        return tuple(t for t in self.tasks if not any(w.real for w in self.wrong[t]))

    def pass_at_1(self, model: str, task_id: str) -> float:
        """The probability that ``model`` answers ``task_id`` correctly in a draw."""
        return self.outcome(model, task_id).p

    def outcome(self, model: str, task_id: str) -> TaskOutcome:
        """``model`` on ``task_id``.

        Raises:
            KeyError: an unknown model or task, with the known ones.
        """
        if model not in self.models:
            raise KeyError(f"no outcomes for model {model!r}; known: {', '.join(self.models)}")
        if task_id not in self.problems:
            raise KeyError(f"task {task_id!r} is not replayed ({len(self.problems)} tasks are)")
        return self.models[model][task_id]

    def draw(
        self, model: str, task_id: str, *, run_seed: int, seed: int | None, index: int
    ) -> Answer:
        """What ``model`` answers on ``task_id``: a pure function of its arguments.

        Args:
            model: the outcome data's model name.
            task_id: the task.
            run_seed: the benchmark run's seed.
            seed: the call's own ``seed`` argument (None on a first attempt).
            index: how many calls for this model and task came before this one.

        Raises:
            KeyError: an unknown model or task.
            ReplayError: the draw is wrong and the task has no wrong answer.
        """
        outcome = self.outcome(model, task_id)
        u, pick = _uniform("replay-v1", run_seed, model, task_id, seed, index)
        if u < outcome.p:
            number = pick % len(outcome.solutions)
            owner = "other models" if outcome.borrowed else model
            return Answer(
                model,
                task_id,
                True,
                outcome.solutions[number],
                f"solution {number + 1} of {owner}",
            )
        wrong = self.wrong[task_id]
        if not wrong:
            raise ReplayError(
                f"{model} answers {task_id} wrongly in this draw, but the task has no wrong "
                "answer (no recorded one, and no mutant failed its hidden tests)",
                provider=model,
            )
        chosen = wrong[pick % len(wrong)]
        return Answer(model, task_id, False, chosen.code, chosen.source)

    def match_task(self, messages: Sequence[ChatMessage]) -> str:
        """The task that a prompt asks for (see the module docstring).

        Raises:
            UnknownTaskError: no task matches, or several match equally.
        """
        text = _normalize("\n".join(message.content for message in messages))
        found = [t for t, p in self.problems.items() if _normalize(p.description) in text]
        if len(found) > 1:
            found = [t for t in found if _normalize(self.problems[t].example) in text] or found
        if len(found) > 1:
            found = [
                t
                for t in found
                if re.search(rf"\b{re.escape(self.problems[t].entry_point)}\b", text)
            ] or found
        if len(found) > 1:
            longest = max(len(_normalize(self.problems[t].description)) for t in found)
            found = [t for t in found if len(_normalize(self.problems[t].description)) == longest]
        if len(found) == 1:
            return found[0]
        last = messages[-1].content if messages else ""
        if found:
            raise UnknownTaskError(
                f"the prompt matches several replayed tasks equally ({', '.join(found)})"
            )
        raise UnknownTaskError(
            "no replayed task's description appears in the prompt (the replay answers only "
            f"the benchmark's code requests; a docstring request is not one): {last[:200]!r}"
        )

    def unanswerable(self, models: Sequence[str]) -> list[tuple[str, str]]:
        """The ``(model, task)`` pairs of ``models`` where a draw can be wrong but the task has
        no wrong answer to give (such a draw raises :class:`ReplayError`); check it is empty
        before a run. For the four models of :data:`DEFAULT_MAPPING` on the 89 tasks it is."""
        return [
            (model, task_id)
            for model in models
            for task_id in self.no_wrong
            if self.pass_at_1(model, task_id) < 1
        ]

    def summary(self) -> dict[str, Any]:
        """The counts to report: tasks, wrong answers by kind, borrowed and zeroed pairs."""
        return {
            "tasks": len(self.tasks),
            "models": len(self.models),
            "tasks_without_real_wrong": len(self.without_real_wrong),
            "tasks_with_mutants": sum(any(not w.real for w in self.wrong[t]) for t in self.tasks),
            "tasks_without_wrong": len(self.no_wrong),
            "borrowed_pairs": len(self.borrowed),
            "zeroed_pairs": len(self.zeroed),
        }


def _task_order(task_id: str) -> tuple[str, int, str]:
    prefix, _, number = task_id.rpartition("/")
    return (prefix, int(number), "") if number.isdigit() else (prefix, -1, number)


def _find_mutants(
    problem: ProblemLike,
    raw_models: Mapping[str, Mapping[str, Any]],
    cache: _VerdictCache,
    fails_hidden: FailsHidden,
) -> list[WrongAnswer]:
    """Verified failing mutants of the task's correct solutions (see the module docstring)."""
    task_id = problem.task_id
    sources: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    for model in _model_order(raw_models):
        for number, code in enumerate(
            (raw_models[model].get(task_id) or {}).get("solutions") or ()
        ):
            if code not in seen:
                seen.add(code)
                sources.append((model, number + 1, code))
    correct_shapes = {_shape(code) for _, _, code in sources}
    candidates: list[tuple[int, int, str, str]] = []  # (rank, source index, code, what)
    for index, (_, _, code) in enumerate(sources):
        for edit in _edits(code):
            mutant = code[: edit.start] + edit.text + code[edit.end :]
            shape = _shape(mutant)
            if shape is not None and shape not in correct_shapes:
                candidates.append((edit.rank, index, mutant, edit.what))
    candidates.sort(key=lambda c: (c[0], c[1]))
    found: list[WrongAnswer] = []
    used: set[int] = set()
    tried: set[str] = set()
    per_rank: dict[int, int] = {}
    for rank, index, mutant, what in candidates:
        if len(found) >= MUTANTS_PER_TASK or len(tried) >= MUTANT_TRIES:
            break
        if index in used or mutant in tried or per_rank.get(rank, 0) >= MUTANT_TRIES_PER_SLIP:
            continue
        tried.add(mutant)
        per_rank[rank] = per_rank.get(rank, 0) + 1
        if cache.fails(problem, mutant, fails_hidden):
            used.add(index)
            model, number, _ = sources[index]
            found.append(WrongAnswer(mutant, f"mutant of {model} solution {number}: {what}"))
    return found


# --------------------------------------------------------------------------------------------
# The provider
# --------------------------------------------------------------------------------------------


class Replay:
    """One installation's shared state: the data, the run seed, the call counts and the log.

    Attributes:
        outcomes: the outcome data.
        seed: the run seed.
        mapping: ``provider:model`` address -> the outcome data's model name.
        draws: every answer given, in call order.
    """

    def __init__(self, outcomes: Outcomes, mapping: Mapping[str, str], seed: int) -> None:
        self.outcomes = outcomes
        self.seed = seed
        self.mapping = dict(mapping)
        self.draws: list[Draw] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def next_index(self, model: str, task_id: str) -> int:
        """The number of earlier calls for ``model`` on ``task_id``, counting this one after."""
        with self._lock:
            index = self._counts.get((model, task_id), 0)
            self._counts[(model, task_id)] = index + 1
            return index

    def record(self, draw: Draw) -> None:
        """Add a draw to the log."""
        with self._lock:
            self.draws.append(draw)


class ReplayProvider:
    """Answers as the replayed models would, for the addresses of one vendor (``name``).

    Satisfies :class:`frugalflow.providers.Provider`. Always available: it needs no key.

    Args:
        name: the vendor it stands in for (``openai``, ``anthropic``, ``ollama``...).
        tier: that vendor's tier.
        replay: the installation's shared state; its ``mapping`` says which of ``name``'s
            models answer as which outcome model.
    """

    def __init__(self, name: str, tier: Tier, replay: Replay) -> None:
        self.name = name
        self.tier = tier
        self.replay = replay
        prefix = f"{name}:"
        self._models = {
            address.removeprefix(prefix): model
            for address, model in replay.mapping.items()
            if address.startswith(prefix)
        }

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Answer as the outcome model mapped to ``name:model`` (see the module docstring).

        Raises:
            ReplayError: ``model`` is not replayed, or the task has no wrong answer to give.
            UnknownTaskError: no replayed task matches the prompt.
        """
        started = time.perf_counter()
        address = f"{self.name}:{model}"
        replayed = self._models.get(model)
        if replayed is None:
            raise ReplayError(
                f"{address} is not replayed in this benchmark (replayed: "
                f"{', '.join(self.replay.mapping)}); nothing was sent",
                provider=address,
            )
        task_id = self.replay.outcomes.match_task(messages)
        index = self.replay.next_index(replayed, task_id)
        answer = self.replay.outcomes.draw(
            replayed, task_id, run_seed=self.replay.seed, seed=seed, index=index
        )
        text = f"```python\n{answer.code.strip()}\n```"
        output_tokens = count_input_tokens(address, text).tokens
        finish_reason = "stop"
        if output_tokens > max_tokens:
            encoding = get_encoding(encoding_for(address)[0])
            text = encoding.decode(encoding.encode(text, disallowed_special=())[:max_tokens])
            output_tokens, finish_reason = max_tokens, "length"
        input_tokens = count_message_tokens(address, [(m.role, m.content) for m in messages])
        self.replay.record(Draw(address, answer, seed, index, input_tokens.tokens, output_tokens))
        if on_text is not None:
            on_text(text)
        return Completion(
            text=text,
            model=model,
            input_tokens=input_tokens.tokens,
            output_tokens=output_tokens,
            finish_reason=finish_reason,
            seconds=time.perf_counter() - started,
        )

    def availability(self) -> Availability:
        """Always usable: the answers are recorded, no key or server is needed."""
        models = ", ".join(sorted(self._models)) or "none"
        return Availability(usable=True, reason=f"replayed for the benchmark ({models})")


_installed: set[str] = set()
_installed_lock = threading.Lock()


@contextlib.contextmanager
def install(outcomes: Outcomes, mapping: Mapping[str, str], seed: int) -> Iterator[Replay]:
    """Replace the named vendors' providers by replay providers for the ``with`` block.

    Each vendor named in ``mapping`` is registered anew (``register_provider(name, factory,
    tier=<its own tier>, replace=True)``) with a factory that always returns the same
    :class:`ReplayProvider`, so the real flow prices and books its calls with the catalog as
    those very addresses. The process's provider pools are reset on entry and exit, so no real
    provider built before (or replay provider after) is reused. On exit the built-in providers
    come back (``unregister_provider``).

    Args:
        outcomes: the outcome data.
        mapping: ``provider:model`` address -> outcome model name; the provider must be a
            built-in vendor, and a paid address must be priced by the catalog.
        seed: the run seed.

    Yields:
        The installation's :class:`Replay` (its ``draws`` list every answer given).

    Raises:
        ConfigurationError: a malformed address, an unknown provider or outcome model, an
            unpriced paid address, or a vendor already replaced by another installation.
    """
    catalog = PriceCatalog()
    vendors: dict[str, Tier] = {}
    for address, model in mapping.items():
        parsed = parse_address(address)
        if model not in outcomes.models:
            raise ConfigurationError(f"{address}: no outcomes for model {model!r}")
        tier = PROVIDER_TIERS[parsed.provider]
        if tier is Tier.API and catalog.price_of(parsed) is None:
            raise ConfigurationError(f"the price catalog does not price {address}")
        vendors[parsed.provider] = tier
    with _installed_lock:
        taken = sorted(set(vendors) & _installed)
        if taken:
            raise ConfigurationError(f"{', '.join(taken)} replaced already by another install")
        _installed.update(vendors)
    replay = Replay(outcomes, mapping, seed)
    providers = {name: ReplayProvider(name, tier, replay) for name, tier in vendors.items()}
    try:
        for name, provider in providers.items():
            register_provider(name, _factory(provider), tier=vendors[name], replace=True)
        reset_pools()
        yield replay
    finally:
        for name in providers:
            unregister_provider(name)
        reset_pools()
        with _installed_lock:
            _installed.difference_update(vendors)


def _factory(provider: ReplayProvider) -> Callable[[Settings, Path | None], Provider]:
    def build(settings: Settings, repo: Path | None) -> Provider:
        return provider

    return build
