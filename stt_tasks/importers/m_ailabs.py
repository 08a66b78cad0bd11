"""M-AILABS (fr_FR): ``by_book/<gender>/<speaker>/<book>/metadata.csv`` + ``wavs/<id>.wav``.

Layout (datasets.md 3.5): ``metadata.csv`` lines are ``<id>|<text>|<normalised text>``; ``mix``
books have no speaker level. The language pack's skipped books are left out wherever they are (the
original checked only the first metadata file it met). No official split: the engine splits by a
stable hash of the speaker (``mix/<book>`` for mixed books).
"""

from __future__ import annotations

from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Tuple

from stt_tasks.importers import corpus, records
from stt_tasks.importers.records import ClipRecord, SourceIssues
from stt_tasks.importers.tsv import read_lines
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

SPEC = records.CorpusSpec(name="M-AILABS", ms_per_char=30, max_seconds=15.0)


@dataclass(frozen=True)
class Settings:
    """The language's M-AILABS tarball (``<language>.tgz``) and the books left out (their folder names)."""

    language: str
    skipped_books: Tuple[str, ...] = ()


def speaker_of(book_dir: Sequence[str]) -> str:
    """``by_book/female/<speaker>/<book>`` -> ``<speaker>``; ``by_book/mix/<book>`` -> ``mix/<book>``."""
    parts = list(book_dir)
    tail = parts[parts.index("by_book") + 1 :] if "by_book" in parts else parts[-3:]
    if tail and tail[0] == "mix":
        return "mix/" + tail[-1]
    return tail[1] if len(tail) >= 3 else "/".join(tail)


def m_ailabs_records(root: Path, skipped_books: Sequence[str], issues: SourceIssues) -> Iterator[ClipRecord]:
    """One record per metadata line of every book not skipped."""
    for metadata in sorted(root.rglob("metadata.csv")):
        book_dir = metadata.parent
        relative_dir = book_dir.relative_to(root)
        if any(skipped in book_dir.name for skipped in skipped_books):
            issues.add("skipped_book", relative_dir.as_posix())
            continue
        speaker = speaker_of(relative_dir.parts)
        for number, line in read_lines(metadata, issues):
            where = "{} line {}".format((relative_dir / metadata.name).as_posix(), number)
            fields = line.split("|")
            if len(fields) < 3 or not fields[0].strip():
                issues.add("malformed_row", "{} ({} fields, 3 expected)".format(where, len(fields)))
                continue
            clip = fields[0].strip()
            yield ClipRecord(
                audio=book_dir / "wavs" / (clip + ".wav"),
                transcript=fields[2] or fields[1],
                speaker=speaker,
                clip_id=(relative_dir / "wavs" / clip).as_posix(),
                origin=where,
            )


def prepare_m_ailabs(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import M-AILABS into ``extracted/data/M-AILABS/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    skipped = list(CORPUS.settings_of(pack).skipped_books)
    return engine.import_corpus(
        SPEC,
        data_root,
        pack,
        english_compatible,
        workers,
        source,
        lambda issues: m_ailabs_records(root, skipped, issues),
        more_inputs={"skipped_books": skipped},
    )


CORPUS: corpus.CorpusSpec[Settings] = corpus.CorpusSpec(
    name="m-ailabs",
    help="M-AILABS: LibriVox audiobooks read by a few speakers",
    folder=SPEC.name,
    archive="{language}.tgz",
    url="http://www.caito.de/data/Training/stt_tts/{archive}",
    prepare=prepare_m_ailabs,
    records=m_ailabs_records,
    settings=Settings,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    rank=4,
)
