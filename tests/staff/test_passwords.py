"""Password policy (table-driven) and argon2id storage."""

import pytest
from argon2 import PasswordHasher

from shared.auth.passwords import (
    MAX_LENGTH,
    Policy,
    broken_rules,
    common_passwords,
    hash_password,
    verify_password,
)

SCHOOL = Policy("school")
NCSC = Policy("ncsc")
NCSC_12 = Policy("ncsc", min_length=12)
NAME = "Oakfield Primary School"

CASES = [
    # password, policy, broken rules
    ("Zx9!qwLm", SCHOOL, []),
    ("Blue-Giraffe-42", SCHOOL, []),
    ("Zx9!qwL", SCHOOL, ["min_length"]),
    ("zx9!qwlm", SCHOOL, ["uppercase"]),
    ("ZX9!QWLM", SCHOOL, ["lowercase"]),
    ("Zxy!qwLm", SCHOOL, ["digit"]),
    ("Zx9kqwLm", SCHOOL, ["symbol"]),
    ("correct horse battery staple", SCHOOL, ["uppercase", "digit"]),
    ("correct horse battery staple", NCSC, []),
    ("lowercaseonlybutlong", NCSC, []),
    ("shortone", NCSC_12, ["min_length"]),
    ("Password1!", SCHOOL, ["common_password"]),
    ("P@ssw0rd", NCSC, ["common_password"]),
    ("Monkey123!", SCHOOL, ["common_password"]),
    ("qwertyuiop", NCSC, ["common_password"]),
    ("iloveyou", NCSC, ["common_password"]),
    ("Oakfield2024!", SCHOOL, ["school_name"]),
    ("0akf1eld-rocks", NCSC, ["school_name"]),
    ("oakfieldprimaryschool", NCSC, ["school_name"]),
    ("Primary-School-9", SCHOOL, []),  # generic words alone are not the school's name
    ("Ünïcode-Pässwörd-9", SCHOOL, []),
]


@pytest.mark.parametrize(("password", "policy", "expected"), CASES)
def test_policy_names_every_broken_rule(password, policy, expected):
    assert broken_rules(password, policy, NAME) == expected


def test_personal_words_are_refused():
    assert broken_rules("Finnegan-77!x", SCHOOL, NAME, ("finnegan.teacher@school.example",)) == [
        "personal_information"
    ]


def test_long_passphrases_are_allowed_up_to_the_cap_and_beyond_is_named():
    assert broken_rules("Aa1!" + "x" * 60, SCHOOL, NAME) == []
    assert broken_rules("Aa1!" + "x" * (MAX_LENGTH - 4), SCHOOL, NAME) == []
    assert broken_rules("Aa1!" + "x" * MAX_LENGTH, SCHOOL, NAME) == ["max_length"]


def test_deny_list_is_loaded_and_large():
    common = common_passwords()
    assert 5_000 <= len(common) <= 10_000
    assert {"123456", "password", "qwerty"} <= common


def test_hash_is_argon2id_and_never_truncates():
    long = "Long passphrase, " * 8  # 136 characters
    stored = hash_password(long)
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, long).ok
    assert not verify_password(stored, long[:-1]).ok
    assert not verify_password(stored, long[:72]).ok


def test_wrong_password_and_garbage_hash_are_refused():
    stored = hash_password("Zx9!qwLm")
    assert not verify_password(stored, "Zx9!qwLn").ok
    assert not verify_password("not-a-hash", "Zx9!qwLm").ok


def test_weaker_parameters_ask_for_a_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("Zx9!qwLm")
    result = verify_password(weak, "Zx9!qwLm")
    assert result.ok and result.needs_rehash
    assert not verify_password(hash_password("Zx9!qwLm"), "Zx9!qwLm").needs_rehash
