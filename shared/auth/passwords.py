"""Password policy and storage.

Two policies (per school): 'school', the schools' own rule (length plus lower, upper, digit and
symbol), and 'ncsc', the NCSC/OWASP ASVS style (length and deny-list, no composition rules).
Both always refuse common passwords and the school's own name, accept up to 1,024 characters
and never truncate. Hashes are argon2id; `verify` says when a stored hash needs upgrading.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_LENGTH = 1024  # long passphrases welcome; the cap only bounds hashing work per request
DENY_LIST_SIZE = 10_000

# Words too generic in school names to refuse on their own.
_GENERIC_NAME_WORDS = frozenset(
    {
        "school",
        "primary",
        "academy",
        "infant",
        "infants",
        "junior",
        "juniors",
        "college",
        "church",
        "england",
        "catholic",
        "community",
        "high",
        "secondary",
        "trust",
        "the",
        "and",
        "saint",
        "nursery",
        "free",
        "grammar",
        "federation",
    }
)


@dataclass(frozen=True, slots=True)
class Policy:
    kind: str = "school"  # 'school' | 'ncsc'
    min_length: int = 8


def broken_rules(
    password: str, policy: Policy, school_name: str = "", personal: tuple[str, ...] = ()
) -> list[str]:
    """The names of the rules `password` breaks, in a stable order; empty when acceptable.

    `personal` holds words tied to the account (email local part, names) that are refused too.
    """
    rules: list[str] = []
    if len(password) < policy.min_length:
        rules.append("min_length")
    if len(password) > MAX_LENGTH:
        rules.append("max_length")
    if policy.kind == "school":
        rules.extend(_composition(password))
    if _is_common(password):
        rules.append("common_password")
    if _contains_any(password, _name_words(school_name)):
        rules.append("school_name")
    if _contains_any(password, {w for p in personal for w in _words(p) if len(w) >= 4}):
        rules.append("personal_information")
    return rules


def _composition(password: str) -> list[str]:
    checks = (
        ("lowercase", any(c.islower() for c in password)),
        ("uppercase", any(c.isupper() for c in password)),
        ("digit", any(c.isdigit() for c in password)),
        ("symbol", any(not c.isalnum() for c in password)),
    )
    return [name for name, ok in checks if not ok]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


_LETTERS = re.compile(r"[^\w]+|_")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)


def _is_common(password: str) -> bool:
    """Common as typed, or a common word dressed up with case, leetspeak or trailing
    digits and symbols ('Password1!', 'P@ssw0rd', 'monkey123')."""
    folded = _fold(password)
    core = re.sub(r"[\d\W_]+$", "", folded)
    candidates = {folded, core, folded.translate(_LEET), core.translate(_LEET)}
    common = common_passwords()
    return any(c in common for c in candidates if c)


def _words(text: str) -> set[str]:
    return {w for w in _LETTERS.split(_fold(text)) if w}


def _name_words(school_name: str) -> set[str]:
    words = {w for w in _words(school_name) if len(w) >= 4 and w not in _GENERIC_NAME_WORDS}
    joined = "".join(_words(school_name))
    return words | ({joined} if len(joined) >= 4 else set())


def _contains_any(password: str, words: set[str]) -> bool:
    squashed = "".join(_LETTERS.split(_fold(password))).translate(_LEET)
    plain = "".join(_LETTERS.split(_fold(password)))
    return any(w in plain or w in squashed for w in words)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The most common passwords from the zxcvbn package's list (from real breaches),
    loaded on first use, not at import."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:DENY_LIST_SIZE])


@functools.cache
def hasher() -> PasswordHasher:
    # argon2-cffi's defaults are the RFC 9106 low-memory profile (argon2id, t=3, m=64 MiB, p=4).
    return PasswordHasher()


def hash_password(password: str) -> str:
    return hasher().hash(password)


@dataclass(frozen=True, slots=True)
class Verified:
    ok: bool
    needs_rehash: bool = False


def verify_password(stored_hash: str, password: str) -> Verified:
    try:
        hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return Verified(False)
    return Verified(True, hasher().check_needs_rehash(stored_hash))


@functools.cache
def _dummy_hash() -> str:
    return hash_password("not a real password: hashed so unknown emails cost the same time")


def burn_time(password: str) -> None:
    """Verify against a dummy hash, so an unknown email takes as long as a known one."""
    verify_password(_dummy_hash(), password)
