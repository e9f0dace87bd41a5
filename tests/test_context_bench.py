"""bench/context.py and bench/context_effect.py on small real inputs: the timings come out as
medians of real builds, an edit is undone, and the effect scorer reads code as it should."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.bench import load_bench

bench = load_bench("context", "bench_context")
effect = load_bench("context_effect", "bench_context_effect")

MakeRepo = Callable[..., Path]


def test_the_timings_are_measured_on_a_real_tree_and_the_edit_is_undone(
    make_git_repo: MakeRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = "def normalize_title(title: str) -> str:\n    return title.strip()\n"
    repo = make_git_repo({"pkg/__init__.py": "", "pkg/titles.py": source})
    monkeypatch.setitem(bench.REQUESTS, "small", "Add a function that cleans up a title")
    args = argparse.Namespace(cold_runs=1, warm_runs=2, change_runs=2)

    figures = bench.measure("small", repo, args, tmp_path / "scratch")

    assert set(figures) == {
        "cold",
        "disk, same request",
        "disk, new request",
        "warm",
        "one file changed",
    }
    assert all(value > 0 for value in figures.values())
    assert (repo / "pkg/titles.py").read_text() == source
    out = capsys.readouterr().out
    assert "files read again per change: 1.0" in out


def test_the_effect_scorer_tells_reuse_and_imports_apart() -> None:
    reusing = "from slugify import slugify\n\ndef make(title):\n    return slugify(title)\n"
    rewriting = "def slugify(title):\n    return title.lower()\n"
    wrong_import = "from slugify import no_such_name\n"

    assert effect.calls_helper(reusing, "slugify")
    assert not effect.calls_helper(rewriting, "slugify")
    assert effect.imports_resolve(reusing)
    assert not effect.imports_resolve(wrong_import)
    assert not effect.imports_resolve("import no_such_module_anywhere\n")
