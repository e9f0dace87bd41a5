"""The router in the real flow (a real Prefect server, ledger and git repository): the plan's
rule and options on every decision, outcomes in the ledger, ``frugalflow explain``, the run's
artifact, and a deferral the routing policy asks for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frugalflow.cli.app import app
from frugalflow.core.schemas import RunStatus
from frugalflow.flows.codegen import run_name
from frugalflow.money.deferred import DeferredStore
from frugalflow.money.ledger import CostLedger
from frugalflow.money.outcomes import outcomes_for_request
from tests.support.flows import add_request, artifact_key, latest_artifact, run
from tests.support.models import ReplyingModel

RIGHT = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a + b\n```'
WRONG = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a - b\n```'


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_every_attempt_is_explained_and_learned_from(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "2")
    model = ReplyingModel(WRONG)
    use_providers({"llamacpp": model})
    request = add_request(tmp_path, "explained")

    result = run(request)

    assert result.status is RunStatus.FAILED
    assert [d.rule for d in result.routing] == ["trivial-or-simple"] * 2
    first, second = result.routing
    assert "rule 'trivial-or-simple'" in first.reason
    assert second.reason.startswith("repair with validation feedback")
    [option] = first.options
    assert option.model == first.model
    assert option.success_probability == pytest.approx(0.5)  # the local prior: nothing seen yet

    # Both attempts are in the performance history, with the decisions.
    stored = outcomes_for_request(CostLedger(ledger_path), request.request_id)
    assert [(o.attempt, o.passed, o.repeated) for o in stored] == [
        (1, False, False),
        (2, False, True),
    ]
    assert [o.decision for o in stored] == list(result.routing)

    shown = CliRunner().invoke(app, ["explain", request.request_id, "--repo", str(request.repo)])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())  # as wide as the terminal: lines wrap anywhere
    assert "attempt 1" in text and "attempt 2" in text
    assert "rule: trivial-or-simple" in text
    assert "validation failed" in text
    assert "50%" in text  # the option's chance of passing
    assert "repeated code already validated" in text

    artifact = latest_artifact(artifact_key(request))  # as the run's page shows it
    assert "| 1 | llamacpp:" in artifact and "trivial-or-simple" in artifact
    assert "| model weighed | expected cost | P(pass) | attempts seen |" in artifact

    # The next request's plan has learned from these two failures.
    model.reply = RIGHT
    again = run(add_request(tmp_path / "next", "explained, the next request"))
    assert again.status is RunStatus.COMPLETED
    [seen] = again.routing[0].options
    assert seen.observations == 2
    assert seen.success_probability == pytest.approx(1 / 4)  # Beta(1, 1) after two failures


def test_explain_of_an_unknown_request_says_what_to_check(
    tmp_path: Path, ledger_path: Path
) -> None:
    shown = CliRunner().invoke(app, ["explain", "nosuchrequest"])
    assert shown.exit_code == 2
    text = " ".join(shown.output.split())
    assert "no routing decision is recorded for request 'nosuchrequest'" in text
    assert "frugalflow ledger" in text


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_policy_that_defers_keeps_the_request_for_later(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    rules = [{"name": "subscription-or-wait", "use": ["subscription", "defer"], "defer_hours": 2}]
    monkeypatch.setenv("FRUGALFLOW_ROUTING_RULES", json.dumps(rules))
    model = ReplyingModel(RIGHT)
    use_providers({"llamacpp": model})
    request = add_request(tmp_path, "deferred by the policy")
    before = datetime.now(UTC)

    result = run(request)

    assert result.status is RunStatus.DEFERRED
    assert "'subscription-or-wait'" in result.reason
    assert model.calls == 0  # nothing was generated, nothing spent
    assert result.retry_at is not None
    assert before + timedelta(hours=2) <= result.retry_at <= datetime.now(UTC) + timedelta(hours=2)
    [waiting] = DeferredStore(CostLedger(ledger_path)).pending()
    assert waiting.request.request_id == request.request_id
    assert "subscription-or-wait" in waiting.reason


def test_a_run_is_named_after_its_request() -> None:
    assert (
        run_name("Add a function count_words(text) that returns the number of words", "ab12")
        == "add-a-function-count-words-text-ab12"
    )
    assert run_name("???", "ab12") == "codegen-ab12"
    long = run_name("x" * 100, "ab12")
    assert len(long) <= 48 + 5 and long.endswith("-ab12")


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_prefect_run_carries_the_name(
    tmp_path: Path, ledger_path: Path, use_providers: Callable[..., None]
) -> None:
    from prefect import get_client

    use_providers({"llamacpp": ReplyingModel(RIGHT)})
    request = add_request(tmp_path, "named run")
    result = run(request)
    assert result.flow_run_id is not None

    async def name() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(result.flow_run_id)).name  # type: ignore[arg-type]

    assert asyncio.run(name()) == run_name(request.description, request.request_id)
