"""Infrastructure errors, translated at the adapter boundary so callers never see driver types.

KitError
├── DependencyUnavailable   a remote service is down, timing out or its circuit is open
├── BrokerUnavailable       NATS is not connected
├── OutOfTurn               another publisher wrote to the stream since (a relay past its lease)
├── DatabaseUnavailable     the service's own database cannot be reached
└── IdempotencyError        a request's Idempotency-Key cannot run it (kit/idempotency.py)
    ├── InvalidKey          the key is empty or longer than the store keeps
    ├── KeyReused           the key was used before with another request body
    └── KeyInProgress       a request with the key is still running
        └── KeyTakenOver    the key's lock ran out mid-request and a retry holds the key now

kit/problems.py says which problem each answers with.
"""


class KitError(Exception):
    pass


class DependencyUnavailable(KitError):
    def __init__(self, dependency: str, reason: str) -> None:
        super().__init__(f"{dependency} unavailable: {reason}")
        self.dependency = dependency
        self.reason = reason


class BrokerUnavailable(KitError):
    pass


class OutOfTurn(KitError):
    """The stream's last message is not the one a publisher expected: another publisher wrote to
    it since (a relay paused past its lease finds the next holder has published)."""


class DatabaseUnavailable(KitError):
    pass


class IdempotencyError(KitError):
    pass


class InvalidKey(IdempotencyError):
    def __init__(self, max_length: int) -> None:
        super().__init__(f"an Idempotency-Key must be 1..{max_length} characters")
        self.max_length = max_length


class KeyReused(IdempotencyError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used with a different request body")


class KeyInProgress(IdempotencyError):
    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is still running")


class KeyTakenOver(KeyInProgress):
    """The key's lock ran out while the request ran, and a retry holds the key now: the request's
    own effect must not commit (raised inside its transaction), and the retry answers the client."""
