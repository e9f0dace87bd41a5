"""An append-only file of JSON records, safe for concurrent appenders and one taker at a time.

The cost ledger keeps here what it could not write (see :class:`frugalflow.money.ledger.CostLedger`):
one JSON object per line, each appended with a single ``write`` and ``fsync``'d before
:meth:`Journal.append` returns, so a record that was acknowledged survives a crash or a power
cut. Every use holds an ``flock`` on the file itself. :meth:`Journal.take` hands the records to
a caller and removes them only once the caller's block has succeeded; a crash in between leaves
them in place, so whoever books them must do so idempotently.

Taking removes the file. A process that opened it before and then waited for the lock would
write into the removed file and lose its record, so after locking, every user checks that the
path still names the file it holds, and opens it again if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

logger = logging.getLogger("frugalflow.journal")  # named as before the folders


def _fsync_directory(directory: Path) -> None:
    """Make a file's creation or removal in ``directory`` durable."""
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """One journal file.

    Attributes:
        path: the JSON-lines file; it exists only while it holds records.
        rejected_path: where lines that cannot be read back are moved, so that they never
            block the others; kept for a person to look at.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rejected_path = self.path.with_name(self.path.name + ".rejected")

    def has_records(self) -> bool:
        """Whether the file holds anything (without locking: a hint, cheap enough per use)."""
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    def append(self, record: dict[str, Any]) -> None:
        """Add one record and ``fsync`` it before returning.

        Raises:
            OSError: the file or its directory cannot be created or written.
        """
        line = json.dumps(record, separators=(",", ":"), sort_keys=True).encode() + b"\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = self._open_locked(os.O_RDWR | os.O_APPEND | os.O_CREAT, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line (a crash mid-write) stays on its own
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_directory(self.path.parent)

    def read(self, parse: Callable[[dict[str, Any]], T]) -> list[T]:
        """The records that ``parse`` accepts, leaving the file as it is.

        Raises:
            OSError: the file exists but cannot be read.
        """
        fd = self._open_existing(fcntl.LOCK_SH)
        if fd is None:
            return []
        try:
            parsed, _ = _parse(_read_all(fd), parse)
        finally:
            os.close(fd)
        return parsed

    @contextlib.contextmanager
    def take(self, parse: Callable[[dict[str, Any]], T]) -> Iterator[list[T]]:
        """Lock the file, yield its records, and remove them once the block has succeeded.

        Appenders wait meanwhile. Lines that are not JSON or that ``parse`` refuses (with a
        ``ValueError``) are moved to :attr:`rejected_path` with an error in the log. When the
        block raises, nothing is removed.

        Yields:
            The parsed records, oldest first; ``[]`` when there is no journal.

        Raises:
            OSError: the file exists but cannot be read or removed.
        """
        fd = self._open_existing(fcntl.LOCK_EX)
        if fd is None:
            yield []
            return
        try:
            parsed, rejected = _parse(_read_all(fd), parse)
            yield parsed
            if rejected:
                self._reject(rejected)
            os.unlink(self.path)  # under the lock: appenders waiting for it will reopen
            _fsync_directory(self.path.parent)
        finally:
            os.close(fd)

    def _reject(self, lines: list[bytes]) -> None:
        with open(self.rejected_path, "ab") as rejected:
            rejected.write(b"".join(line + b"\n" for line in lines))
            rejected.flush()
            os.fsync(rejected.fileno())
        logger.error(
            "%d line(s) of the journal %s could not be read back; they were moved to %s. Look "
            "at them and book what they record by hand if it matters",
            len(lines),
            self.path,
            self.rejected_path,
        )

    def _open_existing(self, mode: int) -> int | None:
        try:
            return self._open_locked(os.O_RDWR, mode)
        except FileNotFoundError:
            return None

    def _open_locked(self, flags: int, mode: int) -> int:
        """Open the path and lock it, again if the file was removed while we waited."""
        while True:
            fd = os.open(self.path, flags, 0o600)
            try:
                fcntl.flock(fd, mode)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                return fd
            os.close(fd)
            if not flags & os.O_CREAT and not self.path.exists():
                raise FileNotFoundError(self.path)


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _parse(data: bytes, parse: Callable[[dict[str, Any]], T]) -> tuple[list[T], list[bytes]]:
    parsed: list[T] = []
    rejected: list[bytes] = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            parsed.append(parse(value))
        except ValueError:  # json.JSONDecodeError and pydantic's ValidationError are ValueErrors
            rejected.append(line)
    return parsed, rejected
