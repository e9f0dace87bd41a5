"""How long the semantic bridge takes to build a context, and how much of the budget it uses.

On two real trees, each made a git repository in a temporary directory first (so that changing a
file never touches a real checkout): the installed ``prefect`` package (800+ Python files) and a
clone of this repository. For each tree, medians of:

* cold: a new bridge with empty caches (memory and disk), the first context;
* disk, same request: a new bridge (as in a new process) whose disk cache a previous one
  filled, asked the same again: the stored context;
* disk, new request: the same, asked something else: every file's facts come from the disk
  cache, the analysis and the request's part are computed;
* warm: the same bridge, the same request, nothing changed;
* one file changed: the same bridge after one Python file was edited (a new function appended),
  a new request each time; only that file is read again.

Then the tokens each part of the context takes against budgets of 1,000 tokens, the default
(what the embedded model's 4,096-token window leaves) and 6,000.

Targets (issue 13): cold under 2 s, warm under 50 ms, one file changed under 200 ms. The
tokenizer's encoding is loaded once per process (the estimate step loads it anyway), before the
timings, and its load time printed apart.

    .venv/bin/python bench/context.py [--cold-runs 3] [--warm-runs 20] [--change-runs 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from frugalflow.context import DEFAULT_BUDGET_TOKENS, ContextBridge, ContextRequest

ROOT = Path(__file__).resolve().parents[1]
REQUESTS = {
    "prefect": "Add a function that retries a flow run when its task runs crashed",
    "frugalflow": "Add a function that sums the cost of model calls per provider from the ledger",
}
TARGETS_MS = {"cold": 2000.0, "warm": 50.0, "one file changed": 200.0}
_GIT_ENV = ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *_GIT_ENV, *args], cwd=repo, check=True, capture_output=True)


def prefect_tree(into: Path) -> Path:
    """The installed prefect package's files, committed in a new repository."""
    import prefect

    source = Path(prefect.__file__).parent
    repo = into / "prefect-tree"
    shutil.copytree(source, repo / "prefect", ignore=shutil.ignore_patterns("__pycache__"))
    _git(repo, "init", "--quiet", "--initial-branch", "main")
    _git(repo, "add", "--all")
    _git(repo, "commit", "--quiet", "-m", "prefect as installed")
    return _as_used(repo)


def this_repository(into: Path) -> Path:
    """A clone of this repository's committed state."""
    repo = into / "frugalflow-clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(repo)],
        check=True,
        capture_output=True,
    )
    return _as_used(repo)


def _as_used(repo: Path) -> Path:
    """The tree as a user's is: git has refreshed its index since the files were written.

    Right after a checkout, files written in the same second as the index are "racily clean":
    every `git status` hashes them again (45 ms instead of 2 ms on this repository), until a
    git command that may write the index refreshes it. The bridge never writes the user's
    index, so the benchmark does what the user's own git commands do.
    """
    _git(repo, "update-index", "-q", "--refresh")
    return repo


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def _python_file(repo: Path) -> Path:
    """A mid-sized Python source file of the tree (the one edited by the change runs)."""
    files = sorted(p for p in repo.rglob("*.py") if ".git" not in p.parts and "test" not in p.name)
    return sorted(files, key=lambda p: p.stat().st_size)[len(files) // 2]


@contextmanager
def edited(path: Path) -> Iterator[Callable[[int], None]]:
    """Edit a file (a new function per call) and restore it afterwards."""
    original = path.read_text()

    def edit(n: int) -> None:
        path.write_text(original + f"\n\ndef bench_added_{n}(value):\n    return value + {n}\n")

    try:
        yield edit
    finally:
        path.write_text(original)


def measure(name: str, repo: Path, args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    """Print and return the median milliseconds of each build kind for one tree."""
    request = ContextRequest(repo=repo, description=REQUESTS[name])
    cold = []
    for run in range(args.cold_runs):
        bridge = ContextBridge(cache_dir=scratch / f"cache-{name}-{run}")
        cold.append(_ms(lambda bridge=bridge: bridge.context(request)))
    disk_dir = scratch / f"cache-{name}-0"  # filled by the first cold run
    disk = [
        _ms(lambda: ContextBridge(cache_dir=disk_dir).context(request))
        for _ in range(args.cold_runs)
    ]
    disk_new = []
    for run in range(args.cold_runs):
        other = request.model_copy(update={"description": f"{request.description} ({run})"})
        disk_new.append(_ms(lambda other=other: ContextBridge(cache_dir=disk_dir).context(other)))
    bridge = ContextBridge(cache_dir=scratch / f"cache-{name}-warm")
    bridge.context(request)
    warm = [_ms(lambda: bridge.context(request)) for _ in range(args.warm_runs)]
    changed = []
    files_before = bridge.stats.files_read
    with edited(_python_file(repo)) as edit:
        for run in range(args.change_runs):
            edit(run)
            changed.append(_ms(lambda: bridge.context(request)))
    reread = (bridge.stats.files_read - files_before) / args.change_runs
    files = len(list(repo.rglob("*.py")))
    figures = {
        "cold": statistics.median(cold),
        "disk, same request": statistics.median(disk),
        "disk, new request": statistics.median(disk_new),
        "warm": statistics.median(warm),
        "one file changed": statistics.median(changed),
    }
    print(f"\n{name}: {files} Python files, request {request.description!r}")
    for kind, value in figures.items():
        target = TARGETS_MS.get(kind)
        verdict = "" if target is None else (" (target met)" if value < target else " (MISSED)")
        print(f"  {kind:<19} median {value:9.1f} ms{verdict}")
    print(f"  files read again per change: {reread:.1f}")
    return figures


def budgets(name: str, repo: Path) -> None:
    """Print the tokens each part takes against three budgets."""
    bridge = ContextBridge()
    print(f"  tokens used vs budget ({name}):")
    for budget in (1000, DEFAULT_BUDGET_TOKENS, 6000):
        request = ContextRequest(repo=repo, description=REQUESTS[name], budget_tokens=budget)
        context = bridge.context(request)
        parts = ", ".join(f"{p.name} {p.tokens}" for p in context.parts)
        print(f"    budget {budget:>5}: used {context.token_count:>5} ({parts})")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=20)
    parser.add_argument("--change-runs", type=int, default=7)
    parser.add_argument("--tree", choices=[*REQUESTS, "all"], default="all")
    args = parser.parse_args()
    from frugalflow.money.tokens import count_tokens

    load = _ms(lambda: count_tokens("warm the encoding"))
    print(f"tokenizer encoding load (once per process): {load:.0f} ms")
    with tempfile.TemporaryDirectory(prefix="frugalflow-bench-context-") as tmp:
        scratch = Path(tmp)
        trees = {"prefect": prefect_tree, "frugalflow": this_repository}
        for name, make in trees.items():
            if args.tree not in (name, "all"):
                continue
            repo = make(scratch)
            measure(name, repo, args, scratch)
            budgets(name, repo)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
