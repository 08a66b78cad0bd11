"""OpenSLR 57, African Accented French: a tarball of WAVs under ``speech/<partition>/`` and transcripts.

Layout (datasets.md 3.4). Transcripts come from seven files (space-separated ``<id> <text>`` lines,
one TAB-separated TSV) keyed by the audio's base name. Unlike the original importer, the corpus's
own partitions are kept: ``train`` is train, ``dev`` and ``devtest`` are dev, ``test`` is test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, Optional, Tuple

from stt_tasks.errors import BadInputError
from stt_tasks.importers import corpus, records
from stt_tasks.importers.records import ClipRecord, SourceIssues
from stt_tasks.importers.tsv import read_lines
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot

if TYPE_CHECKING:  # the engine imports audio libraries: loaded only when importing (see corpus.py)
    from stt_tasks.importers.engine import ImportResult

SPEC = records.CorpusSpec(name="African_Accented_French", ms_per_char=30, max_seconds=15.0)
TRANSCRIPT_FILES = (
    "transcripts/train/yaounde/fn_text.txt",
    "transcripts/train/ca16_conv/transcripts.txt",
    "transcripts/train/ca16_read/conditioned.txt",
    "transcripts/dev/niger_west_african_fr/transcripts.txt",
    "transcripts/devtest/ca16_read/conditioned.txt",
    "transcripts/test/ca16/prompts.txt",
    "speech/dev/niger_west_african_fr/niger_wav_file_name_transcript.tsv",
)
PARTITIONS = {"train": "train", "dev": "dev", "devtest": "dev", "test": "test"}
_YAOUNDE = re.compile(r"^[^-]+-(?P<speaker>[^-]+)-\d+$")


def _corpus_root(root: Path) -> Path:
    candidate = root / "African_Accented_French"
    if (candidate / "speech").is_dir():
        return candidate
    if (root / "speech").is_dir():
        return root
    raise BadInputError("{}: no African_Accented_French/speech folder; is this OpenSLR 57?".format(root))


def _key(token: str) -> str:
    """The audio base name a transcript's first token refers to."""
    name = token.replace("\\", "/").rsplit("/", 1)[-1]
    if name.endswith(".tdf"):
        return name[: -len(".tdf")] + ".wav"
    return name if name.endswith(".wav") else name + ".wav"


def read_transcripts(corpus: Path, issues: SourceIssues) -> Dict[str, Tuple[str, str]]:
    """Audio base name -> (transcript, where it was read); later files win, as upstream."""
    transcripts: Dict[str, Tuple[str, str]] = {}
    for relative in TRANSCRIPT_FILES:
        path = corpus / relative
        if not path.is_file():
            issues.add("missing_transcript_file", relative)
            continue
        separator = "\t" if relative.endswith(".tsv") else None
        for number, line in read_lines(path, issues):
            fields = line.split(separator, 1)
            where = "{} line {}".format(relative, number)
            if len(fields) != 2 or not fields[1].strip():
                issues.add("malformed_row", where)
                continue
            key = _key(fields[0].strip())
            if key in transcripts:
                issues.add("duplicate_transcript", "{} (also {})".format(where, transcripts[key][1]))
            transcripts[key] = (" ".join(fields[1].split()), where)
    return transcripts


def speaker_of(wav: Path) -> str:
    """Yaoundé names carry the speaker (``<machine>-<spk>-<NNNN>.wav``); CA16 and Niger use a folder."""
    match = _YAOUNDE.match(wav.stem)
    return match.group("speaker") if match else wav.parent.name


def african_accented_french_records(root: Path, issues: SourceIssues) -> Iterator[ClipRecord]:
    """Records of every WAV under ``speech/`` that a transcript names, in the corpus's own partition."""
    corpus = _corpus_root(root)
    transcripts = read_transcripts(corpus, issues)
    used = set()
    for partition, split in sorted(PARTITIONS.items()):
        for wav in sorted((corpus / "speech" / partition).rglob("*.wav")):
            relative = wav.relative_to(corpus).as_posix()
            found = transcripts.get(wav.name)
            if found is None:
                issues.add("audio_without_transcript", relative)
                continue
            used.add(wav.name)
            yield ClipRecord(
                audio=wav,
                transcript=found[0],
                speaker="{}/{}".format(relative.split("/")[2] if relative.count("/") > 2 else partition, speaker_of(wav)),
                clip_id=relative[: -len(".wav")],
                origin="{} ({})".format(relative, found[1]),
                split=split,
            )
    for key in sorted(set(transcripts) - used):
        issues.add("transcript_without_audio", "{}: {}".format(transcripts[key][1], key))


def prepare_african_accented_french(
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool = False,
    download: bool = False,
    workers: Optional[int] = None,
    mirror: Optional[str] = None,
) -> ImportResult:
    """Import OpenSLR 57 into ``extracted/data/African_Accented_French/``."""
    from stt_tasks.importers import engine  # audio libraries: only when importing (see corpus.py)

    root, source = corpus.unpacked(CORPUS, pack, data_root, download, mirror)
    return engine.import_corpus(
        SPEC, data_root, pack, english_compatible, workers, source, lambda issues: african_accented_french_records(root, issues)
    )


CORPUS: corpus.CorpusSpec[corpus.NoSettings] = corpus.CorpusSpec(
    name="african-accented-french",
    help="OpenSLR 57, African Accented French: read and conversational speech from five countries",
    folder=SPEC.name,
    archive="African_Accented_French.tar.gz",
    url="http://www.openslr.org/resources/57/{archive}",
    prepare=prepare_african_accented_french,
    records=african_accented_french_records,
    parameters=corpus.DOWNLOAD_PARAMETERS,
    options=corpus.DOWNLOAD_OPTIONS,
    rank=3,
    languages=("fr",),
)
