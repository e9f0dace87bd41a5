"""One HTTP recorder for the provider tests.

The vendors' SDKs (``openai``, ``anthropic`` 2.x, ``google-genai``) send through an ``httpx2``
client; the tests hand them one on a :class:`httpx2.MockTransport` whose handler is an
:class:`HttpRecorder`. The recorder keeps every request it is sent (method, URL, headers, JSON
body) and answers from a handler, or from a queue of responses in order. The answers themselves
are shaped like each vendor's documented API (see ``tests/support/*_api.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import httpx2

Responder = Callable[[httpx2.Request], httpx2.Response]


class HttpRecorder:
    """A ``MockTransport`` handler that records every request and answers as told.

    Args:
        answer: a handler called with each request, or the responses (or handlers) to give
            in order, one per request; a request past the end of the queue fails the test.
    """

    def __init__(self, answer: Responder | Iterable[httpx2.Response | Responder]) -> None:
        self.requests: list[httpx2.Request] = []
        if callable(answer):
            self._handler: Responder | None = answer
            self._queue: list[httpx2.Response | Responder] = []
        else:
            self._handler = None
            self._queue = list(answer)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.requests.append(request)
        if self._handler is not None:
            return self._handler(request)
        assert self._queue, f"no response left for request {len(self.requests)}: {request!r}"
        answer = self._queue.pop(0)
        return answer if isinstance(answer, httpx2.Response) else answer(request)

    @property
    def transport(self) -> httpx2.MockTransport:
        """A mock transport answering through this recorder."""
        return httpx2.MockTransport(self)

    def client(self) -> httpx2.Client:
        """An ``httpx2`` client on this recorder's transport, for an SDK's ``http_client``."""
        return httpx2.Client(transport=self.transport)

    def body(self, index: int | None = None) -> dict[str, Any]:
        """The JSON body of request ``index``; without one, of the only request there was."""
        if index is None:
            assert len(self.requests) == 1, f"{len(self.requests)} requests, not one"
            index = 0
        data: dict[str, Any] = json.loads(self.requests[index].content)
        return data

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of every request, in order."""
        return [self.body(index) for index in range(len(self.requests))]


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Responder:
    """A handler answering every request with ``body`` as JSON."""
    return lambda request: httpx2.Response(status, json=body, headers=headers)


def raw_answer(content: bytes, content_type: str, status: int = 200) -> Responder:
    """A handler answering every request with ``content`` as it is."""
    return lambda request: httpx2.Response(
        status, content=content, headers={"content-type": content_type}
    )


def event_stream(content: bytes) -> Responder:
    """A handler answering every request with a 200 ``text/event-stream`` of ``content``."""
    return raw_answer(content, "text/event-stream")


def raising(exc_type: type[httpx2.TransportError]) -> Responder:
    """A handler that fails every request at the transport with ``exc_type``."""

    def respond(request: httpx2.Request) -> httpx2.Response:
        raise exc_type("simulated", request=request)

    return respond


# The type of the ``http_recorder`` fixture (tests/conftest.py): ``http_recorder(answer)``.
MakeRecorder = Callable[..., HttpRecorder]
