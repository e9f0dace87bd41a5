"""Configuration sources and their precedence; no developer's real configuration leaks in."""

from __future__ import annotations

import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from frugalflow.core.errors import ConfigurationError
from frugalflow.core.settings import (
    DEFAULT_LOCAL_MODEL,
    REPOSITORY_SETTINGS,
    SETTINGS_GROUPS,
    RepositoryLimits,
    Settings,
    load_settings,
    user_config_file,
)
from frugalflow.core.settings_groups import group_title, repository_settings


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No FRUGALFLOW_* variable, XDG directories inside tmp_path, cwd in tmp_path."""
    for name in list(os.environ):
        if name.startswith("FRUGALFLOW_"):
            monkeypatch.delenv(name)
    for variable in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_user_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "xdg_config_home" / "frugalflow" / "frugalflow.toml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def make_repo(tmp_path: Path, text: str | None = None) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    if text is not None:
        (repo / "frugalflow.toml").write_text(text)
    return repo


def test_user_config_file_follows_xdg_config_home(tmp_path: Path) -> None:
    assert user_config_file() == tmp_path / "xdg_config_home" / "frugalflow" / "frugalflow.toml"


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    settings = load_settings(make_repo(tmp_path))
    assert settings.daily_budget_usd == Decimal("20")
    assert settings.emergency_threshold_usd == Decimal("1")
    assert settings.timezone == "UTC"
    assert settings.models == [DEFAULT_LOCAL_MODEL]
    assert settings.max_attempts == 2
    assert settings.max_output_tokens == 768
    assert settings.sandbox_timeout_seconds == 10.0
    assert settings.sandbox_memory_mb == 1024
    assert settings.home == tmp_path / "xdg_data_home" / "frugalflow"
    assert settings.cache_dir == tmp_path / "xdg_cache_home" / "frugalflow"
    assert settings.ledger_path is None
    assert settings.ledger_file == settings.home / "ledger.duckdb"
    assert load_settings() == settings


def test_explicit_ledger_path_replaces_the_default(tmp_path: Path) -> None:
    settings = Settings(ledger_path=tmp_path / "elsewhere.duckdb")
    assert settings.ledger_file == tmp_path / "elsewhere.duckdb"


def test_user_file_applies(tmp_path: Path) -> None:
    write_user_config(tmp_path, 'daily_budget_usd = 7\ntimezone = "Europe/Paris"\n')
    settings = load_settings(make_repo(tmp_path))
    assert settings.daily_budget_usd == Decimal("7")
    assert settings.timezone == "Europe/Paris"


def test_repo_file_beats_user_file_key_by_key(tmp_path: Path) -> None:
    write_user_config(tmp_path, 'max_output_tokens = 500\ntimezone = "Europe/Paris"\n')
    repo = make_repo(tmp_path, "max_output_tokens = 300\nmax_attempts = 4\n")
    settings = load_settings(repo)
    assert settings.max_output_tokens == 300
    assert settings.max_attempts == 4
    assert settings.timezone == "Europe/Paris"  # not set in the repo: the user's value stays


@pytest.mark.parametrize(
    "line",
    [
        'openai_base_url = "https://attacker.example/v1"',
        'claude_code_command = "/tmp/evil"',
        "daily_budget_usd = 1000",
        '[prices."openai:gpt-4o"]\ninput_per_mtok = 0\noutput_per_mtok = 0',
        'ledger_path = "/tmp/elsewhere.duckdb"',
    ],
)
def test_a_repository_may_not_redirect_keys_commands_prices_or_budgets(
    tmp_path: Path, line: str
) -> None:
    repo = make_repo(tmp_path, line + "\n")
    with pytest.raises(ConfigurationError, match="which a repository may not set") as caught:
        load_settings(repo)
    assert "frugalflow.toml" in str(caught.value) and "FRUGALFLOW_" in str(caught.value)


def test_repo_file_is_ignored_without_a_repo(tmp_path: Path) -> None:
    make_repo(tmp_path, "max_attempts = 5\n")
    write_user_config(tmp_path, "daily_budget_usd = 7\n")
    assert load_settings().daily_budget_usd == Decimal("7")


def test_environment_beats_repo_and_user_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_user_config(tmp_path, "max_output_tokens = 500\nmax_attempts = 3\n")
    repo = make_repo(tmp_path, "max_output_tokens = 300\n")
    monkeypatch.setenv("FRUGALFLOW_MAX_OUTPUT_TOKENS", "200")
    settings = load_settings(repo)
    assert settings.max_output_tokens == 200
    assert settings.max_attempts == 3


def test_arguments_beat_the_environment_and_none_means_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "2.5")
    monkeypatch.setenv("FRUGALFLOW_TIMEZONE", "Asia/Tokyo")
    settings = load_settings(make_repo(tmp_path), daily_budget_usd=Decimal("1"), timezone=None)
    assert settings.daily_budget_usd == Decimal("1")
    assert settings.timezone == "Asia/Tokyo"


def test_list_setting_from_the_environment_is_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRUGALFLOW_MODELS", '["llamacpp:a", "openai:gpt-4o-mini"]')
    assert load_settings().models == ["llamacpp:a", "openai:gpt-4o-mini"]


def test_invalid_environment_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDGET_USD", "-3")
    with pytest.raises(ConfigurationError, match="daily_budget_usd"):
        load_settings()


def test_non_numeric_environment_value_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRUGALFLOW_SANDBOX_MEMORY_MB", "lots")
    with pytest.raises(ConfigurationError, match="sandbox_memory_mb"):
        load_settings()


def test_invalid_file_value_names_the_field_and_the_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "max_attempts = 0\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(repo)
    message = str(caught.value)
    assert "max_attempts" in message
    assert str(repo / "frugalflow.toml") in message


def test_unknown_key_in_a_file_is_refused(tmp_path: Path) -> None:
    write_user_config(tmp_path, "daily_budget = 5\n")  # typo of daily_budget_usd
    with pytest.raises(ConfigurationError, match="daily_budget"):
        load_settings()


def test_toml_syntax_error_is_a_configuration_error(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "max_attempts = = 5\n")
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_settings(repo)


def test_toml_syntax_error_in_user_file_too(tmp_path: Path) -> None:
    write_user_config(tmp_path, "[unterminated\n")
    with pytest.raises(ConfigurationError):
        load_settings()


def test_files_do_not_leak_into_later_loads(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "max_attempts = 5\n")
    assert load_settings(repo).max_attempts == 5
    assert load_settings().max_attempts == 2
    assert Settings().max_attempts == 2


# -- what a repository may set, and how much --------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "limit"),
    [
        ("sandbox_timeout_seconds = 1e9", "sandbox_timeout_seconds", "60"),
        ("sandbox_memory_mb = 100000000", "sandbox_memory_mb", "4096"),
        ("max_output_tokens = 1000000", "max_output_tokens", "4096"),
        ("max_attempts = 10", "max_attempts", "5"),
        ("provider_retries = 10", "provider_retries", "3"),
        ("local_context_tokens = 1000000", "local_context_tokens", "32768"),
        (f"models = {[f'ollama:m{i}' for i in range(20)]!r}".replace("'", '"'), "models", "8"),
    ],
)
def test_a_repository_value_above_its_limit_is_refused_with_how_to_raise_it(
    tmp_path: Path, line: str, key: str, limit: str
) -> None:
    repo = make_repo(tmp_path, line + "\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(repo)
    message = str(caught.value)
    assert str(repo / "frugalflow.toml") in message
    assert key in message and f"the {limit} a repository may set" in message
    assert "repository_limits" in message and "FRUGALFLOW_REPOSITORY_LIMITS" in message
    assert str(user_config_file()) in message


def test_the_refusal_shows_the_value_the_repository_asked_for(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "sandbox_timeout_seconds = 1e9\n")
    with pytest.raises(ConfigurationError, match=r"sandbox_timeout_seconds = 1000000000\.0"):
        load_settings(repo)


def test_every_value_above_its_limit_is_named_at_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "sandbox_timeout_seconds = 1e9\nmax_attempts = 10\n")
    with pytest.raises(ConfigurationError) as caught:
        load_settings(repo)
    message = str(caught.value)
    assert "the 60 a repository may set" in message and "the 5 a repository may set" in message
    assert "max_attempts = ..., sandbox_timeout_seconds = ..." in message


def test_a_repository_value_within_its_limit_applies(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "sandbox_timeout_seconds = 60\nmax_attempts = 5\n")
    settings = load_settings(repo)
    assert (settings.sandbox_timeout_seconds, settings.max_attempts) == (60, 5)


def test_the_user_raises_a_limit_in_their_own_config(tmp_path: Path) -> None:
    write_user_config(tmp_path, "repository_limits = {sandbox_timeout_seconds = 300}\n")
    repo = make_repo(tmp_path, "sandbox_timeout_seconds = 300\nmax_output_tokens = 5000\n")
    with pytest.raises(ConfigurationError, match="max_output_tokens"):  # still the default limit
        load_settings(repo)
    (repo / "frugalflow.toml").write_text("sandbox_timeout_seconds = 300\n")
    assert load_settings(repo).sandbox_timeout_seconds == 300


def test_the_user_raises_a_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRUGALFLOW_REPOSITORY_LIMITS", '{"sandbox_memory_mb": 8192}')
    repo = make_repo(tmp_path, "sandbox_memory_mb = 8192\n")
    assert load_settings(repo).sandbox_memory_mb == 8192


def test_a_repository_may_not_set_its_own_limits(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path,
        "sandbox_timeout_seconds = 1e9\n[repository_limits]\nsandbox_timeout_seconds = 1e9\n",
    )
    with pytest.raises(ConfigurationError, match="repository_limits, which a repository may not"):
        load_settings(repo)


def test_the_users_own_values_are_not_bounded_by_the_repository_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_user_config(tmp_path, "sandbox_timeout_seconds = 600\nmax_output_tokens = 8000\n")
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "8")
    settings = load_settings(make_repo(tmp_path, "temperature = 0.2\n"))
    assert (settings.sandbox_timeout_seconds, settings.max_output_tokens) == (600, 8000)
    assert settings.max_attempts == 8
    (repo := tmp_path / "repo").joinpath("frugalflow.toml").write_text("sandbox_memory_mb = 2048\n")
    assert load_settings(repo, sandbox_memory_mb=16384).sandbox_memory_mb == 16384


@pytest.mark.parametrize(
    "line",
    ["sandbox_memory_mb = 32", "sandbox_timeout_seconds = inf", "max_retry_after_seconds = nan"],
)
def test_absurd_values_are_refused_from_any_source(tmp_path: Path, line: str) -> None:
    write_user_config(tmp_path, line + "\n")
    with pytest.raises(ConfigurationError, match=line.split()[0]):
        load_settings()


@pytest.mark.parametrize(
    "prefix",
    [
        "../escape/",
        "-x/",
        "--force",
        "a..b/",
        "/abs/",
        "a//b/",
        "a b/",
        "x/.hidden/",
        "x.lock/y",
        "~x",
        "a:b",
        ".x",
    ],
)
def test_an_unsafe_work_branch_prefix_is_refused(tmp_path: Path, prefix: str) -> None:
    repo = make_repo(tmp_path, f"work_branch_prefix = {prefix!r}\n".replace("'", '"'))
    with pytest.raises(ConfigurationError, match="cannot start a git branch name"):
        load_settings(repo)


@pytest.mark.parametrize("prefix", ["frugalflow/", "ai/generated-", "team.x/bot_", ""])
def test_a_safe_work_branch_prefix_makes_a_valid_branch_name(tmp_path: Path, prefix: str) -> None:
    repo = make_repo(tmp_path, f'work_branch_prefix = "{prefix}"\n')
    assert load_settings(repo).work_branch_prefix == prefix
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", f"{prefix}c5e217a854df"], capture_output=True
    )
    assert done.returncode == 0


def test_max_retry_after_seconds_is_user_level_only(tmp_path: Path) -> None:
    assert load_settings().max_retry_after_seconds == 30
    write_user_config(tmp_path, "max_retry_after_seconds = 5\n")
    assert load_settings().max_retry_after_seconds == 5
    with pytest.raises(ConfigurationError, match="which a repository may not set"):
        load_settings(make_repo(tmp_path, "max_retry_after_seconds = 3600\n"))


# -- the groups, and the README's tables of them -----------------------------------------------


README = Path(__file__).resolve().parents[1] / "README.md"


def readme_tables() -> dict[str, list[list[str]]]:
    """The rows of each table in the README's Configuration section, by the heading above it."""
    text = README.read_text()
    section = text[text.index("\n## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    tables: dict[str, list[list[str]]] = {}
    heading = "Configuration"
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line.removeprefix("### ").strip()
        elif line.startswith("| ") and not line.startswith("| ---"):
            tables.setdefault(heading, []).append([cell.strip() for cell in line.split(" | ")])
    return {heading: rows[1:] for heading, rows in tables.items()}  # without the header row


def names_in(cell: str) -> list[str]:
    return re.findall(r"`([a-z_]+)`", cell.strip("| "))


def test_settings_is_exactly_its_groups_in_their_order() -> None:
    grouped = [name for group in SETTINGS_GROUPS for name in group.model_fields]
    assert grouped == list(Settings.model_fields)
    assert len(set(grouped)) == len(grouped)


@pytest.mark.parametrize("group", SETTINGS_GROUPS, ids=group_title)
def test_each_groups_docstring_documents_exactly_its_settings(group: type[BaseModel]) -> None:
    documented = re.findall(r"^ {8}(\w+):", group.__doc__ or "", flags=re.MULTILINE)
    assert documented == list(group.model_fields)


def test_the_readme_has_one_table_per_group_in_order() -> None:
    headings = [
        heading for heading in readme_tables() if heading in map(group_title, SETTINGS_GROUPS)
    ]
    assert headings == [group_title(group) for group in SETTINGS_GROUPS]


@pytest.mark.parametrize("group", SETTINGS_GROUPS, ids=group_title)
def test_the_readme_lists_exactly_each_groups_settings(group: type[BaseModel]) -> None:
    rows = readme_tables()[group_title(group)]
    listed = [name for row in rows for name in names_in(row[0])]
    assert listed == list(group.model_fields)


def test_the_readmes_simple_defaults_are_the_codes() -> None:
    checked = 0
    for group in SETTINGS_GROUPS:
        for row in readme_tables()[group_title(group)]:
            names, literal = names_in(row[0]), re.fullmatch(r"`([^`]*)`", row[1])
            if len(names) != 1 or literal is None:
                continue  # several settings in one row, or a default in words
            value = Settings.model_fields[names[0]].get_default(call_default_factory=True)
            if isinstance(value, str):
                assert literal.group(1) == value, names[0]
            elif isinstance(value, bool):  # before int: a bool is an int
                assert literal.group(1) == str(value).lower(), names[0]
            elif isinstance(value, int | float | Decimal):
                assert Decimal(literal.group(1)) == Decimal(str(value)), names[0]
            else:
                continue  # a list, a table or a path, written as in a frugalflow.toml
            checked += 1
    assert checked >= 15  # the check found the tables' defaults


def test_the_readme_lists_exactly_what_a_repository_may_set_and_the_default_bounds() -> None:
    rows = readme_tables()["What a repository may set"]
    listed = {names_in(row[0])[0]: row[1] for row in rows}
    assert set(listed) == REPOSITORY_SETTINGS
    for key, limit in RepositoryLimits().model_dump().items():
        assert listed[key].split()[0] == f"{limit:g}", key


def test_a_repository_may_set_only_the_marked_settings_and_each_limited_one_has_a_limit() -> None:
    marks = repository_settings()
    assert set(marks) == REPOSITORY_SETTINGS
    assert {key for key, mark in marks.items() if mark.limited} == set(
        RepositoryLimits.model_fields
    )
    assert {key for key, mark in marks.items() if not mark.limited} == {
        "temperature",
        "retry_temperature",
        "escalation_shows_failed_code",
        "work_branch_prefix",
    }


def test_the_refusal_lists_what_a_repository_may_set(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, 'ollama_host = "http://attacker.example"\n')
    with pytest.raises(ConfigurationError) as caught:
        load_settings(repo)
    assert str(caught.value).endswith(
        "A repository may set: escalation_shows_failed_code, local_context_tokens, max_attempts, "
        "max_output_tokens, models, provider_retries, retry_temperature, sandbox_memory_mb, "
        "sandbox_timeout_seconds, temperature, work_branch_prefix"
    )


@pytest.mark.parametrize(
    ("key", "variable", "value"),
    [
        ("max_output_tokens", "FRUGALFLOW_MAX_OUTPUT_TOKENS", "300"),
        ("reservation_ttl_seconds", "FRUGALFLOW_RESERVATION_TTL_SECONDS", "60"),
        ("ollama_host", "FRUGALFLOW_OLLAMA_HOST", "http://10.0.0.2:11434"),
        ("sandbox_memory_mb", "FRUGALFLOW_SANDBOX_MEMORY_MB", "2048"),
        ("work_branch_prefix", "FRUGALFLOW_WORK_BRANCH_PREFIX", "ai/"),
        ("cache_dir", "FRUGALFLOW_CACHE_DIR", "/tmp/frugalflow-cache"),
    ],
)
def test_a_setting_of_every_group_keeps_its_flat_key_and_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    from_environment = getattr(load_settings(), key)
    monkeypatch.delenv(variable)
    write_user_config(tmp_path, f"{key} = {value if value.isdigit() else repr(value)}\n")
    assert getattr(load_settings(), key) == from_environment
    assert str(from_environment) == value


def test_a_misspelt_key_in_a_file_gets_did_you_mean(tmp_path: Path) -> None:
    user = user_config_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("daily_budjet_usd = 5\n")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "daily_budjet_usd is not a frugalflow setting (did you mean 'daily_budget_usd'?)" in (
        str(raised.value)
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    user.unlink()
    (repo / "frugalflow.toml").write_text("max_atempts = 3\n")
    with pytest.raises(ConfigurationError, match=r"did you mean 'max_attempts'\?"):
        load_settings(repo)


def test_a_misspelt_variable_gets_did_you_mean_and_others_are_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRUGALFLOW_VENV", ".venv")  # ./dev's own variable: not a near miss
    assert load_settings().daily_budget_usd == Decimal("20")
    monkeypatch.setenv("FRUGALFLOW_DAILY_BUDJET_USD", "3")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert "did you mean FRUGALFLOW_DAILY_BUDGET_USD?" in str(raised.value)


def test_a_toml_syntax_error_names_its_file() -> None:
    user = user_config_file()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("daily_budget_usd = [\n")
    with pytest.raises(ConfigurationError, match=f"cannot read {re.escape(str(user))}"):
        load_settings()
