"""Language packs: everything language-specific lives in one folder per language.

A pack provides label rules, model metadata, dataset parameters and sample text. Adding a language
is adding a folder with a module exposing ``PACK``.
"""

from __future__ import annotations

import importlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.text.labels import LabelRules, to_ascii

#: Coqui's stock English alphabet without its comments: space, a-z, apostrophe.
ENGLISH_ALPHABET: Tuple[str, ...] = (" ",) + tuple(string.ascii_lowercase) + ("'",)
ENGLISH_ALPHABET_SET: FrozenSet[str] = frozenset(ENGLISH_ALPHABET)
_NOT_ENGLISH = re.compile("[^{}]".format(re.escape("".join(ENGLISH_ALPHABET))))


@dataclass(frozen=True)
class ModelMetadata:
    """What ``--export_*`` flags embed in the model and what the model card shows."""

    author: str
    model_name: str
    model_version: str
    contact_info: str
    license: str
    language: str
    min_stt_version: str
    max_stt_version: str
    description: str


@dataclass(frozen=True)
class CommonVoiceRelease:
    """A known Common Voice release (full or delta) of this language, with the published checksum."""

    version: str
    filename: str
    #: None: no trustworthy checksum is published (the size is still checked)
    sha256: Optional[str]
    size: Optional[int] = None
    delta: bool = False
    #: validated hours (of a delta: the hours it adds), from the cv-dataset statistics
    valid_hours: Optional[float] = None


def read_common_voice_releases(path: Path) -> Tuple[CommonVoiceRelease, ...]:
    """The known releases listed in a language pack's JSON table (``{"releases": [...]}``).

    Kept as data, generated from the cv-dataset statistics, so a new release is one entry, not code.
    """
    entries = json.loads(path.read_text(encoding="utf-8"))["releases"]
    return tuple(CommonVoiceRelease(**entry) for entry in entries)


@dataclass(frozen=True)
class LanguagePack:
    code: str
    rules: LabelRules
    ascii_transliterated: Mapping[str, str]
    metadata: ModelMetadata
    export_zip_name: str
    common_voice_releases: Tuple[CommonVoiceRelease, ...]
    #: the corpora this language has, by CLI name, with the values of each corpus's settings
    #: (parsed and type-checked by its module's ``Settings``: see ``importers.corpus``); and ``lm``
    corpus_parameters: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    folder: Path = Path(".")

    def validate_label(self, label: str, english_compatible: bool = False) -> Optional[str]:
        """Normalised transcript, or None when the clip must be dropped.

        English-compatible labels are the language's labels made ASCII afterwards (so that symbols
        are still spelled out and "cœur" becomes "coeur" rather than "cur").
        """
        return self.validate_labels([label.replace("\n", " ")], english_compatible)[0]

    def validate_labels(self, labels: Sequence[str], english_compatible: bool = False) -> List[Optional[str]]:
        """:meth:`validate_label` of many newline-free labels at once (fast: LM text, line by line)."""
        results = self.rules.validate_lines(labels)
        if not english_compatible:
            return results
        valid = [text for text in results if text is not None]
        ascii_lines = iter(to_ascii("\n".join(valid), self.ascii_transliterated).split("\n"))
        english: List[Optional[str]] = []
        for text in results:
            if text is not None:
                text = " ".join(next(ascii_lines).split())
                if not text or _NOT_ENGLISH.search(text):
                    text = None
            english.append(text)
        return english

    def allowed_characters(self, english_compatible: bool = False) -> FrozenSet[str]:
        """Every character a valid transcript may hold, hence the largest possible alphabet."""
        return ENGLISH_ALPHABET_SET if english_compatible else self.rules.allowed

    def release(self, filename: str) -> Optional[CommonVoiceRelease]:
        for release in self.common_voice_releases:
            if release.filename == filename:
                return release
        return None

    def data_file(self, name: str) -> Path:
        return self.folder / name

    def sample_sentences(self) -> List[str]:
        return _lines(self.data_file("sample_sentences.txt"))

    def sample_lm_text(self) -> List[str]:
        return _lines(self.data_file("sample_lm.txt"))


def _lines(path: Path) -> List[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


_CACHE: Dict[str, LanguagePack] = {}


def load_language(code: str) -> LanguagePack:
    """The language pack of ``code`` (``stt_tasks/languages/<code>/``)."""
    if code not in _CACHE:
        try:
            module = importlib.import_module("stt_tasks.languages.{}".format(code))
        except ImportError:
            available = sorted(p.name for p in Path(__file__).parent.iterdir() if (p / "__init__.py").is_file())
            raise BadInputError(
                "no language pack {!r}; available: {}. Add stt_tasks/languages/{}/ to support it.".format(
                    code, ", ".join(available), code
                )
            ) from None
        _CACHE[code] = module.PACK
    return _CACHE[code]
