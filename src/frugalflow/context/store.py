"""The context's caches on disk, under ``<cache_dir>/context``.

Two kinds of entry, both JSON, both written atomically (a temporary file renamed over the old
one), so that two processes sharing the directory at worst redo each other's work:

* ``facts-v<N>/<repository>.jsonl``: the facts of each file of one repository, one line per
  language and content hash; what a new process reuses for every file that has not changed
  since. The facts of changed files are appended; the file is compacted when it doubles.
* ``contexts-v<N>/<key>.json``: a built context with its request, by the key of the
  repository's content and the request.

A damaged or foreign entry is ignored (and rebuilt), never an error: a cache may only save work.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Collection, Mapping
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


def _facts_line(key: str, facts: FileFacts) -> str:
    return json.dumps([key, facts.to_json()], separators=(",", ":")) + "\n"


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
        self._lines: dict[Path, int] = {}

    def _facts_file(self, repo: Path) -> Path:
        name = hashlib.sha256(str(repo).encode()).hexdigest()[:24]
        return self.directory / f"facts-v{FACTS_VERSION}" / f"{name}.jsonl"

    def load_facts(self, repo: Path) -> dict[str, FileFacts]:
        """The facts stored for a repository, by ``<language>:<blob id>``; a damaged line
        (a write cut short) is skipped."""
        path = self._facts_file(repo)
        facts: dict[str, FileFacts] = {}
        lines = 0
        try:
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    lines += 1
                    try:
                        key, value = json.loads(line)
                        facts[key] = FileFacts.from_json(value)
                    except ValueError:
                        continue
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.info("ignored the facts cache of %s: %s", repo, exc)
        self._lines[path] = lines
        return facts

    def save_facts(
        self, repo: Path, current: Mapping[str, FileFacts], new: Collection[str]
    ) -> None:
        """Store the facts of a repository's files that were read anew.

        Args:
            repo: the repository.
            current: the facts of every file it has now, by key.
            new: the keys among ``current`` that were just read: appended to the file,
                which is written afresh with ``current`` alone once it holds more than twice
                as many entries (the files that changed since).
        """
        path = self._facts_file(repo)
        lines = self._lines.get(path, 0)
        try:
            if lines and lines + len(new) <= 2 * len(current) + 64:
                with path.open("a", encoding="utf-8") as handle:
                    # One writer at a time: two processes' lines must not interleave.
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    handle.write("".join(_facts_line(k, current[k]) for k in new))
                self._lines[path] = lines + len(new)
                return
            text = "".join(_facts_line(key, value) for key, value in current.items())
            _write_atomically(path, text)
            self._lines[path] = len(current)
        except OSError as exc:
            # A read-only or full cache directory costs speed, never the run.
            logger.warning("could not write the context cache %s: %s", path, exc)

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
