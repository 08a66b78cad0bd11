"""Lingua Libre (Q21, fra, French): a zip of per-speaker folders whose file names are the transcripts.

Layout (datasets.md 3.2): ``Q21-fra-French/<user>[ (<speaker label>)]/<transcript>[ (<qualifier>)].ogg``.
Speakers listed in the language pack's skiplist are left out. There is no official split: the
engine splits by a stable hash of the user name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Pattern

from stt_tasks.importers import corpus, records
from stt_tasks.importers.records import ClipRecord, SourceIssues
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

SPEC = records.CorpusSpec(name="lingualibre", ms_per_char=20, max_seconds=10.0)
AUDIO_SUFFIXES = (".ogg", ".flac", ".wav")
_QUALIFIER = re.compile(r"\s*\([^()]*\)$")


@dataclass(frozen=True)
class Settings:
    """The language's Lingua Libre dataset (``Q<qid>-<iso639_3>-<english_name>.zip``) and skiplist."""

    qid: int
    iso639_3: str
    english_name: str
    #: file of the language pack listing speakers to leave out (regular expressions); "" for none
    skiplist: str = ""


def load_skiplist(pack: LanguagePack) -> List[Pattern[str]]:
    """The skiplist's regular expressions (``#`` comments and blank lines ignored)."""
    name = CORPUS.settings_of(pack).skiplist
    if not name:
        return []
    lines = pack.data_file(name).read_text(encoding="utf-8").splitlines()
    return [re.compile(line.strip()) for line in lines if line.strip() and not line.startswith("#")]


def _audio_root(root: Path) -> Path:
    """``Q21-fra-French/`` inside the extracted zip (or the extraction folder itself)."""
    tops = [p for p in root.iterdir() if p.is_dir() and re.match(r"^Q\d+-", p.name)]
    return tops[0] if len(tops) == 1 else root


def speaker_of(folder: str) -> str:
    """``"Marie L (Marie Lefèvre)"`` is the user ``Marie L``."""
    return _QUALIFIER.sub("", folder)


def lingua_libre_records(root: Path, skiplist: List[Pattern[str]], issues: SourceIssues) -> Iterator[ClipRecord]:
    """One record per recording; the transcript is the file name without a trailing ``(qualifier)``."""
    audio_root = _audio_root(root)
    for path in sorted(audio_root.rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(audio_root).as_posix()
        try:
            relative.encode("utf-8")
        except UnicodeEncodeError:
            issues.add("undecodable_name", repr(relative))
            continue
        relative = unicodedata.normalize("NFC", relative)
        if any(pattern.match(relative) for pattern in skiplist):
            issues.add("skiplisted_speaker", relative)
            continue
        if "/" not in relative:
            issues.add("outside_speaker_folder", relative)
            continue
        folder = relative.split("/", 1)[0]
        yield ClipRecord(
            audio=path,
            transcript=_QUALIFIER.sub("", path.stem),
            speaker=speaker_of(folder),
            clip_id=relative.rsplit(".", 1)[0],
            origin=relative,
        )


def prepare_lingua_libre(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import Lingua Libre into ``extracted/data/lingualibre/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    skiplist = load_skiplist(pack)
    return engine.import_corpus(
        SPEC,
        data_root,
        pack,
        english_compatible,
        workers,
        source,
        lambda issues: lingua_libre_records(root, skiplist, issues),
        more_inputs={"skiplist": [p.pattern for p in skiplist]},
    )


CORPUS: corpus.CorpusSpec[Settings] = corpus.CorpusSpec(
    name="lingua-libre",
    help="Lingua Libre: recordings of words and sentences, named after their transcripts",
    folder=SPEC.name,
    archive="Q{qid}-{iso639_3}-{english_name}.zip",
    url="https://lingualibre.fr/datasets/{archive}",
    prepare=prepare_lingua_libre,
    records=lingua_libre_records,
    settings=Settings,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    rank=1,
)
