"""Is every read model and copy what its source says? Sampled comparisons through the public APIs.

Used by `flashsale check` (once) and by the monitor service (every few seconds). It speaks HTTP
only: no service's code, no database. `compare` holds the rules (pure), `sampler` the calls.
"""
