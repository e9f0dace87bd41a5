"""Helpers the tests import like a library: not test modules, and holding no fixtures.

* :mod:`tests.support.http`: one HTTP recorder for the provider tests (a mock transport).
* :mod:`tests.support.openai_api`, :mod:`tests.support.anthropic_api`,
  :mod:`tests.support.gemini_api`: bodies shaped like each vendor's documented API.
* :mod:`tests.support.git`: git as the test user, and a hash of what the user owns.
* :mod:`tests.support.placement`: the sample repository and placement the repository tests share.
* :mod:`tests.support.money`: ledgers, budgets and estimates for the money tests.
* :mod:`tests.support.models`: fake models for flow tests (registered with ``use_providers``).

Fixtures live in ``tests/conftest.py``.
"""
