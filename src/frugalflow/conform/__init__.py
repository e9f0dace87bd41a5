"""Making accepted code look like the project's own: naming conventions and docstrings."""
