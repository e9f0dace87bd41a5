"""Step 6, place: the validated code becomes a commit on a work branch of the user's repository.

All writing happens in a separate git worktree inside the run's temp directory, so the user's
working tree, index and HEAD are never touched; where the code goes, the name-clash policy and
the commit message are :mod:`frugalflow.placement.plan`'s.
"""

from __future__ import annotations

from frugalflow.placement.plan import place_code
from frugalflow.tasks import step

__all__ = ["place", "place_code"]

place = step("place")(place_code)
