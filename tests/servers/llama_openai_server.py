"""llama-cpp-python's own OpenAI-compatible server, serving the embedded GGUF, in a subprocess.

Usage (a session-scoped fixture in the test module)::

    with llama_openai_server() as base_url:  # "http://127.0.0.1:PORT/v1"
        ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from frugalflow.core.settings import load_settings
from frugalflow.providers.llamacpp import BUNDLED_MODEL, ensure_bundled_model

START_TIMEOUT_SECONDS = 120.0
CONTEXT_TOKENS = 4096


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def llama_openai_server(
    model_path: Path | None = None, *, timeout: float = START_TIMEOUT_SECONDS
) -> Iterator[str]:
    """Run ``python -m llama_cpp.server`` on the embedded model; yield its base URL (``.../v1``).

    The server is stopped (SIGTERM, then SIGKILL) when the block ends.

    Raises:
        RuntimeError: the server exited or did not answer ``GET /v1/models`` within ``timeout``;
            the message carries the end of its log.
    """
    path = model_path or ensure_bundled_model(load_settings())
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(CONTEXT_TOKENS),
        "--model_alias",
        BUNDLED_MODEL,
        "--n_threads",
        str(os.cpu_count() or 1),
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryFile(mode="w+", prefix="llama-server-", suffix=".log") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(f"{base_url}/models"):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read()[-3000:]
                    state = (
                        f"exited with {process.returncode}"
                        if process.returncode is not None
                        else f"did not answer within {timeout:g} s"
                    )
                    raise RuntimeError(f"llama_cpp.server {state}; its log ends with:\n{tail}")
                time.sleep(0.2)
            yield base_url
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
