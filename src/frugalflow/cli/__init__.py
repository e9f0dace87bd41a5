"""The ``frugalflow`` command line."""
