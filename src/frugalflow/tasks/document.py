"""Step 8, document: does every public function and class the run added have a docstring?"""

from __future__ import annotations

from frugalflow.context import check_documentation
from frugalflow.schemas import DocumentationReport
from frugalflow.tasks import step


def review_documentation(code: str) -> DocumentationReport:
    """List the public names the code adds and those of them without a docstring."""
    return check_documentation(code)


document = step("document")(review_documentation)
