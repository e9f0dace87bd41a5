"""The static safety check: what a candidate may import, call and touch before it ever runs."""
