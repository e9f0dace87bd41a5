"""Shared fixtures. Tests never reach the network: pytest-socket allows loopback only.

Prefect and frugalflow state is isolated before anything imports Prefect: a temporary
PREFECT_HOME, no analytics, and no user-level frugalflow.toml from the developer's machine.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from frugalflow.providers import Provider, ProviderFactory

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="frugalflow-tests-"))
os.environ.update(
    {
        "PREFECT_HOME": str(_SESSION_DIR / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "XDG_CONFIG_HOME": str(_SESSION_DIR / "config"),
        "XDG_STATE_HOME": str(_SESSION_DIR / "state"),  # fallback ledger journals
        "FRUGALFLOW_HOME": str(_SESSION_DIR / "frugalflow-home"),
    }
)
for _name in [name for name in os.environ if name.startswith("FRUGALFLOW_")]:
    if _name != "FRUGALFLOW_HOME":
        del os.environ[_name]


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One real (temporary) Prefect server for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def ledger_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ledger file for this test, used by every flow the test runs."""
    path = tmp_path / "ledger.duckdb"
    monkeypatch.setenv("FRUGALFLOW_LEDGER_PATH", str(path))
    return path


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test User",
    "GIT_AUTHOR_EMAIL": "user@example.test",
    "GIT_COMMITTER_NAME": "Test User",
    "GIT_COMMITTER_EMAIL": "user@example.test",
}


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as the test user and return its stdout."""
    import os

    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def make_git_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a real git repository on branch ``main`` with the given files committed."""

    def make(files: dict[str, str], name: str = "repo") -> Path:
        repo = tmp_path / name
        repo.mkdir()
        git(repo, "init", "--quiet", "--initial-branch", "main")
        for relative, text in files.items():
            path = repo / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(repo, "add", "--all")
        git(repo, "commit", "--quiet", "-m", "initial")
        return repo

    return make


@pytest.fixture(autouse=True)
def fresh_provider_pools() -> Iterator[None]:
    """Circuit breakers and slots are per process: no test inherits another's open breaker."""
    from frugalflow.providers.pool import reset_pools

    reset_pools()
    yield
    reset_pools()


@pytest.fixture
def use_providers() -> Iterator[Callable[..., None]]:
    """Answer calls to ``name:<model>`` with the given provider objects (or the providers that
    ``factories`` build from the settings), through the real provider registry
    (``frugalflow.providers.register_provider``), as a plugin would; each keeps its built-in
    tier. Everything registered is put back after the test."""
    from frugalflow.core.models import PROVIDER_TIERS
    from frugalflow.core.schemas import Tier
    from frugalflow.providers import register_provider, unregister_provider
    from frugalflow.providers.pool import reset_pools

    registered: list[str] = []

    def use(
        by_name: Mapping[str, Provider] | None = None,
        *,
        factories: Mapping[str, ProviderFactory] | None = None,
    ) -> None:
        built = {
            name: (lambda settings, repo, provider=provider: provider)
            for name, provider in (by_name or {}).items()
        }
        for name, factory in {**built, **(factories or {})}.items():
            register_provider(
                name, factory, tier=PROVIDER_TIERS.get(name, Tier.LOCAL), replace=True
            )
            registered.append(name)
        reset_pools()  # a pool keeps the providers it built

    yield use
    for name in registered:
        unregister_provider(name)
    reset_pools()
