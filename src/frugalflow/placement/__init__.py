"""Putting accepted code into the user's repository as a git commit, without losing anything the user had."""
