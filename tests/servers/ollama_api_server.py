"""A small server that speaks Ollama's HTTP API, answering with the real embedded model.

There is no Ollama binary here, so this implements the part of the API frugalflow uses, in the
shapes of https://github.com/ollama/ollama/blob/main/docs/api.md:

* ``POST /api/chat``: one JSON object (``"stream": false``) or NDJSON lines (the default), the
  last with ``done: true``, ``done_reason``, ``prompt_eval_count`` and ``eval_count``;
  ``404 {"error": "model 'x' not found"}`` for a model that is not installed.
* ``GET /api/tags``: the installed models.
* ``POST /api/pull``: NDJSON progress (``pulling manifest``, ``downloading <digest>`` with
  ``total``/``completed``, ``verifying sha256 digest``, ``writing manifest``, ``success``);
  an ``{"error": ...}`` line for a name the (pretend) library does not have.
* ``GET /``: ``Ollama is running``.

Every model, installed or pulled, is answered by the embedded Qwen2.5-Coder 0.5B through
:class:`frugalflow.providers.llamacpp.LlamaCppProvider`. A streamed reply is computed whole and
then sent in several chunks. Responses use chunked transfer encoding, as Ollama's do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from frugalflow.core.settings import load_settings
from frugalflow.providers.base import ChatMessage, Completion, Provider
from frugalflow.providers.llamacpp import BUNDLED_MODEL, BUNDLED_SIZE, LlamaCppProvider

INSTALLED_MODEL = "qwen2.5-coder:0.5b"
PULLABLE_MODEL = "qwen2.5-coder:0.5b-instruct-q4_K_M"
_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "qwen2",
    "families": ["qwen2"],
    "parameter_size": "494.03M",
    "quantization_level": "Q4_K_M",
}


def normalize(name: str) -> str:
    """Ollama's rule: a name without a tag means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@dataclass
class OllamaTestServer:
    """The running server: its URL, what it has installed and what it can pull."""

    host: str
    installed: set[str]
    library: set[str]
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass

    # -- plumbing ----------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        data = json.loads(raw or b"{}")
        return data if isinstance(data, dict) else {}

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _line(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- routes ------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self.server.state.requests.append(("GET", self.path, {}))
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/tags":
            self._json(
                200, {"models": [self._tag(name) for name in sorted(self.server.state.installed)]}
            )
        else:
            self._json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.server.state.requests.append(("POST", self.path, body))
        if self.path == "/api/chat":
            self._chat(body)
        elif self.path == "/api/pull":
            self._pull(body)
        else:
            self._json(404, {"error": "404 page not found"})

    def _tag(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": BUNDLED_SIZE,
            "digest": _digest(name),
            "details": _DETAILS,
        }

    def _chat(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or "")
        if not name:
            self._json(400, {"error": "model is required"})
            return
        if normalize(name) not in self.server.state.installed:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        options = body.get("options") or {}
        try:
            messages = [
                ChatMessage(role=message["role"], content=message.get("content") or "")
                for message in body.get("messages") or []
            ]
        except (KeyError, TypeError, ValueError) as exc:
            self._json(400, {"error": f"invalid message: {exc}"})
            return
        started = time.perf_counter_ns()
        try:
            completion = self.server.model.complete(
                BUNDLED_MODEL,
                messages,
                max_tokens=int(options.get("num_predict", -1)),
                temperature=float(options.get("temperature", 0.8)),
            )
        except Exception as exc:
            self._json(500, {"error": str(exc)})
            return
        stats = _stats(completion, time.perf_counter_ns() - started)
        done_reason = "length" if completion.finish_reason == "length" else "stop"
        if body.get("stream", True) is False:
            self._json(
                200,
                {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": completion.text},
                    "done_reason": done_reason,
                    "done": True,
                    **stats,
                },
            )
            return
        self._start_stream()
        for piece in _pieces(completion.text):
            self._line(
                {
                    "model": name,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
            )
        self._line(
            {
                "model": name,
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done_reason": done_reason,
                "done": True,
                **stats,
            }
        )
        self._end_stream()

    def _pull(self, body: dict[str, Any]) -> None:
        name = normalize(str(body.get("model") or body.get("name") or ""))
        state = self.server.state
        stream = body.get("stream", True) is not False
        if name not in state.library and name not in state.installed:
            error = {"error": "pull model manifest: file does not exist"}
            if not stream:
                self._json(500, error)
                return
            self._start_stream()
            self._line({"status": "pulling manifest"})
            self._line(error)
            self._end_stream()
            return
        digest = f"sha256:{_digest(name)}"
        total = BUNDLED_SIZE
        if stream:
            self._start_stream()
            self._line({"status": "pulling manifest"})
            for completed in (0, total // 4, total // 2, total):
                self._line(
                    {
                        "status": f"downloading {digest}",
                        "digest": digest,
                        "total": total,
                        "completed": completed,
                    }
                )
            for status in ("verifying sha256 digest", "writing manifest"):
                self._line({"status": status})
        state.installed.add(name)
        if stream:
            self._line({"status": "success"})
            self._end_stream()
        else:
            self._json(200, {"status": "success"})


def _stats(completion: Completion, elapsed_ns: int) -> dict[str, int]:
    return {
        "total_duration": elapsed_ns,
        "load_duration": 0,
        "prompt_eval_count": completion.input_tokens,
        "prompt_eval_duration": elapsed_ns // 4,
        "eval_count": completion.output_tokens,
        "eval_duration": elapsed_ns - elapsed_ns // 4,
    }


def _pieces(text: str, size: int = 8) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: OllamaTestServer, model: Provider) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.model = model


@contextlib.contextmanager
def ollama_api_server(
    model: Provider | None = None,
    *,
    installed: tuple[str, ...] = (INSTALLED_MODEL,),
    library: tuple[str, ...] = (INSTALLED_MODEL, PULLABLE_MODEL),
) -> Iterator[OllamaTestServer]:
    """Serve the Ollama API on 127.0.0.1 (a free port) in a thread for the block's duration.

    Args:
        model: what answers chats; the embedded model by default.
        installed: the models the server has from the start.
        library: the models ``/api/pull`` can download.
    """
    state = OllamaTestServer(
        host="",
        installed={normalize(name) for name in installed},
        library={normalize(name) for name in library},
    )
    server = _Server(state, model or LlamaCppProvider(load_settings()))
    state.host = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="ollama-api-server",
        daemon=True,
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
