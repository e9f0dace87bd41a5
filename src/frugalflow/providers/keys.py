"""API keys: from a Prefect Secret block when one is configured, else the vendor's variable.

A key is handled as ``SecretStr`` until the moment it is given to the SDK, so it never reaches
a log line, an exception message, the ledger or an artifact.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from frugalflow.core.errors import AuthenticationError, ConfigurationError
from frugalflow.core.redaction import remember_secret
from frugalflow.core.settings import Settings
from frugalflow.providers.base import Availability

# The variables each vendor's own SDK reads, in order of preference.
KEY_VARIABLES: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


def find_api_key(provider: str, settings: Settings) -> SecretStr | None:
    """The provider's key, or None when none is configured.

    Raises:
        ConfigurationError: a Secret block is configured but cannot be loaded.
    """
    block_name = settings.api_key_blocks.get(provider)
    if block_name:
        try:
            from prefect.blocks.system import Secret

            # _sync: steps run inside the flow's event loop, where load() would be a coroutine.
            secret: Secret[Any] = Secret.load(block_name, _sync=True)  # type: ignore[call-arg,assignment]
            value = secret.get()
        except Exception as exc:
            raise ConfigurationError(
                f"cannot load the Prefect Secret block {block_name!r} configured for {provider} "
                f"in api_key_blocks: {type(exc).__name__}; create it with "
                f"`Secret(value=...).save({block_name!r})` or remove it from the settings"
            ) from None
        remember_secret(str(value))  # redacted from logs and errors from now on
        return SecretStr(str(value))
    for variable in KEY_VARIABLES.get(provider, ()):
        if os.environ.get(variable):
            return SecretStr(os.environ[variable])
    return None


def require_api_key(provider: str, settings: Settings) -> SecretStr:
    """The provider's key.

    Raises:
        AuthenticationError: no key is configured; the message names the variable to set.
    """
    key = find_api_key(provider, settings)
    if key is None:
        variables = " or ".join(KEY_VARIABLES.get(provider, (f"{provider.upper()}_API_KEY",)))
        raise AuthenticationError(
            f"{variables} is not set; export it, put the key in a Prefect Secret block named in "
            f"api_key_blocks, or remove {provider} models from the 'models' setting",
            provider=provider,
        )
    return key


def key_availability(provider: str, settings: Settings, *, given: bool = False) -> Availability:
    """Whether a paid provider has a key, without sending anything over the network.

    A wrong key shows up as an :class:`AuthenticationError` at the first call.

    Args:
        provider: ``openai``, ``anthropic`` or ``gemini``.
        settings: where Secret blocks are named.
        given: a key was passed to the provider directly.
    """
    if given:
        return Availability(usable=True, reason="an API key was given to the provider")
    try:
        key = find_api_key(provider, settings)
    except ConfigurationError as exc:  # a Secret block is configured but cannot be loaded
        return Availability(usable=False, reason=str(exc))
    variables = " or ".join(KEY_VARIABLES[provider])
    if key is None:
        return Availability(
            usable=False,
            reason=f"{variables} is not set; export it or put the key in a Prefect Secret block "
            "named in api_key_blocks",
        )
    block = settings.api_key_blocks.get(provider)
    if block:
        return Availability(usable=True, reason=f"the key is in the Secret block {block!r}")
    return Availability(usable=True, reason=f"{variables} is set")
