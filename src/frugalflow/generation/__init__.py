"""Turning a request into a prompt and a model's reply into code."""
