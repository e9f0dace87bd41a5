"""Shared fixtures. Tests never reach the network: pytest-socket allows loopback only.

Prefect and frugalflow state is isolated before anything imports Prefect: a temporary
PREFECT_HOME, no analytics, and no user-level frugalflow.toml from the developer's machine.

Fixtures live here; plain helpers (git as the test user, the HTTP recorder, the vendors' sample
bodies) live in the ``tests.support`` package, which test modules import like a library. No test
module imports from another.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.git import git  # the standard library only: imported before the env is set

if TYPE_CHECKING:
    import httpx2

    from frugalflow.providers import Provider, ProviderFactory
    from tests.support.http import HttpRecorder, MakeRecorder, Responder


_SESSION_DIR = Path(tempfile.mkdtemp(prefix="frugalflow-tests-"))
os.environ.update(
    {
        "PREFECT_HOME": str(_SESSION_DIR / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "XDG_CONFIG_HOME": str(_SESSION_DIR / "config"),
        "XDG_STATE_HOME": str(_SESSION_DIR / "state"),  # fallback ledger journals
        "XDG_RUNTIME_DIR": str(_SESSION_DIR / "run"),  # the preloaded runner's socket
        "FRUGALFLOW_HOME": str(_SESSION_DIR / "frugalflow-home"),
    }
)
for _name in [name for name in os.environ if name.startswith("FRUGALFLOW_")]:
    if _name != "FRUGALFLOW_HOME":
        del os.environ[_name]
# The CLI would otherwise start a persistent local Prefect server that outlives the tests;
# tests/test_prefect_server.py starts and stops one on purpose.
os.environ["FRUGALFLOW_PREFECT_SERVER"] = "ephemeral"


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


# -- placement --------------------------------------------------------------------------------


@pytest.fixture
def repo(make_git_repo: Callable[..., Path]) -> Path:
    """The sample repository of ``tests.support.placement``: a package with a utility module."""
    from tests.support.placement import SAMPLE_FILES

    return make_git_repo(SAMPLE_FILES)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A run's work directory, outside the repository (not created)."""
    return tmp_path / "run"


# -- the vendors' APIs at the HTTP boundary ---------------------------------------------------


@pytest.fixture
def http_recorder() -> Iterator[MakeRecorder]:
    """Factory: an :class:`~tests.support.http.HttpRecorder` answering from a handler or a queue
    of responses; the clients made from it are closed after the test."""
    from tests.support.http import HttpRecorder

    clients: list[httpx2.Client] = []

    class ClosingRecorder(HttpRecorder):
        def client(self) -> httpx2.Client:
            made = super().client()
            clients.append(made)
            return made

    def make(answer: Responder | list[httpx2.Response | Responder]) -> HttpRecorder:
        return ClosingRecorder(answer)

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def openai_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """``OPENAI_API_KEY`` set to a test key, and no ``OPENAI_BASE_URL`` override."""
    from tests.support import openai_api

    monkeypatch.setenv("OPENAI_API_KEY", openai_api.KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return openai_api.KEY


@pytest.fixture
def anthropic_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """``ANTHROPIC_API_KEY`` set to a test key, and none of the SDK's other variables."""
    from tests.support import anthropic_api

    for name in (
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_PROFILE",
        "ANTHROPIC_CONFIG_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", anthropic_api.KEY)
    return anthropic_api.KEY


@pytest.fixture
def gemini_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """``GEMINI_API_KEY`` set to a test key, and none of the SDK's other variables."""
    from tests.support import gemini_api

    for name in (
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_API_VERSION",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
        "GOOGLE_GENAI_HTTP_CLIENT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", gemini_api.KEY)
    return gemini_api.KEY
