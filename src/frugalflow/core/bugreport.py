"""Where the traceback of a real bug goes: a file that the one-line message names.

User errors (bad settings, a bad repository or target, a missing key) are FrugalflowErrors and
print one line with the fix. Anything else is a bug in frugalflow or in a library: the user sees
one line saying so and where the traceback is, and the file holds it for the bug report.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from frugalflow.core.redaction import redact_exception

__all__ = ["write_bug_report"]


def write_bug_report(exc: BaseException, home: Path | None, name: str) -> Path | None:
    """Write ``exc``'s traceback (secrets redacted) to ``<home>/logs/crash-<name>-<time>.log``.

    Falls back to the system temp dir when ``home`` cannot be written.

    Returns:
        The file, or None when nothing could be written anywhere.
    """
    text = redact_exception(exc)  # an SDK error may echo a key
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folders = ([Path(home) / "logs"] if home is not None else []) + [Path(tempfile.gettempdir())]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"frugalflow-crash-{name}-{stamp}.log"
            path.write_text(text)
            return path
        except OSError:
            continue
    return None
