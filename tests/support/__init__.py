"""What tests of every tier share, one copy each.

- `in_process`: the in-process tier: a service's app built by its `create_app(settings, clock)` and
  served inside the test process (real SQLite or PostgreSQL, the session's real NATS), for API and
  consumer rules that need no process of their own.
- `ids`: `unique`, the ids a test makes for its own data.
- `polling`: `wait_for`, polling with a deadline (never a fixed sleep).
- `problems`: `assert_problem`, what every refusal must look like (RFC 9457 with a `code`).
- `metrics`: reading samples from a Prometheus page.
- `events`: events put on the session's NATS as a producer's relay puts them.
- `plain_http`: httpx's calls with one TLS context (why: its docstring).
"""
