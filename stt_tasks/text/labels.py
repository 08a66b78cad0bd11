"""A label validator driven by data.

A language pack describes its label rules as tables (characters to reject, remove, turn into a
space, spell out or transliterate, and the characters a label may finally hold). This module turns
those tables into one fast function, so the rules stay readable and adding a language adds tables,
not code.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Mapping, Optional, Pattern, Sequence, Tuple

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class LabelRules:
    """Label rules of one language, applied in the order of the fields below.

    - ``reject``: a regular expression; a label matching it anywhere is dropped (digits, scripts
      the model cannot learn from);
    - ``spelled_out``: symbols replaced by words (longest key first);
    - ``to_space`` / ``removed``: characters replaced by a space / deleted;
    - ``transliterated``: letters mapped to others (explicit table, applied after lower-casing);
    - ``strip_other_diacritics``: letters outside ``allowed`` lose their combining marks (NFD);
    - ``allowed``: every character a valid label may hold; a label with any other is dropped, so
      no odd character can reach the alphabet.
    """

    reject: Pattern[str]
    spelled_out: Mapping[str, str]
    to_space: str
    removed: str
    transliterated: Mapping[str, str]
    allowed: FrozenSet[str]
    strip_other_diacritics: bool = True
    _spelled: Optional[Pattern[str]] = field(default=None, compare=False, repr=False)
    _table: Dict[int, Optional[str]] = field(default_factory=dict, compare=False, repr=False)
    _outside: Optional[Pattern[str]] = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = sorted(self.spelled_out, key=len, reverse=True)
        spelled = re.compile("|".join(re.escape(k) for k in keys)) if keys else None
        table: Dict[int, Optional[str]] = {ord(c): " " for c in self.to_space}
        table.update({ord(c): None for c in self.removed})
        table.update({ord(k): v for k, v in self.transliterated.items()})
        object.__setattr__(self, "_spelled", spelled)
        object.__setattr__(self, "_table", table)
        # One regex search finds a character outside ``allowed``: most labels have none, so the
        # per-character work below is skipped (it dominates when normalising LM text).
        outside = re.compile("[^{}]".format("".join(re.escape(c) for c in sorted(self.allowed))))
        object.__setattr__(self, "_outside", outside)

    def validate(self, label: str) -> Optional[str]:
        """The normalised label, or None when the clip must be dropped."""
        text = unicodedata.normalize("NFKC", label)
        if self.reject.search(text):
            return None
        text = text.strip().lower()
        if self._spelled is not None:
            text = self._spelled.sub(lambda m: " {} ".format(self.spelled_out[m.group(0)]), text)
        text = text.translate(self._table)
        assert self._outside is not None
        if self.strip_other_diacritics and self._outside.search(text):
            text = "".join(self._strip_diacritics(c) for c in text)
        text = _SPACES.sub(" ", text).strip()
        if not text or self._outside.search(text):
            return None
        return text

    def _strip_diacritics(self, char: str) -> str:
        if char in self.allowed or char.isspace():
            return char
        base = unicodedata.normalize("NFD", char)
        return "".join(c for c in base if not unicodedata.combining(c))

    def first_disallowed(self, text: str) -> Optional[Tuple[int, str]]:
        """Position and character of the first character outside ``allowed``, if any."""
        for position, char in enumerate(text):
            if char not in self.allowed:
                return position, char
        return None


def to_ascii(label: str, ascii_transliterated: Mapping[str, str]) -> str:
    """English-compatible form: ligatures spelled out, accents removed, non-ASCII dropped."""
    text = "".join(ascii_transliterated.get(c, c) for c in unicodedata.normalize("NFKC", label))
    text = unicodedata.normalize("NFKD", text)
    return text.encode("ascii", "ignore").decode("ascii")


def char_ranges(*ranges: Tuple[int, int]) -> str:
    """A regex character class body for Unicode code point ranges."""
    return "".join("\\u{:04x}-\\u{:04x}".format(lo, hi) for lo, hi in ranges)


def alphabet_set(chars: Sequence[str]) -> FrozenSet[str]:
    return frozenset(chars)
