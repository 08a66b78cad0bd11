"""French language pack: label rules, model metadata, dataset parameters, known releases.

The label rules are those of the original pipeline's ``fr/validate_label.py``, written as tables.
Two deliberate differences: a label left with a character outside the French alphabet is dropped
(instead of silently adding that character to the alphabet), and typographic apostrophes become a
space exactly as the original did, so "l’homme" gives "l homme" and "l'homme" stays "l'homme".
The original normalised with NFKC first, which made its "º", "nº", "nºˢ", "½" and "¼" rules dead
("nº" had become "no"); those are spelled out before NFKC here, so they do what datasets.md 4 says.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

from stt_tasks.languages import LanguagePack, ModelMetadata, read_common_voice_releases
from stt_tasks.text.labels import LabelRules, char_ranges

_GREEK_SPELLED_OUT = {
    "α": "alpha",
    "β": "bêta",
    "γ": "gamma",
    "δ": "delta",
    "κ": "kappa",
    "μ": "mu",
    "π": "pi",
    "σ": "sigma",
    "τ": "tau",
    "ω": "oméga",
}

_SYMBOLS_SPELLED_OUT = {
    "n°": "numéro",
    "°": "degré",
    "±": "plus ou moins",
    "+": "plus",
    "§": "paragraphe",
    "$": "dollars",
    "£": "livres",
    "€": "euros",
    "&": "et",
}

#: Symbols NFKC would change ("º" -> "o", "ˢ" -> "s", "½" -> "1⁄2"), so spelled out before it.
_BEFORE_NFKC = {
    "nºˢ": "numéros",
    "nº": "numéro",
    "º": "degré",
    "½": "demi",
    "¼": "quart",
}

_OTHER_GREEK = "".join(
    chr(c) for c in range(0x0370, 0x0400) if chr(c) not in _GREEK_SPELLED_OUT and chr(c).isalpha()
)

# Digits and asterisks make a transcript unreadable as said; other scripts cannot be learnt from.
_REJECT = re.compile(
    "[0-9*"
    + re.escape(_OTHER_GREEK)
    + char_ranges(
        (0x0250, 0x02AF),  # IPA letters (ʔ ɛ ə ɔ ...)
        (0x0400, 0x052F),  # Cyrillic
        (0x0530, 0x058F),  # Armenian
        (0x0590, 0x05FF),  # Hebrew
        (0x0600, 0x06FF),  # Arabic
        (0x1200, 0x137F),  # Ethiopic
        (0x3040, 0x30FF),  # Hiragana, Katakana
        (0x3400, 0x9FFF),  # CJK ideographs
        (0xAC00, 0xD7AF),  # Hangul
    )
    + "]"
)

FRENCH_LETTERS = "àâçèéêëîïôùûüÿœ"

RULES = LabelRules(
    reject=_REJECT,
    spelled_out={**_SYMBOLS_SPELLED_OUT, **_GREEK_SPELLED_OUT},
    to_space="-\u2010\u2011\u2012\u2013\u2014\u2015\u2019\u2026_/\u00a0\u202f",
    removed='=|.,?!"(){}:;«»%`·×‘“”„†′‹›⁄∅∈∞≥☉ː\u0301\u0307\u0320\u0331\u200b\ufeff',
    transliterated={"æ": "é", "ß": "ss", "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "ð": "d", "þ": "th", "^": "e"},
    allowed=frozenset(" '" + string.ascii_lowercase + FRENCH_LETTERS),
    before_nfkc=_BEFORE_NFKC,
)

METADATA = ModelMetadata(
    author="CommonVoice-FR-Team",
    model_name="cv-fr",
    model_version="1.2",
    contact_info="https://discourse.mozilla.org/c/voice/fr",
    license="MIT-0",
    language="fr-FR",
    min_stt_version="1.0.0",
    max_stt_version="1.4.0",
    description="A free and re-usable French model for Speech-to-Text",
)

#: every French release and delta from 7.0 to 25.0 (sha256, size, validated hours), from cv-dataset
COMMON_VOICE_RELEASES = read_common_voice_releases(Path(__file__).parent / "common_voice_releases.json")

_LM_RELEASE = "https://github.com/Common-Voice/commonvoice-fr/releases/download/lm-0.1/"

PACK = LanguagePack(
    code="fr",
    rules=RULES,
    ascii_transliterated={"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "ł": "l", "đ": "d"},
    metadata=METADATA,
    export_zip_name="fr-fr",
    common_voice_releases=COMMON_VOICE_RELEASES,
    # The corpora of this language, each parsed into its module's Settings (Common Voice needs none).
    corpus_parameters={
        "lingua-libre": {
            "qid": 21,
            "iso639_3": "fra",
            "english_name": "French",
            "skiplist": "lingua_libre_skiplist.txt",
        },
        "trainingspeech": {
            "release": "ts_2019-04-11_fr_FR",
            "url": "https://drive.infomaniak.com/app/share/327683/85ec2469-8a64-4a8a-8de0-43e262d32d38/16/download",
        },
        "african-accented-french": {},
        "m-ailabs": {"language": "fr_FR", "skipped_books": ["monsieur_lecoq", "les_mysteres_de_paris"]},
        "mls": {"language": "french"},
        "ccpmf": {"max_seconds": 4.5},
        "lm": {
            # The original pipeline's LM corpora (datasets.md 6.1): read from sources/, or
            # downloaded there by `lm --download`.
            "sources": [
                {"name": "wiki.txt.xz", "url": _LM_RELEASE + "wiki.txt.xz"},
                {"name": "debats-assemblee-nationale.txt.xz", "url": _LM_RELEASE + "debats-assemblee-nationale.txt.xz"},
            ],
        },
    },
    folder=Path(__file__).parent,
)
