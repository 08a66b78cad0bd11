"""CCPMF (Ministère de l'Économie conference recordings): long mp3s with timed XML transcripts.

Layout (datasets.md 3.7): a split raw zip (``<archive>.001``...) holding an inner zip, which holds
``transcriptionsXML_audioMP3_MEFR_CCPMF_2012-2020/<year>/<name>.{xml,mp3}``. Each XML's ``row``
elements (``timestamp``, ``timedur``, text) are merged into segments of at most the corpus's
maximum duration and cut from the mp3. Unlike the original, every segment is emitted (the last one
too), texts are joined with spaces and a segment starts where its first row starts. Symbols and
numbers written in digits are said in words first (:func:`spoken`), or the label rules would drop
every segment holding a digit. No speakers are named and no split is published: the engine splits
by recording.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional, Sequence, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.importers import corpus, records
from stt_tasks.importers.archives import extract_zip_into, join_parts
from stt_tasks.importers.records import ClipRecord, SourceIssues
from stt_tasks.languages import LanguagePack
from stt_tasks.languages.fr.numbers import spell_out_numbers
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

ARCHIVE = "transcriptionsxml_audiomp3_mefr_ccpmf_2012-2020_2.zip"
#: the dataset page's CSV export: one URL per part of the split archive
INDEX = (
    "https://data.economie.gouv.fr/explore/dataset/transcriptionsxml_audiomp3_mefr_ccpmf_2012-2020/download/"
    "?format=csv&timezone=Europe/Berlin&lang=fr&use_labels_for_header=true&csv_separator=%3B"
)
#: SHA-1 of the parts as pinned by the original importer (the two datasets.md quotes).
SHA1 = {
    ARCHIVE + ".001": ("sha1", "863d39a06a388c6491c6ff2f6450b151f38f1b57"),
    ARCHIVE + ".040": ("sha1", "c8e1e565a0e7a1f6ff1dbfcefe677aa74a41d2f2"),
}
#: MAX_SECS 4.5 (the original's hot-patch; the pack may set another), MIN 0.85 s, 20 ms/char, and at
#: most 1,400 WAV bytes (43.75 ms) of audio per character.
SPEC = records.CorpusSpec(name="ccpmf", ms_per_char=20, max_seconds=4.5, min_seconds=0.85, max_ms_per_char=44)
#: Rows are contiguous when the next starts where the previous ends, within this relative tolerance.
RELATIVE_TOLERANCE = 2.5e-4
ABSOLUTE_TOLERANCE = 0.01
#: CCPMF's written forms said as words, in this order (datasets.md 3.7); the label rules then spell
#: out €, °, + and "n°" as for every corpus. Three deliberate departures from the original: "%" is
#: "pour cent" (not "pourcents"), "m²" is "mètres carrés", and "°" is left to the rules so that
#: "n°" still reads "numéro".
_SPOKEN = (
    # corpus-specific fixes: a broken tag, a stray cedilla, a zero for an O
    ("[end]", ""),
    ("\u00b8c", " ç"),
    ("C0²", "CO 2"),
    # before the label rules' NFKC turns "²" into a digit
    ("km²", " kilomètres carrés "),
    ("m²", " mètres carrés "),
    ("m³", " mètres cubes "),
    ("%", " pour cent "),
    ("/", ", "),  # intervals: "2019/2022"
    ("-", ", "),  # intervals: "70-80"
    ("...", "."),
    ("..", "."),
    ("., ", ", "),
    ("B2B", "B to B"),
    ("B2C", "B to C"),
    ("#", "hashtag "),
    ("@", "at "),
)


@dataclass(frozen=True)
class Settings:
    """The language pack's limit on segment length (the original's hot-patch was 4.5 s)."""

    max_seconds: float = SPEC.max_seconds


@dataclass(frozen=True)
class Row:
    start: float
    duration: float
    text: str

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


def unpack_ccpmf(parts: List[Path], scratch: Path) -> None:
    """Join the parts, extract the outer zip, then the inner zip; keep only the recordings."""
    joined = scratch / ".joined.zip"
    join_parts(parts, joined)
    outer = scratch / ".outer"
    extract_zip_into(joined, outer)
    joined.unlink()
    inner = sorted(outer.rglob("*.zip"))
    if not inner:
        raise BadInputError(
            "{}: no inner zip inside the joined archive; are all parts of the same release there?".format(parts[0])
        )
    for nested in inner:
        extract_zip_into(nested, scratch)
    shutil.rmtree(str(outer))


def read_rows(xml: Path, issues: SourceIssues) -> List[Row]:
    """The timed rows of one transcript (a malformed row is counted and skipped)."""
    try:
        tree = ElementTree.parse(str(xml))
    except (ElementTree.ParseError, UnicodeDecodeError) as error:
        issues.add("unreadable_xml", "{}: {}".format(xml.name, error))
        return []
    rows = []
    for number, element in enumerate(tree.getroot().findall("row"), start=1):
        try:
            row = Row(float(element.get("timestamp", "")), float(element.get("timedur", "")), " ".join((element.text or "").split()))
        except ValueError:
            issues.add("malformed_row", "{} row {}".format(xml.name, number))
            continue
        if row.duration > 0 and row.text:
            rows.append(row)
    return rows


def merge_rows(rows: Sequence[Row], max_seconds: float) -> List[Segment]:
    """Contiguous rows joined into segments no longer than ``max_seconds`` (every segment emitted)."""
    segments: List[Segment] = []
    current: Optional[Segment] = None
    for row in sorted(rows, key=lambda r: r.start):
        contiguous = current is not None and math.isclose(
            row.start, current.end, rel_tol=RELATIVE_TOLERANCE, abs_tol=ABSOLUTE_TOLERANCE
        )
        if current is not None and contiguous and row.end - current.start <= max_seconds:
            current = Segment(current.start, row.end, current.text + " " + row.text)
            continue
        if current is not None:
            segments.append(current)
        current = Segment(row.start, row.end, row.text)
    if current is not None:
        segments.append(current)
    return segments


def _pair_score(xml: Path, mp3: Path) -> int:
    """Upstream's pairing: same date (first ``_`` token), then the most tokens equal in place."""
    a, b = xml.stem.split("_"), mp3.stem.split("_")
    if a[0] != b[0]:
        return -1
    return sum(1 for x, y in zip(a, b) if x == y) + (100 if xml.stem == mp3.stem else 0)


def pair_recordings(root: Path, issues: SourceIssues) -> List[Tuple[Path, Path]]:
    """(xml, mp3) pairs one folder level below ``root`` (the year folders)."""
    xmls = sorted(root.glob("*/*.xml"))
    mp3s = sorted(root.glob("*/*.mp3"))
    pairs = []
    used = set()
    for xml in xmls:
        scored = sorted(((_pair_score(xml, mp3), mp3.name, mp3) for mp3 in mp3s if mp3 not in used), reverse=True)
        if not scored or scored[0][0] < 0:
            issues.add("xml_without_mp3", xml.relative_to(root).as_posix())
            continue
        used.add(scored[0][2])
        pairs.append((xml, scored[0][2]))
    for mp3 in mp3s:
        if mp3 not in used:
            issues.add("mp3_without_xml", mp3.relative_to(root).as_posix())
    return pairs


def _recordings_root(root: Path) -> Path:
    for candidate in [root] + sorted(p for p in root.iterdir() if p.is_dir()):
        if any(candidate.glob("*/*.xml")):
            return candidate
    return root


def spoken(text: str) -> str:
    """The transcript as said: symbols and numbers written out, so that the label rules keep it."""
    for written, said in _SPOKEN:
        text = text.replace(written, said)
    return spell_out_numbers(text)


def ccpmf_records(root: Path, issues: SourceIssues, max_seconds: float = SPEC.max_seconds) -> Iterator[ClipRecord]:
    """One record per merged segment of every paired recording."""
    recordings = _recordings_root(root)
    for xml, mp3 in pair_recordings(recordings, issues):
        for number, segment in enumerate(merge_rows(read_rows(xml, issues), max_seconds)):
            yield ClipRecord(
                audio=mp3,
                transcript=spoken(segment.text),
                speaker=xml.stem,
                clip_id="{}/{}_{:06d}".format(xml.stem, xml.stem, number),
                origin="{} segment {} ({:.2f}-{:.2f} s)".format(xml.relative_to(recordings).as_posix(), number, segment.start, segment.end),
                start=segment.start,
                end=segment.end,
            )


def prepare_ccpmf(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import CCPMF into ``extracted/data/ccpmf/``; segments are at most the pack's ``max_seconds``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    max_seconds = CORPUS.settings_of(pack).max_seconds
    spec = dataclasses.replace(SPEC, max_seconds=max_seconds)
    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    return engine.import_corpus(
        spec,
        data_root,
        pack,
        english_compatible,
        workers,
        source,
        lambda issues: ccpmf_records(root, issues, max_seconds),
        more_inputs={"spoken": engine.code_digest(Path(__file__))},
    )


CORPUS: corpus.CorpusSpec[Settings] = corpus.CorpusSpec(
    name="ccpmf",
    help="CCPMF: conference recordings of the French ministry of the economy, with timed transcripts",
    folder=SPEC.name,
    archive=ARCHIVE,
    url=INDEX,
    prepare=prepare_ccpmf,
    records=ccpmf_records,
    settings=Settings,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    split_archive=True,
    checksums=SHA1,
    unpack=unpack_ccpmf,
    rank=6,
    languages=("fr",),
)
