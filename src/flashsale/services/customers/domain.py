"""Customer profile rules: what a valid email and country are, and what a change to a profile is.

A profile (name, email, postal address) carries a version: 1 when created, one more for every
change. A change that leaves the profile as it was is no change: no new version, nothing
announced. Emails are unique among customers without regard to case, so `Ann@Example.com` and
`ann@example.com` cannot belong to two customers; the address keeps the spelling its owner gave.

Email validation is deliberately conservative and self-contained (no DNS, no deliverability
check): an ASCII dot-atom local part, a domain of LDH labels with an alphabetic top-level label.
Quoted local parts, IP-literal domains and internationalised addresses are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

MAX_EMAIL = 254  # RFC 5321's limit on a forward path, minus its angle brackets
MAX_LOCAL_PART = 64

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})$")

# ISO 3166-1 alpha-2: the officially assigned codes (a block of text is easier to check by eye).
_ASSIGNED = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_ASSIGNED.split())


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str | None
    city: str
    postal_code: str
    country: str


@dataclass(frozen=True)
class Profile:
    name: str
    email: str
    address: Address


@dataclass(frozen=True)
class Changes:
    """A partial update: None means "leave as it is". An address is replaced as a whole."""

    name: str | None = None
    email: str | None = None
    address: Address | None = None


def is_email(email: str) -> bool:
    match = _EMAIL.fullmatch(email)
    return match is not None and len(email) <= MAX_EMAIL and len(match["local"]) <= MAX_LOCAL_PART


def email_key(email: str) -> str:
    """What two emails are compared by: equal keys are the same email, whatever their case."""
    return email.lower()


def is_country(code: str) -> bool:
    return code in COUNTRIES


def invalid_fields(name: str | None, email: str | None, address: Address | None) -> list[str]:
    """The fields whose values break the rules above (the schema has already checked shapes)."""
    invalid = []
    if name is not None and not name.strip():
        invalid.append("name")
    if email is not None and not is_email(email):
        invalid.append("email")
    if address is not None and not is_country(address.country):
        invalid.append("address.country")
    return invalid


def changed(profile: Profile, changes: Changes) -> Profile | None:
    """The profile after `changes`, or None when they change nothing (no new version)."""
    updated = replace(
        profile,
        name=profile.name if changes.name is None else changes.name,
        email=profile.email if changes.email is None else changes.email,
        address=profile.address if changes.address is None else changes.address,
    )
    return None if updated == profile else updated


def is_stale(expected_version: int | None, current_version: int) -> bool:
    """Whether a conditional update (If-Match) was based on a version that is no longer current."""
    return expected_version is not None and expected_version != current_version
