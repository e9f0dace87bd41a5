"""Before routing: which of the models the budget gate allowed can be used now.

The provider pool answers (key, server, CLI, the model's and its provider's circuit breakers);
the router (:func:`frugalflow.routing.cascade.usable_models`) takes that answer as data, so
that routing never asks a provider itself.
"""

from __future__ import annotations

from frugalflow.core.models import parse_address
from frugalflow.core.settings import Settings
from frugalflow.providers import Availability, get_provider
from frugalflow.providers.pool import get_pool


def model_availability(models: tuple[str, ...], settings: Settings) -> dict[str, Availability]:
    """Whether each model can be used now (key, server, CLI, its and its provider's breakers
    closed).

    Args:
        models: ``provider:model`` addresses, in the order the answer keeps.
        settings: the settings the providers are built with.
    """
    pool = get_pool(settings, get_provider)
    addresses = {model: parse_address(model) for model in models}
    return {model: pool.usable(a.provider, a.model) for model, a in addresses.items()}
