"""Multilingual LibriSpeech, French (Opus): its own speaker-disjoint train/dev/test are kept.

Layout (datasets.md 3.6): ``mls_french_opus/<split>/transcripts.txt`` (``<spk>_<book>_<seg>\\t<text>``)
and ``<split>/audio/<spk>/<book>/<id>.opus``. Clips are converted to 16 kHz WAV like every other
corpus (the original pointed the CSVs at the Opus files, decoded at 48 kHz on every epoch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.importers import engine, registry
from stt_tasks.importers.records import SPLITS, ClipRecord, CorpusSpec, SourceIssues
from stt_tasks.importers.tsv import read_lines
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

CORPUS = "mls"
SPEC = CorpusSpec(name="MLS", ms_per_char=30, max_seconds=15.0, min_seconds=0.85)


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
) -> engine.ImportResult:
    """Import MLS into ``extracted/data/MLS/``."""
    root, source = registry.unpacked(CORPUS, pack, data_root, download, mirror)
    return engine.import_corpus(SPEC, data_root, pack, english_compatible, workers, source, lambda issues: mls_records(root, issues))
