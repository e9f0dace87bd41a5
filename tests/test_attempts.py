"""Attempts that differ (issue 10: every same-model repair of the 0.5B returned exactly the
failing code): a candidate identical to one already validated is not validated again, and each
repair on the same model asks for another sample."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from frugalflow.core.schemas import RunStatus
from frugalflow.money.ledger import CostLedger
from frugalflow.providers import ChatMessage, Completion
from tests.support.flows import add_request, run
from tests.support.models import ReplyingModel

WRONG = '```python\ndef add(a, b):\n    """Add two numbers."""\n    return a - b\n```'


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_same_failing_code_again_is_not_validated_again(
    tmp_path: Path,
    ledger_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    use_providers: Callable[..., None],
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "3")
    model = ReplyingModel(WRONG, input_tokens=60)  # every answer, repairs too, the same
    use_providers({"llamacpp": model})
    request = add_request(tmp_path, "stubborn model")

    result = run(request)

    assert result.status is RunStatus.FAILED
    assert result.attempts == 3
    # Each repair samples anew: the retry temperature, a seed of its own. The third prompt is
    # the second's (same code, same report), but its seed differs, so it is not a cache hit.
    assert model.sampling == [(0.0, None), (0.7, 2), (0.7, 3)]
    assert [s.step for s in result.steps].count("validate") == 1  # but validated the code once
    assert all("not validated again" in d.reason for d in result.routing[1:])
    assert [(t.passed, t.repeated, t.temperature) for t in result.tried] == [
        (False, False, 0.0),
        (False, True, 0.7),
        (False, True, 0.7),
    ]
    assert "add(2, 3) == 5" in result.reason  # the one report is still what the user sees
    calls = CostLedger(ledger_path).calls_for_request(request.request_id)
    assert [call.cache_hit for call in calls] == [False, False, False]


class UnseededModel(ReplyingModel):
    """A provider written before ``seed`` existed: its ``complete`` has no such argument."""

    def complete(  # type: ignore[override]
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        return super().complete(
            model, messages, max_tokens=max_tokens, temperature=temperature, on_text=on_text
        )


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_provider_without_seed_still_gets_its_repairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_providers: Callable[..., None]
) -> None:
    monkeypatch.setenv("FRUGALFLOW_MAX_ATTEMPTS", "2")
    model = UnseededModel(WRONG)
    use_providers({"llamacpp": model})
    result = run(add_request(tmp_path, "unseeded model"))

    assert result.status is RunStatus.FAILED  # the wrong answer, not a TypeError
    assert "TypeError" not in result.reason
    assert model.sampling == [(0.0, None), (0.7, None)]
