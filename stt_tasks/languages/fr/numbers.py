"""French numbers written with digits, spelled out as said: "50 000" -> "cinquante mille".

The label rules reject any digit (a model cannot learn "1984" from audio saying "mille neuf cent
quatre-vingt-quatre"), so corpora whose transcripts keep digits (CCPMF, datasets.md 3.7) spell them
out first, as the original importer did with ``num2words(lang="fr")``: thousands groups joined
("1 500 000"), ``hh:mm[:ss]`` times said with "heures", "minutes", "secondes", decimals with a comma
said "virgule", and ordinals ("1er", "2e"). A token mixing digits and letters ("3D", "A380") is left
alone: its reading is unknown, so the label rules drop the clip rather than guess.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Callable, Match

#: "50 000", "1 500 000", "2.500.000": groups of three digits after a group of one to three.
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d]|[.,]\d)")
_THOUSANDS_DOTS = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?![\d]|[.,]\d)")
_TIME = re.compile(r"(?<![\w:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\w:])")
_ORDINAL = re.compile(r"(?<![\w])(\d+)(er|re|ère|e|ème|eme)(?![\w])")
_NUMBER = re.compile(r"(?<![\w])\d+(?:[.,]\d+)?(?![\w])")
#: Up to hundreds of billions: longer digit strings are codes, and num2words's readings get absurd.
_MAX_DIGITS = 12


def _num2words() -> Callable[..., str]:
    try:
        from num2words import num2words
    except ImportError:  # pragma: no cover - the images and pyproject.toml install it
        raise ImportError(
            "num2words is not installed: spelling out CCPMF numbers needs it. Install the version "
            "pinned in docker/requirements-cpu.txt (pip install num2words)."
        ) from None
    return num2words  # type: ignore[no-any-return]


def _cardinal(digits: str, feminine: bool = False) -> str:
    said = _num2words()(Decimal(digits.replace(",", ".")), lang="fr")
    # "une heure", "vingt et une minutes": the units counted here are feminine.
    return said[:-2] + "une" if feminine and said.endswith("un") else said


def _spelled(match: Match[str]) -> str:
    digits = match.group(0)
    if len(re.split(r"[.,]", digits)[0].lstrip("0")) > _MAX_DIGITS:
        return digits  # an identifier, not a quantity anyone reads out: the label rules drop the clip
    return " {} ".format(_cardinal(digits))


def _time(match: Match[str]) -> str:
    hours, minutes, seconds = int(match.group(1)), int(match.group(2)), match.group(3)
    said = ["{} heure{}".format(_cardinal(str(hours), feminine=True), "s" if hours > 1 else "")]
    if minutes or seconds:
        said.append("{} minute{}".format(_cardinal(str(minutes), feminine=True), "s" if minutes > 1 else ""))
    if seconds and int(seconds):
        said.append("et {} seconde{}".format(_cardinal(seconds, feminine=True), "s" if int(seconds) > 1 else ""))
    return " {} ".format(" ".join(said))


def _ordinal(match: Match[str]) -> str:
    number, suffix = int(match.group(1)), match.group(2)
    if number == 1:
        return " première " if suffix in ("re", "ère") else " premier "
    if suffix in ("er", "re", "ère"):  # "2er" is a typo, not a reading: left for the rules to reject
        return match.group(0)
    said = _num2words()(number, lang="fr", to="ordinal")
    # num2words keeps the plural "s" of "quatre-vingts"/"deux cents" before "-ième".
    return " {} ".format(said.replace("vingtsième", "vingtième").replace("centsième", "centième"))


def spell_out_numbers(text: str) -> str:
    """``text`` with every number written in digits spelled out in French words."""
    if not any(c.isdigit() for c in text):
        return text
    text = _THOUSANDS.sub(lambda m: re.sub(r"\D", "", m.group(0)), text)
    text = _THOUSANDS_DOTS.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _TIME.sub(_time, text)
    text = _ORDINAL.sub(_ordinal, text)
    return _NUMBER.sub(_spelled, text)
