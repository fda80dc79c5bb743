"""What tests of every tier share, one copy each.

- `in_process`: the in-process tier: a service's app built by its `create_app(settings, clock)` and
  served inside the test process (real SQLite or PostgreSQL, the session's real NATS), for API and
  consumer rules that need no process of their own.
- `problems`: `assert_problem`, what every refusal must look like (RFC 9457 with a `code`).
- `metrics`: reading one sample from a Prometheus text page.
"""
