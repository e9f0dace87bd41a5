"""Step 7, name: do the generated identifiers follow the repository's naming conventions?

This step checks and reports; it never renames the user's existing identifiers.
"""

from __future__ import annotations

from frugalflow.context import check_naming
from frugalflow.schemas import GenerationContext, NamingReport
from frugalflow.tasks import step


def review_naming(code: str, context: GenerationContext) -> NamingReport:
    """Compare the names the code defines with the repository's dominant styles."""
    return check_naming(code, context.naming)


name = step("name")(review_naming)
