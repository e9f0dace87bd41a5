"""Checking generated code before it reaches a repository: static safety, the sandbox, Python and JavaScript checks."""
