"""SPDX licence ids as the packages rule compares them: by their current id, whichever spelling wrote them.

SPDX deprecated `GPL-2.0` for `GPL-2.0-only`, `GPL-2.0+` for `GPL-2.0-or-later`, `AGPL-3.0` for
`AGPL-3.0-only` and so on, but Trivy, older SBOMs and package managers still write the old ids: a
policy denying one spelling must deny the other. The current id of each deprecated one comes from
the licence index that license-expression ships (ScanCode's LicenseDB, kept in step with SPDX's
list); the ids of a licence with its exception, which SPDX deprecated for `licence WITH exception`,
are the one table kept here, since that index does not map them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from license_expression import get_license_index

_OPERATORS = {"AND", "OR"}

# SPDX's deprecated ids of a licence with an exception, and the `licence WITH exception` that replaced each.
_WITH_EXCEPTION = {
    "GPL-2.0-with-autoconf-exception": ("GPL-2.0-only", "Autoconf-exception-2.0"),
    "GPL-2.0-with-bison-exception": ("GPL-2.0-only", "Bison-exception-2.2"),
    "GPL-2.0-with-classpath-exception": ("GPL-2.0-only", "Classpath-exception-2.0"),
    "GPL-2.0-with-font-exception": ("GPL-2.0-only", "Font-exception-2.0"),
    "GPL-2.0-with-GCC-exception": ("GPL-2.0-only", "GCC-exception-2.0"),
    "GPL-3.0-with-autoconf-exception": ("GPL-3.0-only", "Autoconf-exception-3.0"),
    "GPL-3.0-with-GCC-exception": ("GPL-3.0-only", "GCC-exception-3.1"),
}
_WITH_EXCEPTION_BY_KEY = {deprecated.upper(): current for deprecated, current in _WITH_EXCEPTION.items()}


@cache
def _current_ids() -> dict[str, str]:
    """Every spelling the index knows (upper-cased), current or deprecated, to the current SPDX id."""
    ids: dict[str, str] = {}
    for entry in get_license_index():
        current = entry.get("spdx_license_key")
        if current:
            for spelling in (current, *entry.get("other_spdx_license_keys", ())):
                ids.setdefault(spelling.upper(), current)
    return ids


def current_id(licence: str) -> str:
    """The current SPDX id of a licence id: `GPL-2.0` and `GPL-2.0-only` give `GPL-2.0-only`, `GPL-2.0+` gives
    `GPL-2.0-or-later` (not `-only`: the `+` lets the licensee pick a later version). An id the index does not
    know is returned as it is, as is the `+` of one that has no `-or-later` id."""
    ids = _current_ids()
    known = ids.get(licence.upper())
    if known:
        return known
    if licence.endswith("+"):
        base = current_id(licence[:-1])
        if base.endswith("-only"):
            return ids.get(f"{base[: -len('-only')]}-or-later".upper(), f"{base}+")
        return f"{base}+"
    return licence


@dataclass(frozen=True)
class Licence:
    """One licence of an SPDX expression, by its current id, with the exception (`WITH`) it is under, if any;
    `text` is how it was written."""

    id: str
    exception: str | None = None
    text: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return self.id.upper(), self.exception.upper() if self.exception else None

    def shown(self) -> str:
        current = f"{self.id} WITH {self.exception}" if self.exception else self.id
        return self.text if self.text.upper() == current.upper() else f"{self.text} ({current})"


def _licence(word: str, exception: str | None = None) -> Licence:
    deprecated = _WITH_EXCEPTION_BY_KEY.get(word.upper())
    if deprecated and exception is None:
        return Licence(*deprecated, text=word)
    text = f"{word} WITH {exception}" if exception else word
    return Licence(current_id(word), current_id(exception) if exception else None, text)


def expression_licences(expression: str) -> list[Licence]:
    """The licences of an SPDX expression, read simply: the words left after removing parentheses, AND and OR
    (in any case), a word after WITH being the exception of the one before it.

    Deliberately lenient: SBOMs hold expressions that are not quite SPDX's, and the words of those still count.
    """
    licences: list[Licence] = []
    words = [word for word in re.findall(r"[^\s()]+", expression) if word.upper() not in _OPERATORS]
    index = 0
    while index < len(words):
        word = words[index]
        if word.upper() == "WITH":  # WITH with nothing before it: its exception still counts
            index += 1
            continue
        if index + 2 < len(words) and words[index + 1].upper() == "WITH" and words[index + 2].upper() != "WITH":
            licences.append(_licence(word, words[index + 2]))
            index += 3
        else:
            licences.append(_licence(word))
            index += 1
    return licences


# An SPDX licence or exception id (idstring, `+`, a LicenseRef of another document), not an operator.
_ID = re.compile(r"(?!(?:AND|OR|WITH)$)(?:DocumentRef-[A-Za-z0-9.-]+:)?[A-Za-z0-9.-]+\+?", re.IGNORECASE)


def denied_licence(entry: str) -> Licence:
    """A denyLicenses entry: a licence id, or `licence WITH exception`, with whitespace around it left out.

    Raises ValueError for anything else: an entry that is no id would be compared with every id and match
    none, so a policy with `AGPL-*` or `GPL-3.0-only OR AGPL-3.0-only` would deny nothing."""
    words = entry.split()
    if not words:
        raise ValueError("must not be empty")
    if len(words) == 1 and _ID.fullmatch(words[0]):
        return _licence(words[0])
    if len(words) == 3 and words[1].upper() == "WITH" and _ID.fullmatch(words[0]) and _ID.fullmatch(words[2]):
        return _licence(words[0], words[2])
    if "*" in entry or "?" in entry:
        why = "denyLicenses takes no globs; list each licence, e.g. AGPL-3.0-only and AGPL-3.0-or-later"
    else:
        why = "denyLicenses takes no expressions (AND, OR, parentheses); list each licence as its own entry"
    raise ValueError(
        f"{entry.strip()!r} is not an SPDX licence id (such as AGPL-3.0-only) or <licence> WITH <exception>: {why}"
    )


def denies(denied: Licence, licence: Licence) -> bool:
    """Whether a denied licence holds for one of a package's: a licence id denies it with or without an
    exception, an exception id denies every licence under it, `licence WITH exception` only that pair."""
    if denied.exception is not None:
        return denied.key == licence.key
    return denied.key[0] in licence.key
