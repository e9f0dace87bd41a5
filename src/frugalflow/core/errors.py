"""Every error frugalflow raises on purpose.

Each message says what happened and what to do about it. Provider adapters translate SDK and
transport errors into this tree at the edge (``raise ... from exc``) so that retry and
escalation logic never needs to know which vendor failed.

```
FrugalflowError
├── ConfigurationError            bad or missing settings (a key, a path, a TOML value)
├── ModelNotInstalledError        the embedded model or its weights are not on this machine
├── ProviderError                 a model call failed             .retryable, .retry_after
│   ├── RetryableProviderError    worth trying again: 429, 5xx, timeouts, dropped connections
│   │   ├── RateLimitedError
│   │   ├── ProviderTimeoutError
│   │   ├── ProviderUnavailableError
│   │   │   ├── SlotTimeoutError  every slot of the provider stayed busy; nothing was sent
│   │   │   └── CallRefusedError  refused before sending: a resting breaker, no key, no server
│   │   └── MalformedReplyError   a 200 reply without the text or fields the API promises
│   └── PermanentProviderError    trying again will not help: auth, bad request, too long
│       ├── AuthenticationError
│       ├── BadRequestError
│       └── ContextTooLongError
├── PricingError                  a paid model has no known price; it is refused, never free
├── BudgetExceededError           a call does not fit what is left of a budget window
├── LedgerError                   the cost ledger cannot be opened, read or written
├── RequestError                  the code request itself cannot be carried out as given
├── SandboxUnavailableError       generated code would have to run, and no sandbox works here
└── PlacementError                generated code cannot be placed without risk to the user's work
    ├── NotAGitRepositoryError
    ├── UnsafePathError           a target outside the repository (``..``, absolute, symlink out)
    └── NameClashError            the target module already defines a generated name
```
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from frugalflow.core.redaction import redact


class FrugalflowError(Exception):
    """Base class of every error frugalflow raises on purpose."""


class ConfigurationError(FrugalflowError):
    """Settings are missing or invalid."""


class ModelNotInstalledError(FrugalflowError):
    """A local model, or the library that runs it, is not installed."""


class ProviderError(FrugalflowError):
    """A model call failed.

    Attributes:
        retryable: whether the same call may succeed if tried again.
        retry_after: seconds the provider asked us to wait, when it said so.
        provider: the ``provider:model`` address that failed.
    """

    retryable: bool = False

    def __init__(
        self, message: str, *, provider: str = "", retry_after: float | None = None
    ) -> None:
        # Built from provider text, which may echo a key: see frugalflow.core.redaction.
        super().__init__(redact(message))
        self.provider = provider
        self.retry_after = retry_after


class RetryableProviderError(ProviderError):
    """A transient failure: trying again (or elsewhere) is reasonable."""

    retryable = True


class RateLimitedError(RetryableProviderError):
    """The provider answered 429 or an equivalent quota signal."""


class ProviderTimeoutError(RetryableProviderError):
    """The call did not finish within the configured timeout."""


class ProviderUnavailableError(RetryableProviderError):
    """The provider could not be reached or answered with a server error."""


class SlotTimeoutError(ProviderUnavailableError):
    """Every slot of a provider stayed busy for as long as the caller would wait.

    Retryable, and no verdict on the provider's health: it only says this process is busy.
    """


class CallRefusedError(ProviderUnavailableError):
    """The pool refused a call before sending anything: a circuit breaker is open, or the
    provider is not usable (no key, no server).

    Retryable, because another model may take the call (failover); ``retry_after`` says when
    this one may be tried again, None when waiting will not help (a missing key). No request
    was sent, so there is no call to book.
    """


class MalformedReplyError(RetryableProviderError):
    """The provider answered, but not in its API's shape (no choices, no text, not JSON)."""


class PermanentProviderError(ProviderError):
    """A failure that the same call will hit again."""

    retryable = False


class AuthenticationError(PermanentProviderError):
    """The key is missing, wrong or lacks permission."""


class BadRequestError(PermanentProviderError):
    """The provider rejected the request as malformed."""


class ContextTooLongError(PermanentProviderError):
    """The prompt does not fit the model's context window."""


class PricingError(FrugalflowError):
    """A paid model has no known price."""


class BudgetExceededError(FrugalflowError):
    """A reservation does not fit the remaining budget of one of its windows.

    Attributes:
        remaining_usd: what is left in the tightest window.
        retry_at: when that window ends and money is available again, if known.
    """

    def __init__(
        self, message: str, *, remaining_usd: Decimal, retry_at: datetime | None = None
    ) -> None:
        super().__init__(message)
        self.remaining_usd = remaining_usd
        self.retry_at = retry_at


class LedgerError(FrugalflowError):
    """The cost ledger cannot be used."""


class RequestError(FrugalflowError):
    """The request cannot be carried out as given."""


class SandboxUnavailableError(FrugalflowError):
    """Generated code would have to run (examples, doctests, a type checker), and this machine
    has no working sandbox: frugalflow refuses rather than run it unconfined."""


class PlacementError(FrugalflowError):
    """Generated code cannot be placed without risking the user's work."""


class NotAGitRepositoryError(PlacementError):
    """The target directory is not a usable git repository."""


class UnsafePathError(PlacementError):
    """A target path resolves outside the repository."""


class NameClashError(PlacementError):
    """The target module already defines a name the generated code defines."""


def is_retryable(exc: BaseException | None) -> bool:
    """Tell whether an exception is worth retrying.

    Args:
        exc: any exception, or None.

    Returns:
        True only for provider errors marked retryable.
    """
    return isinstance(exc, ProviderError) and exc.retryable
