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
from typing import Dict, FrozenSet, List, Mapping, Optional, Pattern, Sequence, Tuple


@dataclass(frozen=True)
class LabelRules:
    """Label rules of one language, applied in the order of the fields below.

    - ``before_nfkc``: symbols that NFKC would turn into letters or digits ("º" into "o", "½" into
      "1⁄2"), spelled out before it, ignoring case; every key holds one such character;
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
    before_nfkc: Mapping[str, str] = field(default_factory=dict)
    _spelled: Optional[Pattern[str]] = field(default=None, compare=False, repr=False)
    _before_nfkc: Optional[Pattern[str]] = field(default=None, compare=False, repr=False)
    _nfkc_triggers: FrozenSet[str] = field(default=frozenset(), compare=False, repr=False)
    _table: Dict[int, Optional[str]] = field(default_factory=dict, compare=False, repr=False)
    _replaced: Dict[Optional[str], Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = sorted(self.spelled_out, key=len, reverse=True)
        spelled = re.compile("|".join(re.escape(k) for k in keys)) if keys else None
        table: Dict[int, Optional[str]] = {ord(c): " " for c in self.to_space}
        table.update({ord(c): None for c in self.removed})
        table.update({ord(k): v for k, v in self.transliterated.items()})
        object.__setattr__(self, "_spelled", spelled)
        early = sorted(self.before_nfkc, key=len, reverse=True)
        if early:
            object.__setattr__(self, "_before_nfkc", re.compile("|".join(re.escape(k) for k in early), re.IGNORECASE))
            # Scanning for a few characters is much faster than running the pattern over LM text.
            triggers = {c for key in early for c in key if unicodedata.normalize("NFKC", c) != c}
            object.__setattr__(self, "_nfkc_triggers", frozenset(triggers))
        object.__setattr__(self, "_table", table)
        # str.translate looks every character up; a regex per kind of replacement only stops at the
        # few characters concerned, several times faster on long blocks of ordinary text.
        by_kind: Dict[Optional[str], str] = {}
        for code, replacement in table.items():
            kind = replacement if replacement in (None, " ") else "other"
            by_kind[kind] = by_kind.get(kind, "") + re.escape(chr(code))
        object.__setattr__(self, "_replaced", {k: re.compile("[{}]".format(v)) for k, v in by_kind.items()})

    def validate(self, label: str) -> Optional[str]:
        """The normalised label, or None when the clip must be dropped."""
        # A newline inside a label is just whitespace: the same as a space at every rule.
        return self.validate_lines([label.replace("\n", " ")])[0]

    def validate_lines(self, lines: Sequence[str]) -> List[Optional[str]]:
        """:meth:`validate` of each line (lines hold no newline), the rules applied a block at a time.

        Every rule is local to a line and a newline is inert under all of them (NFKC, case,
        tables), so the rules run on the lines joined by newlines: whole-block string operations
        instead of per-line calls, which is what lets LM text (millions of short lines) keep pace
        with KenLM. Only the reject and final checks look at lines one by one.
        """
        text = "\n".join(lines)
        if self._before_nfkc is not None and any(c in text for c in self._nfkc_triggers):
            text = self._before_nfkc.sub(lambda m: " {} ".format(self.before_nfkc[m.group(0).lower()]), text)
        text = unicodedata.normalize("NFKC", text)
        rejected = [False] * len(lines)
        if self.reject.search(text):
            pieces = text.split("\n")
            rejected = [self.reject.search(piece) is not None for piece in pieces]
            text = "\n".join(piece for piece, reject in zip(pieces, rejected) if not reject)
        text = text.lower()
        if self._spelled is not None:
            text = self._spelled.sub(lambda m: " {} ".format(self.spelled_out[m.group(0)]), text)
        text = self._translate(text)
        # The characters present decide which of the remaining (rare) rules have work to do.
        present = set(text)
        marked = [c for c in present if c not in self.allowed and not c.isspace()]
        if self.strip_other_diacritics and marked:
            text = _char_class(marked).sub(lambda m: self._strip_diacritics(m.group(0)), text)
            present = set(text)
        blanks = [c for c in present if c.isspace() and c not in " \n"]
        if blanks:
            text = _char_class(blanks).sub(" ", text)
        while "  " in text:
            text = text.replace("  ", " ")
        outside = [c for c in present if c not in self.allowed and not c.isspace()]
        invalid = _char_class(outside).search if outside else None
        kept = iter(text.split("\n"))
        results: List[Optional[str]] = []
        for reject in rejected:
            if reject:
                results.append(None)
                continue
            label = next(kept).strip(" ")
            results.append(label if label and not (invalid and invalid(label)) else None)
        return results

    def _translate(self, text: str) -> str:
        """``text.translate(self._table)``: the table's replacements never meet each other's output."""
        for kind, pattern in self._replaced.items():
            if kind is None:
                text = pattern.sub("", text)
            elif kind == " ":
                text = pattern.sub(" ", text)
            else:
                text = pattern.sub(lambda m: self._table[ord(m.group(0))] or "", text)
        return text

    def _strip_diacritics(self, char: str) -> str:
        if char in self.allowed or char.isspace():
            return char
        base = unicodedata.normalize("NFD", char)
        return "".join(c for c in base if not unicodedata.combining(c))


def _char_class(chars: Sequence[str]) -> Pattern[str]:
    return re.compile("[{}]".format("".join(re.escape(c) for c in sorted(chars))))


def to_ascii(label: str, ascii_transliterated: Mapping[str, str]) -> str:
    """English-compatible form: ligatures spelled out, accents removed, non-ASCII dropped."""
    text = unicodedata.normalize("NFKC", label).translate({ord(k): v for k, v in ascii_transliterated.items()})
    text = unicodedata.normalize("NFKD", text)
    return text.encode("ascii", "ignore").decode("ascii")


def char_ranges(*ranges: Tuple[int, int]) -> str:
    """A regex character class body for Unicode code point ranges."""
    return "".join("\\u{:04x}-\\u{:04x}".format(lo, hi) for lo, hi in ranges)

