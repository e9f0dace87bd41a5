"""The command line, as a user runs it (in-process, against the session's Prefect server)."""

from __future__ import annotations

import calendar
import importlib
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import EXIT_DEFERRED, EXIT_USAGE, app
from frugalflow.core.schemas import Tier
from tests.support.git import git
from tests.support.models import ReplyingModel
from tests.support.money import spend_today

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich reads COLUMNS; a wide terminal keeps table cells whole for the assertions."""
    monkeypatch.setenv("COLUMNS", "200")


def test_example_repo_is_created_once_and_never_overwritten(tmp_path: Path) -> None:
    first = runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    assert first.exit_code == 0, first.output
    assert git(tmp_path / "demo", "log", "--oneline").count("\n") == 0  # one commit
    strings = (tmp_path / "demo/src/textkit/strings.py").read_text()

    again = runner.invoke(app, ["example-repo", str(tmp_path / "demo")])

    assert again.exit_code == EXIT_USAGE
    assert "not empty" in again.output
    assert (tmp_path / "demo/src/textkit/strings.py").read_text() == strings


def test_generate_refuses_a_repo_that_does_not_exist(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "Add a function f", "--repo", str(tmp_path / "nope")])
    assert result.exit_code == EXIT_USAGE
    assert "does not exist" in result.output


def one_error_line(output: str) -> str:
    """The output of a refused command: one line, the error and what to do (a message that
    shows frugalflow.toml lines to add carries them below it)."""
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines[0].startswith("error: ")
    assert len(lines) == 1 or "frugalflow.toml:" in lines[0], output
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({"FRUGALFLOW_DAILY_BUDGET_USD": "lots"}, [], "daily_budget_usd"),
        ({"FRUGALFLOW_MODELS": '["nope:model"]'}, [], "unknown provider 'nope'"),
        ({"FRUGALFLOW_MODELS": '["openai:gpt-4o-mini"]'}, [], "OPENAI_API_KEY is not set"),
        ({"FRUGALFLOW_MODELS": '["openai:no-such-model"]'}, [], "[prices."),
        ({}, ["--target", "../x.py"], "outside the repository"),
        ({}, ["--target", "src/textkit"], "is a directory"),
        ({}, ["--target", "src/textkit/x.txt"], "does not end in .py"),
        ({}, ["--example", "count_words"], "checks nothing"),
        ({}, ["--example", "assert f("], "is not valid Python"),
        ({}, ["--repo-suffix", "/src"], "as the repository"),
        ({}, ["--repo-suffix", "/.git"], "git's own data"),
    ],
)
def test_a_user_error_prints_one_line_with_the_fix_and_exits_2(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: list[str],
    expected: str,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    suffix = ""
    if args[:1] == ["--repo-suffix"]:
        suffix, args = args[1], []

    result = runner.invoke(
        app, ["generate", "Add f() returning 1", "--repo", f"{tmp_path / 'demo'}{suffix}", *args]
    )

    assert result.exit_code == EXIT_USAGE, result.output
    assert expected in one_error_line(result.output)
    assert not ledger_path.exists()  # refused before any model call or ledger row


def test_a_repository_without_commits_and_a_bare_one_are_refused(tmp_path: Path) -> None:
    git(tmp_path, "init", "--quiet", "empty")
    git(tmp_path, "init", "--quiet", "--bare", "bare.git")
    empty = runner.invoke(app, ["generate", "Add f()", "--repo", str(tmp_path / "empty")])
    bare = runner.invoke(app, ["generate", "Add f()", "--repo", str(tmp_path / "bare.git")])
    assert empty.exit_code == bare.exit_code == EXIT_USAGE
    assert "no commits yet" in one_error_line(empty.output)
    assert "bare repository" in one_error_line(bare.output)


def test_generate_refuses_a_blank_description(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "   ", "--repo", str(tmp_path)])
    assert result.exit_code == EXIT_USAGE
    assert "description" in result.output


@pytest.mark.model
@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_generate_commits_and_the_ledger_command_shows_the_call(
    tmp_path: Path, ledger_path: Path
) -> None:
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    result = runner.invoke(
        app,
        [
            "generate",
            "Add a function count_vowels(text) that returns how many vowels text contains",
            "--repo",
            str(tmp_path / "demo"),
            "--example",
            'assert count_vowels("banana") == 3',
        ],
    )
    assert result.exit_code == 0, result.output
    assert "done: committed src/textkit/count_vowels.py" in result.output
    assert "llamacpp:qwen2.5-coder-0.5b-instruct" in result.output
    # The progress: under the generate step, its model call with its tokens and cost.
    progress = result.output.split("time per step")[0]
    assert re.search(
        r"✓ generate [\d.]+ s.*\n +llamacpp:qwen2\.5-coder-0\.5b-instruct  [1-9]\d* in, "
        r"[1-9]\d* out  \$0\.0000  ok\n",
        progress,
    ), progress
    assert "$0.0000" in result.output
    branches = git(tmp_path / "demo", "branch", "--list", "frugalflow/*")
    assert branches.strip().startswith("frugalflow/")

    shown = runner.invoke(app, ["ledger"])
    assert shown.exit_code == 0, shown.output
    assert "count_vowels" not in shown.output  # rows hold usage and cost, never the code
    assert "qwen2.5-coder-0.5b-instruct" in shown.output
    assert "today (UTC): $0.0000 of $20.00" in shown.output


ADD_REPLY = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```'


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("merge", [False, True])
def test_generate_says_how_to_take_the_branch_unless_it_fast_forwarded_yours(
    tmp_path: Path, ledger_path: Path, use_providers: Callable[..., None], merge: bool
) -> None:
    use_providers({"llamacpp": ReplyingModel(ADD_REPLY)})
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])

    result = runner.invoke(
        app,
        [
            "generate",
            "Add a function add(a, b) that adds two numbers",
            "--repo",
            str(tmp_path / "demo"),
            "--example",
            "assert add(2, 3) == 5",
            *(["--merge"] if merge else []),
        ],
    )

    assert result.exit_code == 0, result.output
    assert ("fast-forwarded your branch" in result.output) is merge
    assert ("  take it:  git -C " in result.output) is not merge
    assert "  see it:   git -C " in result.output


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_deferred_request_exits_75(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["anthropic:claude-sonnet-4-5"]')
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-never-sent")  # no call is made
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    spend_today(ledger_path, "1.57")  # $0.43 left: under the emergency threshold until tomorrow

    result = runner.invoke(
        app, ["generate", "Add a function f() returning 1", "--repo", str(tmp_path / "demo")]
    )

    assert result.exit_code == EXIT_DEFERRED, result.output
    assert "deferred:" in result.output
    assert "$0.43 left" in result.output


def test_messages_are_printed_literally_even_with_brackets(tmp_path: Path) -> None:
    missing = tmp_path / "[not-a-rich-tag]"
    result = runner.invoke(app, ["generate", "Add a function f", "--repo", str(missing)])
    assert result.exit_code == EXIT_USAGE
    assert "[not-a-rich-tag]" in result.output


def test_estimate_prices_each_candidate_before_anything_runs(
    tmp_path: Path, ledger_path: Path
) -> None:
    result = runner.invoke(
        app, ["estimate", "Add a function f() returning 1", "-m", "openai:gpt-4o-mini"]
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line[:2]}
    assert "$0.00000" in lines["llamacpp:qwen2.5-coder-0.5b-instruct"]
    assert "$0.00000" not in lines["openai:gpt-4o-mini"]
    assert not ledger_path.exists()  # an estimate spends nothing and records nothing


def test_estimate_shows_the_class_and_the_planned_ladder(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")  # usable; nothing is sent
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "2")
    result = runner.invoke(
        app, ["estimate", "Add a function f() returning 1", "-m", "openai:gpt-4o-mini"]
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "code_generation, python, trivial, quality balanced" in text
    assert (
        "route: llamacpp:qwen2.5-coder-0.5b-instruct -> openai:gpt-4o-mini "
        "(rule 'trivial-or-simple';" in text
    )
    assert "likely to pass validation" in text
    assert "sk-test" not in result.output
    assert not ledger_path.exists()


def test_estimate_speaks_json_with_the_figures_of_its_table(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")  # usable; nothing is sent
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "2")
    args = ["estimate", "Add a function f() returning 1", "-m", "openai:gpt-4o-mini"]
    table = runner.invoke(app, args)
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    estimate, route = shown["estimate"], shown["route"]
    assert (estimate["task_type"], estimate["complexity"]) == ("code_generation", "trivial")
    assert shown["quality"] == "balanced" and shown["budget"]["admitted"] is True
    mini = next(c for c in estimate["candidates"] if c["model"] == "openai:gpt-4o-mini")
    rows = {line.split()[1]: line for line in table.output.splitlines() if "│" in line[:2]}
    assert f"${Decimal(mini['worst_case_cost_usd']):.5f}" in rows["openai:gpt-4o-mini"]
    assert route["rule"] == "trivial-or-simple"
    assert route["ladder"] == ["llamacpp:qwen2.5-coder-0.5b-instruct", "openai:gpt-4o-mini"]
    assert f"at most ${Decimal(route['worst_case_cost_usd']):.5f}" in " ".join(table.output.split())
    assert "sk-test" not in result.output
    assert not ledger_path.exists()


def test_estimate_refuses_a_paid_model_without_a_price(tmp_path: Path, ledger_path: Path) -> None:
    result = runner.invoke(app, ["estimate", "Add f", "-m", "openai:no-such-model-anywhere"])
    assert result.exit_code == EXIT_USAGE
    assert "[prices." in result.output  # says how to add a price


def test_budget_shows_spend_and_what_is_left(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from frugalflow.money.ledger import CostLedger, ModelCall

    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    monkeypatch.setenv("FRUGALFLOW_SUBSCRIPTIONS_USD_PER_MONTH", '{"claude-code": 310}')
    CostLedger(ledger_path).record(
        ModelCall(
            request_id="r1",
            project="p",
            step="generate",
            provider="openai",
            model="gpt-4o-mini",
            tier=Tier.API,
            actual_cost_usd=Decimal("0.5"),
        )
    )
    result = runner.invoke(app, ["budget"])
    assert result.exit_code == 0, result.output
    [daily] = [line for line in result.output.splitlines() if "daily:" in line]
    assert "$2.00" in daily and "$0.5000" in daily and "$1.5000" in daily and "25%" in daily
    days = calendar.monthrange(*datetime.now().astimezone().timetuple()[:2])[1]
    assert f"subscription claude-code: ${Decimal(310) / days:.2f} per day" in result.output


def test_a_real_bug_prints_one_line_and_where_the_traceback_is(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    monkeypatch.setenv("FRUGALFLOW_HOME", str(tmp_path / "home"))

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug in frugalflow")

    monkeypatch.setattr(importlib.import_module("frugalflow.flows.codegen"), "codegen", broken)

    result = runner.invoke(
        app, ["generate", "Add f() returning 1", "--repo", str(tmp_path / "demo")]
    )

    assert result.exit_code == 1
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert "RuntimeError: a bug in frugalflow" in line and "This is a bug" in line
    [log] = (tmp_path / "home" / "logs").glob("frugalflow-crash-*.log")
    assert str(log) in line
    assert "Traceback (most recent call last)" in log.read_text()
    assert "Traceback" not in result.output


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_bug_inside_the_flow_says_where_its_traceback_is(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.invoke(app, ["example-repo", str(tmp_path / "demo")])
    monkeypatch.setenv("FRUGALFLOW_HOME", str(tmp_path / "home"))

    async def broken(*args: object, **kwargs: object) -> object:
        raise KeyError("a bug in a step")

    flow_module = importlib.import_module("frugalflow.flows.codegen")
    monkeypatch.setattr(flow_module, "run_request", broken)

    result = runner.invoke(
        app, ["generate", "Add f() returning 1", "--repo", str(tmp_path / "demo")]
    )

    assert result.exit_code == 1, result.output
    assert "unexpected KeyError" in result.output and "this is a bug" in result.output
    [log] = (tmp_path / "home" / "logs").glob("frugalflow-crash-*.log")
    assert "a bug in a step" in log.read_text()


def test_doctor_releases_the_expired_reservations_of_crashed_runs(
    tmp_path: Path, ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, timedelta

    from frugalflow.core.settings import load_settings
    from frugalflow.money.budget import BudgetManager
    from frugalflow.money.ledger import CostLedger

    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2")
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    manager = BudgetManager(CostLedger(ledger_path), load_settings(), clock=lambda: an_hour_ago)
    manager.reserve(request_id="crashed", project="p", model="openai:gpt-4o", amount_usd=Decimal(1))

    checked = runner.invoke(app, ["doctor", "--dry-run"])
    repaired = runner.invoke(app, ["doctor"])
    again = runner.invoke(app, ["doctor"])

    assert checked.exit_code == 1 and "1 expired reservation(s) to release" in checked.output
    assert repaired.exit_code == 0, repaired.output
    assert "released 1 expired reservation(s)" in repaired.output
    assert again.exit_code == 0 and "released 0 expired" in again.output
    assert (
        BudgetManager(CostLedger(ledger_path), load_settings()).reservations(state="active") == []
    )


def test_doctor_refuses_a_repository_it_cannot_check(tmp_path: Path, ledger_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--repo", str(tmp_path)])
    assert result.exit_code == 1
    assert "not a git repository" in result.output


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0
    assert shown.output.strip() == f"frugalflow {version('frugalflow')}"
    helped = runner.invoke(app, ["estimate", "-h"])
    assert helped.exit_code == 0
    assert "Usage:" in helped.output


def test_piped_tables_keep_every_value_whole(tmp_path: Path, ledger_path: Path) -> None:
    result = runner.invoke(
        app, ["estimate", "Add a function f() returning 1", "-m", "openai:gpt-4o-mini"]
    )
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    row = next(line for line in result.output.splitlines() if "openai:gpt-4o-mini" in line)
    assert re.search(r"\$0\.\d{5}\s+│\s+\$0\.\d{5}", row)  # expected and worst case, whole


def test_a_narrow_terminal_folds_values_instead_of_cutting_them() -> None:
    import io

    from rich.console import Console

    from frugalflow.cli.output import WholeTable

    table = WholeTable(title="model calls")
    for column in ("model", "tier", "cost"):
        table.add_column(column)
    table.add_row("llamacpp:qwen2.5-coder-0.5b-instruct", "local", "$0.00012345")
    out = io.StringIO()
    Console(file=out, width=30).print(table)
    text = out.getvalue()
    assert "…" not in text
    rows = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│")]
    columns = ["".join(row[index].strip() for row in rows) for index in range(3)]
    assert columns == ["llamacpp:qwen2.5-coder-0.5b-instruct", "local", "$0.00012345"]


def test_ledger_and_budget_speak_json(ledger_path: Path) -> None:
    spend_today(ledger_path, "1.25")
    ledger = runner.invoke(app, ["ledger", "--json"])
    assert ledger.exit_code == 0, ledger.output
    shown = json.loads(ledger.output)
    assert shown["spent_today_usd"] == "1.25000000"
    [call] = shown["calls"]
    assert (call["model"], call["tier"], call["actual_cost_usd"]) == (
        "gpt-4o-mini",
        "api",
        "1.25000000",
    )
    budget = runner.invoke(app, ["budget", "--json"])
    assert budget.exit_code == 0, budget.output
    daily = json.loads(budget.output)["windows"][0]
    assert daily["key"].startswith("daily:")
    assert Decimal(daily["remaining_usd"]) == Decimal(daily["limit_usd"]) - Decimal("1.25")
    assert json.loads(budget.output)["deferred_waiting"] == []


def test_ledger_filters_by_request_project_model_and_local_days(
    ledger_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoneinfo import ZoneInfo

    from frugalflow.money.ledger import CostLedger, ModelCall

    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", "Europe/Paris")
    paris = ZoneInfo("Europe/Paris")
    rows = {
        "a": ((1, 23, 30), "r1", "textkit", "openai", "gpt-4o-mini"),
        "b": ((2, 0, 30), "r2", "textkit", "llamacpp", "qwen"),
        "c": ((2, 23, 59), "r2", "webapp", "openai", "gpt-4o"),
        "d": ((3, 0, 0), "r3", "webapp", "openai", "gpt-4o-mini"),
        "e": ((3, 0, 1), "r4", "webapp", "ollama", "qwen2.5-coder:1.5b"),
    }
    CostLedger(ledger_path).record_many(
        [
            ModelCall(
                ts=datetime(2026, 12, day, hour, minute, tzinfo=paris),
                request_id=request,
                project=project,
                step="generate",
                provider=provider,
                model=model,
                tier=Tier.LOCAL if provider in ("llamacpp", "ollama") else Tier.API,
                actual_cost_usd=Decimal(ord(name) - ord("a")),
            )
            for name, ((day, hour, minute), request, project, provider, model) in rows.items()
        ]
    )
    by_cost = {str(Decimal(ord(n) - ord("a"))): n for n in rows}

    def shown(*options: str) -> list[str]:
        result = runner.invoke(app, ["ledger", "--json", *options])
        assert result.exit_code == 0, result.output
        calls = json.loads(result.output)["calls"]
        return [by_cost[str(Decimal(c["actual_cost_usd"]).normalize())] for c in calls]

    assert shown() == ["e", "d", "c", "b", "a"]
    assert shown("--request", "r2") == ["c", "b"]
    assert shown("--project", "webapp") == ["e", "d", "c"]
    assert shown("--model", "openai:gpt-4o-mini") == ["d", "a"]
    assert shown("--model", "gpt-4o") == ["c"]
    assert shown("--model", "ollama:qwen") == []
    assert shown("--model", "ollama:qwen2.5-coder:1.5b") == shown("--model", "qwen2.5-coder:1.5b")
    assert shown("--model", "qwen2.5-coder:1.5b") == ["e"]
    # Days are local days of the budget timezone; --until includes its day.
    assert shown("--since", "2026-12-02", "--until", "2026-12-02") == ["c", "b"]
    assert shown("--since", "2026-12-02T23:59", "--until", "2026-12-03T00:01") == ["d", "c"]
    assert shown("--until", "2026-12-02T00:30") == ["a"]
    assert shown("--since", "2026-12-01T22:31:00+00:00", "--project", "textkit") == ["b"]
    bad = runner.invoke(app, ["ledger", "--since", "yesterday"])
    assert bad.exit_code == 2 and "2026-12-03" in bad.output


# Commands that only read the ledger, and the estimate, start fast: they do not import Prefect
# (about 0.7 s). ``{repo}`` is a fresh git repository.
@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["--version"], 0),
        (["ledger"], 0),
        (["budget"], 0),
        (["report", "--month", "--json"], 0),
        (["explain", "no-such-request"], 2),
        (["providers"], 0),
        (["doctor"], 0),
        (["estimate", "Add a function slugify(text)", "--repo", "{repo}"], 0),
        (["estimate", "Add a function slugify(text)", "--repo", "{repo}", "--json"], 0),
    ],
)
def test_read_only_commands_do_not_import_prefect(
    tmp_path: Path, args: list[str], exit_code: int
) -> None:
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", repo], check=True)
    args = [arg.replace("{repo}", str(repo)) for arg in args]
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from frugalflow.cli.app import app\n"
        f"result = CliRunner().invoke(app, {args!r})\n"
        f"assert result.exit_code == {exit_code}, result.output\n"
        "print(sorted(m for m in sys.modules if m == 'prefect' or m.startswith('prefect.')))\n"
    )
    env = {"FRUGALFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
