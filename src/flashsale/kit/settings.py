"""Settings every service reads from its environment (FLASHSALE_*), via pydantic-settings.

`flashsale up` sets these for each process it starts; a deployment sets them however it likes.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLASHSALE_", extra="ignore")

    instance: str = "1"
    host: str = "127.0.0.1"
    port: int = 8000
    # FLASHSALE_TRUSTED_PROXIES: the addresses (comma-separated, CIDR allowed, "*" for any) whose
    # X-Forwarded-For / X-Forwarded-Proto the server believes: a load balancer in front of the
    # gateway. Empty (the default): nobody's, the connection's peer is the client. A client can
    # write any header it likes, so only a proxy the house runs may name the client.
    trusted_proxies: str = ""
    # FLASHSALE_INTERNAL_AUTH: auto (the default: internal APIs ask for the house's credential when
    # the process listens beyond loopback), required, or off (kit/house_auth.py).
    internal_auth: str = "auto"
    database_url: str = ""
    # FLASHSALE_DB_POOL_SIZE: connections each process keeps open to its database, and never more
    # (a request then waits for one). Connections opened beyond a pool for a burst and closed after
    # it were ~60 new PostgreSQL sessions in 12 s of checkouts on the order service, each a server
    # process to start and the driver's type introspection to run again. Ten keep a house of ten
    # processes within PostgreSQL's default max_connections (100); 20 ran it out of connection slots
    # with the test suite's houses beside it.
    db_pool_size: int = 10
    broker_url: str = "nats://127.0.0.1:4222"
    admin_token: str = ""
    log_level: str = "WARNING"
    # The relay's safety net: a commit wakes the relay of its own process at once, and another
    # instance's relay through a hint over the broker, so the poll only catches what a lost hint
    # or a reconnection left behind. Each poll is a query (or a lease attempt) on every instance.
    relay_poll_interval_s: float = 1.0
    # Comma-separated base URLs of the services this one calls.
    inventory_urls: str = ""
    payments_urls: str = ""
    hold_ttl: int = 600
    # How long an Idempotency-Key stays locked by a request that never finished (its process died).
    idempotency_lock_s: float = 60.0
    # Retention of the kit's tables (kit/retention.py): published outbox rows, inbox rows (at least
    # the broker's duplicate window plus a margin) and Idempotency-Keys (a retry after this long
    # is a new request), pruned every `retention_interval_s` by each instance.
    outbox_retention_s: float = 86_400.0
    inbox_retention_s: float = 86_400.0
    idempotency_retention_s: float = 86_400.0
    retention_interval_s: float = 60.0
    # What the streams keep (kit/bus.py StreamLimits): the producer's event stream and the dead
    # letters, by age and, when set, by size (-1: none; a full stream refuses new events, which
    # wait in the outbox; JetStream reserves the whole size on the server up front).
    stream_max_age_s: float = 7 * 86_400.0
    stream_max_bytes: int = -1
    dlq_max_age_s: float = 30 * 86_400.0
    dlq_max_bytes: int = -1
    # The process that started us (`flashsale up`, a test); when it dies without stopping us,
    # we stop too instead of holding our port and database as an orphan. 0: run on regardless.
    parent_pid: int = 0
    # Test knob: handle each consumed event no sooner than this long after it happened, to play a
    # lagging read model (read-your-writes tests). Old backlog passes at once. 0 in production.
    consumer_delay_ms: int = 0
    # FLASHSALE_PROPAGATION_WARN_MS: a consumer logs `slow_propagation` when an event took longer
    # than this from happening to its effect committed (kit/propagation.py).
    propagation_warn_ms: int = 2000
    # Tracing (kit/tracing.py): FLASHSALE_TRACING=off switches it off entirely. Spans go to the
    # OTLP endpoint in OTEL_EXPORTER_OTLP_ENDPOINT when set, else to JSON-line files under
    # FLASHSALE_TRACE_DIR (`flashsale up`: DIR/traces), each bounded to FLASHSALE_TRACE_FILE_MB
    # (twice that with its rotated predecessor); with neither, no spans are made.
    tracing: str = "on"
    trace_dir: str = ""
    trace_file_mb: int = 32
    # FLASHSALE_DB_SPAN_MS: a database transaction or read is a span of its own only when it took
    # this long or failed (a checkout's ~20 quick transactions were a third of its spans and ~7 %
    # of the house's CPU for it); 0 makes every one a span, as it runs.
    db_span_ms: float = 5.0

    def urls(self, field: str) -> list[str]:
        return [u.strip() for u in str(getattr(self, field)).split(",") if u.strip()]
