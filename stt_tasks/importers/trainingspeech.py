"""TrainingSpeech (``ts_2019-04-11_fr_FR``): a flat zip of WAVs with ``data.csv`` (path,duration,text).

Layout (datasets.md 3.3). The corpus has no speaker column and no official split; fragments are
named ``<SourceName>_<NNNN>.wav`` after the book chapter they come from, so the engine splits by a
stable hash of that source: a chapter never straddles train and test.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.importers import corpus, records
from stt_tasks.importers.records import ClipRecord, SourceIssues
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

SPEC = records.CorpusSpec(name="trainingspeech", ms_per_char=20, max_seconds=15.0)
COLUMNS = ("path", "duration", "text")
_FRAGMENT = re.compile(r"^(?P<source>.+)_\d+$")
#: TrainingSpeech's own clean-up before the label rules (datasets.md 3.3): typographic apostrophes
#: are apostrophes, and punctuation, brackets and the asterisk are spaces. The asterisk matters: the
#: book texts use it as a separator, and the label rules reject any label holding one.
_TEXT_FIXES = str.maketrans({"\u2019": "'", "\u00a0": " ", **{c: " " for c in "°-,;!?.()[]*…—"}})


@dataclass(frozen=True)
class Settings:
    """The TrainingSpeech release (``<release>.zip``) and where it is published."""

    release: str
    url: str


def _data_csv(root: Path) -> Path:
    found = sorted(root.rglob("data.csv"))
    if not found:
        raise BadInputError("{}: no data.csv in the TrainingSpeech archive; download it again.".format(root))
    return found[0]


def trainingspeech_records(root: Path, issues: SourceIssues) -> Iterator[ClipRecord]:
    """One record per ``data.csv`` row; a row that is not UTF-8 or lacks fields is counted and skipped."""
    table = _data_csv(root)
    raw = table.read_bytes()
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if [c.strip() for c in header[:3]] != list(COLUMNS):
        raise BadInputError("{} line 1: header {} but path,duration,text was expected.".format(table, header))
    for row in reader:
        where = "{} line {}".format(table.name, reader.line_num)
        if not row or not "".join(row).strip():
            continue
        if any("\udc80" <= c <= "\udcff" for field in row for c in field):
            issues.add("invalid_utf8", where)
            continue
        if len(row) != len(COLUMNS) or not row[0].strip():
            issues.add("malformed_row", "{} ({} fields)".format(where, len(row)))
            continue
        name = row[0].strip()
        stem = name.rsplit(".", 1)[0]
        match = _FRAGMENT.match(stem)
        transcript = row[2].translate(_TEXT_FIXES)
        yield ClipRecord(
            audio=table.parent / name,
            transcript=transcript,
            speaker=match.group("source") if match else stem,
            clip_id=stem,
            origin=where,
        )


def prepare_trainingspeech(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import TrainingSpeech into ``extracted/data/trainingspeech/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    return engine.import_corpus(
        SPEC,
        data_root,
        pack,
        english_compatible,
        workers,
        source,
        lambda issues: trainingspeech_records(root, issues),
        more_inputs={"text_fixes": engine.code_digest(Path(__file__))},
    )


CORPUS: corpus.CorpusSpec[Settings] = corpus.CorpusSpec(
    name="trainingspeech",
    help="TrainingSpeech: audiobook fragments aligned with their text",
    folder=SPEC.name,
    archive="{release}.zip",
    url="{url}",
    prepare=prepare_trainingspeech,
    records=trainingspeech_records,
    settings=Settings,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    rank=2,
)
