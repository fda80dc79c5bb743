"""What the customers service refuses, in the domain's words (no HTTP: api.py answers each).

CustomersError
├── UnknownCustomer    no customer with that id
├── CustomerExists     a customer with that id was created before
├── EmailTaken         another customer has that email (compared without case)
├── VersionMismatch    a change named a version of the profile that is no longer current
├── InvalidIfMatch     If-Match is not a version number
├── InvalidProfile     a well-formed field with a value the rules refuse
│                      (an email that is no address, an unassigned country code, a blank name)
├── WeakPassword       a password the rules refuse (credentials.py)
└── InvalidCredentials no account with that email and password (which of the two was wrong is
                       not said)

Each names its `reason`, what the refusal metrics count it by.
"""

from __future__ import annotations

from collections.abc import Sequence


class CustomersError(Exception):
    reason = "refused"


class UnknownCustomer(CustomersError):
    reason = "unknown_customer"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id}")
        self.customer_id = customer_id


class CustomerExists(CustomersError):
    reason = "customer_exists"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"customer {customer_id} already exists")
        self.customer_id = customer_id


class EmailTaken(CustomersError):
    reason = "email_taken"

    def __init__(self) -> None:
        # Names no customer: who owns an address is not the caller's business.
        super().__init__("another customer has this email")


class VersionMismatch(CustomersError):
    reason = "version_mismatch"

    def __init__(self, customer_id: str, expected: int, current: int) -> None:
        super().__init__(f"customer {customer_id} is at version {current}, not {expected}")
        self.customer_id = customer_id
        self.current = current


class InvalidIfMatch(CustomersError):
    reason = "invalid_if_match"

    def __init__(self, given: str) -> None:
        super().__init__(f"If-Match must be a version number such as \"3\", not {given[:40]!r}")


class InvalidProfile(CustomersError):
    reason = "invalid_request"

    def __init__(self, fields: Sequence[str]) -> None:
        super().__init__(f"invalid value of {', '.join(fields)}")
        self.fields = list(fields)


class WeakPassword(CustomersError):
    reason = "weak_password"

    def __init__(self, faults: Sequence[str]) -> None:
        super().__init__("; ".join(faults))
        self.faults = list(faults)


class InvalidCredentials(CustomersError):
    reason = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("no account with that email and password")
