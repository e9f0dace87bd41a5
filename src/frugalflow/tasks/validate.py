"""Step 5, validate: is the candidate correct, in the project's own terms, and safe to place?

The checks, their order and the report's names are described in
:mod:`frugalflow.validation.report`; this module is the step over
:func:`~frugalflow.validation.report.validate_code`.
"""

from __future__ import annotations

from frugalflow.tasks import step
from frugalflow.validation.report import validate_code

validate = step("validate")(validate_code)
