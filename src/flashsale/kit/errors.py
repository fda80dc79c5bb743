"""Infrastructure errors, translated at the adapter boundary so callers never see driver types.

KitError
├── DependencyUnavailable   a remote service is down, timing out or its circuit is open
├── BrokerUnavailable       NATS is not connected
└── DatabaseUnavailable     the service's own database cannot be reached
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
