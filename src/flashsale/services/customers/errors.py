"""What the customers service refuses, as problems the API answers with (RFC 9457).

CustomersProblem (kit Problem)
├── UnknownCustomer  404 unknown_customer: no customer with that id
├── CustomerExists   409 customer_exists: a customer with that id was created before
├── EmailTaken       409 email_taken: another customer has that email (compared without case)
├── VersionMismatch  412 version_mismatch: If-Match named a version that is no longer current
├── InvalidIfMatch   400 invalid_if_match: If-Match is not a version number
├── InvalidProfile   422 invalid_request: a well-formed field with a value the rules refuse
│                    (an email that is no address, an unassigned country code, a blank name)
├── WeakPassword     422 weak_password: a password the rules refuse (credentials.py)
└── InvalidCredentials 401 invalid_credentials: no account with that email and password
                     (which of the two was wrong is not said)
"""

from __future__ import annotations

from collections.abc import Sequence

from flashsale.kit.problems import Problem


class CustomersProblem(Problem):
    pass


class UnknownCustomer(CustomersProblem):
    def __init__(self, customer_id: str) -> None:
        super().__init__(404, "unknown_customer", "Unknown customer", f"no customer {customer_id}")


class CustomerExists(CustomersProblem):
    def __init__(self, customer_id: str) -> None:
        super().__init__(409, "customer_exists", "Customer exists", f"customer {customer_id} already exists")


class EmailTaken(CustomersProblem):
    def __init__(self) -> None:
        # The detail names no customer: who owns an address is not the caller's business.
        super().__init__(409, "email_taken", "Email taken", "another customer has this email")


class VersionMismatch(CustomersProblem):
    def __init__(self, customer_id: str, expected: int, current: int) -> None:
        super().__init__(412, "version_mismatch", "Version mismatch",
                         f"customer {customer_id} is at version {current}, not {expected}",
                         currentVersion=current)


class InvalidIfMatch(CustomersProblem):
    def __init__(self, given: str) -> None:
        super().__init__(400, "invalid_if_match", "Invalid If-Match",
                         f"If-Match must be a version number such as \"3\", not {given[:40]!r}")


class InvalidProfile(CustomersProblem):
    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__(422, "invalid_request", "Invalid request",
                         f"invalid value of {', '.join(fields)}", fields=list(fields))


class WeakPassword(CustomersProblem):
    def __init__(self, faults: Sequence[str]) -> None:
        super().__init__(422, "weak_password", "Weak password", "; ".join(faults))


class InvalidCredentials(CustomersProblem):
    def __init__(self) -> None:
        super().__init__(401, "invalid_credentials", "Invalid credentials", "no account with that email and password")
