"""E-mail addresses as identities: one spelling per address, and look-alikes of an address refused.

Addresses are kept NFKC-normalised and case-folded, so full-width letters, composed or decomposed
accents and case all name one account, and every lookup (login included) normalises the same way. Two
different addresses can still look alike (Latin a and Cyrillic a, U+0430): such addresses share a
skeleton, and a tenant has at most one user per skeleton.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 254
_SHAPE = re.compile(r"[^@]+@[^@]+\.[^@]+")

# Letters of other scripts drawn like Latin ones, after case folding (from Unicode's confusables list).
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "\N{CYRILLIC SMALL LETTER A}": "a",
        "\N{CYRILLIC SMALL LETTER ES}": "c",
        "\N{CYRILLIC SMALL LETTER KOMI DE}": "d",
        "\N{CYRILLIC SMALL LETTER IE}": "e",
        "\N{CYRILLIC SMALL LETTER SHHA}": "h",
        "\N{CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I}": "i",
        "\N{CYRILLIC SMALL LETTER JE}": "j",
        "\N{CYRILLIC SMALL LETTER PALOCHKA}": "l",
        "\N{CYRILLIC SMALL LETTER O}": "o",
        "\N{CYRILLIC SMALL LETTER ER}": "p",
        "\N{CYRILLIC SMALL LETTER QA}": "q",
        "\N{CYRILLIC SMALL LETTER DZE}": "s",
        "\N{CYRILLIC SMALL LETTER WE}": "w",
        "\N{CYRILLIC SMALL LETTER HA}": "x",
        "\N{CYRILLIC SMALL LETTER U}": "y",
        "\N{CYRILLIC SMALL LETTER STRAIGHT U}": "y",
        # Greek
        "\N{GREEK SMALL LETTER ALPHA}": "a",
        "\N{GREEK SMALL LETTER IOTA}": "i",
        "\N{GREEK LETTER YOT}": "j",
        "\N{GREEK SMALL LETTER KAPPA}": "k",
        "\N{GREEK SMALL LETTER NU}": "v",
        "\N{GREEK SMALL LETTER OMICRON}": "o",
        "\N{GREEK SMALL LETTER RHO}": "p",
        "\N{GREEK SMALL LETTER UPSILON}": "u",
        "\N{GREEK SMALL LETTER CHI}": "x",
        # Latin letters outside ASCII that pass for ASCII ones
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
        "\N{LATIN SMALL LETTER ALPHA}": "a",
        "\N{LATIN SMALL LETTER SCRIPT G}": "g",
        "\N{LATIN SMALL LETTER IOTA}": "i",
    }
)


def normalize_email(value: str) -> str:
    """The one spelling of an address: NFKC, case-folded (folding can undo NFKC, hence the second pass)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value.strip()).casefold())


def email_skeleton(value: str) -> str:
    """What an address looks like: equal for addresses a reader cannot tell apart."""
    return normalize_email(value).translate(_HOMOGLYPHS)


def email_problem(normalized: str) -> str | None:
    """What is wrong with a normalised address that its spelling before normalising hid, if anything:
    NFKC turns a full-width at sign (U+FF20) into a second ``@``, and invisible characters pass a pattern."""
    if len(normalized) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    if any(unicodedata.category(char)[0] in "CZ" for char in normalized):
        return "must not contain spaces or invisible characters"
    if not _SHAPE.fullmatch(normalized):
        return "must be one address, like name@example.com"
    return None
