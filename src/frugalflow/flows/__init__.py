"""Prefect flows: ``codegen`` (one request end to end)."""

from frugalflow.flows.codegen import codegen, listen_to_steps

__all__ = ["codegen", "listen_to_steps"]
