"""The context's caches on disk, under ``<cache_dir>/context``.

Two kinds of entry, both JSON, both written atomically (a temporary file renamed over the old
one), so that two processes sharing the directory at worst redo each other's work:

* ``facts-v<N>/<repository>.json``: the facts of each file of one repository, by language and
  content hash; what a new process reuses for every file that has not changed since.
* ``contexts-v<N>/<key>.json``: a built context with its request, by the key of the
  repository's content and the request.

A damaged or foreign entry is ignored (and rebuilt), never an error: a cache may only save work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from frugalflow.context.facts import FACTS_VERSION, FileFacts

logger = logging.getLogger(__name__)

CONTEXTS_VERSION = 1  # bump when a stored context's meaning changes


def _write_atomically(path: Path, payload: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(payload)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.info("ignored a damaged context cache entry %s: %s", path, exc)
        return None


class ContextStore:
    """The on-disk caches of one cache directory.

    Args:
        directory: ``<cache_dir>/context``; created when first written.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def _facts_file(self, repo: Path) -> Path:
        name = hashlib.sha256(str(repo).encode()).hexdigest()[:24]
        return self.directory / f"facts-v{FACTS_VERSION}" / f"{name}.json"

    def load_facts(self, repo: Path) -> dict[str, FileFacts]:
        """The facts stored for a repository, by ``<language>:<blob id>``."""
        data = _read_json(self._facts_file(repo))
        if not isinstance(data, dict) or data.get("version") != FACTS_VERSION:
            return {}
        facts: dict[str, FileFacts] = {}
        try:
            for key, value in data["files"].items():
                facts[key] = FileFacts.from_json(value)
        except (KeyError, TypeError, AttributeError) as exc:
            logger.info("ignored the damaged facts of %s: %s", repo, exc)
            return {}
        return facts

    def save_facts(self, repo: Path, facts: Mapping[str, FileFacts]) -> None:
        """Replace the facts stored for a repository (only its current files' are kept)."""
        payload = {
            "version": FACTS_VERSION,
            "repo": str(repo),
            "files": {key: value.to_json() for key, value in facts.items()},
        }
        self._write(self._facts_file(repo), json.dumps(payload, separators=(",", ":")))

    def _context_file(self, key: str) -> Path:
        return self.directory / f"contexts-v{CONTEXTS_VERSION}" / f"{key}.json"

    def load_context(self, key: str) -> dict[str, Any] | None:
        """A stored context entry (as :meth:`save_context` wrote it), or None."""
        data = _read_json(self._context_file(key))
        return data if isinstance(data, dict) else None

    def save_context(self, key: str, entry: Mapping[str, Any]) -> None:
        """Store one context entry (JSON-ready)."""
        self._write(self._context_file(key), json.dumps(entry, separators=(",", ":")))

    def _write(self, path: Path, payload: str) -> None:
        try:
            _write_atomically(path, payload)
        except OSError as exc:
            # A read-only or full cache directory costs speed, never the run.
            logger.warning("could not write the context cache %s: %s", path, exc)
