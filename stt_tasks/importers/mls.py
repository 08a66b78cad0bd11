"""Multilingual LibriSpeech, French (Opus): its own speaker-disjoint train/dev/test are kept.

Layout (datasets.md 3.6): ``mls_french_opus/<split>/transcripts.txt`` (``<spk>_<book>_<seg>\\t<text>``)
and ``<split>/audio/<spk>/<book>/<id>.opus``. Clips are converted to 16 kHz WAV like every other
corpus (the original pointed the CSVs at the Opus files, decoded at 48 kHz on every epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.importers import corpus, records
from stt_tasks.importers.records import SPLITS, ClipRecord, SourceIssues
from stt_tasks.importers.tsv import read_lines
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

SPEC = records.CorpusSpec(name="MLS", ms_per_char=30, max_seconds=15.0, min_seconds=0.85)


@dataclass(frozen=True)
class Settings:
    """The language of the MLS tarball (``mls_<language>_opus.tar.gz``, the English name in lower case)."""

    language: str


def _corpus_root(root: Path) -> Path:
    for candidate in [root] + sorted(root.glob("mls_*_opus")):
        if (candidate / "train" / "transcripts.txt").is_file():
            return candidate
    raise BadInputError("{}: no mls_<language>_opus/train/transcripts.txt; is this the MLS Opus tarball?".format(root))


def mls_records(root: Path, issues: SourceIssues) -> Iterator[ClipRecord]:
    """One record per transcript line, in the split whose folder holds it."""
    corpus = _corpus_root(root)
    for split in SPLITS:
        transcripts = corpus / split / "transcripts.txt"
        if not transcripts.is_file():
            raise BadInputError("{} is missing: the MLS archive is incomplete, download it again.".format(transcripts))
        for number, line in read_lines(transcripts, issues):
            where = "{}/transcripts.txt line {}".format(split, number)
            fields = line.split("\t")
            ids = fields[0].split("_")
            if len(fields) != 2 or len(ids) != 3:
                issues.add("malformed_row", "{} ({} fields)".format(where, len(fields)))
                continue
            speaker, book, _segment = ids
            clip_id = "{}/audio/{}/{}/{}".format(split, speaker, book, fields[0])
            yield ClipRecord(
                audio=corpus / (clip_id + ".opus"),
                transcript=fields[1],
                speaker=speaker,
                clip_id=clip_id,
                origin=where,
                split=split,
            )


def prepare_mls(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import MLS into ``extracted/data/MLS/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    return engine.import_corpus(SPEC, data_root, pack, english_compatible, workers, source, lambda issues: mls_records(root, issues))


CORPUS: corpus.CorpusSpec[Settings] = corpus.CorpusSpec(
    name="mls",
    help="Multilingual LibriSpeech (Opus): LibriVox audiobooks, speaker-disjoint splits",
    folder=SPEC.name,
    archive="mls_{language}_opus.tar.gz",
    url="https://dl.fbaipublicfiles.com/mls/{archive}",
    prepare=prepare_mls,
    records=mls_records,
    settings=Settings,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    rank=5,
)
