"""Opens every Python runner: the project's own modules become importable, read-only.

A read-only copy of the project's Python files sits in ``project/`` so that generated code can
import the project's own modules; the user's repository itself is never reachable.
"""

import os
import sys

if __name__ == "__main__":
    for _path in ("project", "project/src"):
        if os.path.isdir(_path):
            sys.path.insert(0, os.path.abspath(_path))
