"""The shared import engine: records in, 16 kHz WAVs, Coqui CSVs and a report out.

A corpus module only maps its layout to :class:`ClipRecord` s. This engine validates labels,
converts audio on every core, applies the duration rules, assigns splits where the corpus has none,
writes ``<corpus>_{train,dev,test}.csv``, the report, a manifest (split, speaker, transcript of every
kept clip, for the leakage report) and the transcripts of the clips too long for training (for the
language model, with ``LM_ADD_EXCLUDED_MAX_SEC``) atomically, and records a completion marker.
Re-runs skip finished work: each WAV appears under its final name only when complete, and a ledger
beside the corpus folder records what source and segment it was made from, so a killed import
resumes by converting only the missing or outdated clips and ends with the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from stt_tasks import __version__, audio, ctc, diskspace
from stt_tasks.fsio import CompletionMarker, sha256_file, write_json_atomic, write_text_atomic
from stt_tasks.importers.ledger import ClipLedger, clip_fingerprint
from stt_tasks.importers.records import OFFICIAL, SPEAKER_HASH, SPLITS, ClipRecord, CorpusSpec, SourceIssues
from stt_tasks.importers.report import ImportReport
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG, Progress
from stt_tasks.text import labels

_TMP_NAME = re.compile(r"^\..*\.tmp-\d+$")

KEPT = "kept"
TOO_LONG = "too_long"
#: When the engine splits a corpus, a sentence belongs to the first of these splits that has it.
SENTENCE_PRIORITY = ("test", "dev", "train")
MANIFEST_HEADER = ("split", "assigned", "speaker", "transcript")


def available_workers() -> int:
    """Cores this process may use (respects CPU affinity and container cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class _Job:
    source: str
    target: str
    n_chars: int
    ms_per_char: int
    max_seconds: float
    min_seconds: float
    max_ms_per_char: int = 0
    start: Optional[float] = None
    end: Optional[float] = None
    #: the existing target WAV was made from this very source and segment (see ledger.py)
    reusable: bool = False
    #: feature frames CTC needs for the label (``ctc.frames_needed``: characters plus repeated pairs)
    frames_needed: int = 0


@dataclass(frozen=True)
class _Outcome:
    status: str
    frames: int = 0
    size: int = 0
    detail: str = ""
    written: bool = False


def _convert(job: _Job) -> _Outcome:
    """Worker: convert one clip (or reuse its up-to-date WAV) and apply the duration rules."""
    target = Path(job.target)
    try:
        if job.reusable and target.is_file():
            frames = audio.wav_frames(target)
            size = target.stat().st_size
            pcm = None
        else:
            if job.start is not None and job.end is not None:
                samples, rate = audio.decode_segment(Path(job.source), job.start, job.end)
            else:
                samples, rate = audio.decode(Path(job.source))
            pcm = audio.to_pcm16(samples, rate)
            frames, size = len(pcm), 0
    except (audio.AudioDecodeError, OSError, EOFError, ValueError) as error:
        return _Outcome("undecodable", detail=str(error)[:300])
    duration_ms = frames * 1000 // audio.TARGET_RATE
    seconds = frames / audio.TARGET_RATE
    # The corpus's own rule (ms per character), then what coqui's CTC loss needs: fewer feature
    # frames than that stops the training on the first batch holding the clip (see ctc.py).
    if (duration_ms // job.ms_per_char < job.n_chars or seconds < job.min_seconds
            or ctc.COQUI_FEATURES.frames(frames) < job.frames_needed):
        return _Outcome("too_short", frames)
    if seconds > job.max_seconds:
        return _Outcome(TOO_LONG, frames)
    if job.max_ms_per_char and duration_ms > job.max_ms_per_char * job.n_chars:
        return _Outcome("misaligned", frames)
    if pcm is not None:
        size = audio.write_wav(target, pcm)
    return _Outcome(KEPT, frames, size, written=pcm is not None)


def speaker_split(speaker: str, dev_percent: int = 10, test_percent: int = 10) -> str:
    """A split from a stable hash of the speaker: same speaker, same split, on every run and release."""
    bucket = int(hashlib.sha256(speaker.encode("utf-8")).hexdigest()[:8], 16) % 100
    if bucket < test_percent:
        return "test"
    if bucket < test_percent + dev_percent:
        return "dev"
    return "train"


def _remove_stale_temporaries(directory: Path) -> None:
    """Delete half-written files a killed run left behind (their names are never final)."""
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if _TMP_NAME.match(name):
                os.unlink(os.path.join(root, name))


def too_long_text(labels: Iterable[str]) -> str:
    """The transcripts of the clips too long for training: each distinct one once, sorted, one per line."""
    return "".join(label + "\n" for label in sorted(set(labels)))


def csv_text(rows: Sequence[Tuple[str, int, str]]) -> str:
    """Coqui's CSV format: header, then rows; the csv module's default dialect (CRLF)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["wav_filename", "wav_filesize", "transcript"])
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class ImportResult:
    corpus: str
    directory: Path
    csvs: Dict[str, Path]
    report: Path
    report_text: Path
    #: validated transcripts of the clips dropped as too long (the lm step may add them to its text)
    too_long: Path
    clips: Dict[str, int]
    hours: float
    skipped: bool
    extra: Dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> Dict[str, Any]:
        return {
            "corpus": self.corpus,
            "directory": str(self.directory),
            "csv": {split: str(path) for split, path in self.csvs.items()},
            "report": str(self.report),
            "report_text": str(self.report_text),
            "too_long": str(self.too_long),
            "clips": self.clips,
            "hours": round(self.hours, 3),
            "already_done": self.skipped,
            **self.extra,
        }


@dataclass
class WavSpace:
    """What an import writes: the WAVs still to convert, estimated from those written so far.

    Before the first is written, a clip is counted at the longest a kept clip can be (``max_seconds``).
    """

    to_write: int
    max_seconds: float
    written: int = 0
    written_bytes: int = 0

    def add(self, size: int) -> None:
        self.written += 1
        self.written_bytes += size

    def needed(self) -> int:
        """Bytes for the whole import: what was written plus the clips left at the mean size so far."""
        per_clip = (self.written_bytes / self.written if self.written
                    else audio.wav_size(int(self.max_seconds * audio.TARGET_RATE)))
        return int(self.written_bytes + max(0, self.to_write - self.written) * per_clip)


def import_clips(
    spec: CorpusSpec,
    records: Iterable[ClipRecord],
    destination: Path,
    validate_label: Callable[[str], Optional[str]],
    inputs: Mapping[str, Any],
    source_issues: Optional[SourceIssues] = None,
    workers: Optional[int] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> ImportResult:
    """Convert, filter, split and write one corpus into ``destination``.

    ``extra`` is added to the result (for example the release and its checksum).
    """
    destination.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(destination)
    issues = source_issues or SourceIssues()
    report = ImportReport(spec.name, issues)

    planned: List[Tuple[ClipRecord, str, str]] = []
    seen = set()
    # Reading the corpus's lists and checking every label and file comes before the first conversion:
    # on a large release it takes minutes, which the log must show too.
    scan = Progress("scan {}".format(spec.name), None, unit="records")
    for record in records:
        scan.advance()
        if record.clip_id in seen:
            report.drop("duplicate_clip", record.origin)
            continue
        seen.add(record.clip_id)
        label = validate_label(record.transcript)
        if not label:
            report.drop("invalid_label", "{}: {!r}".format(record.origin, record.transcript))
            continue
        if not record.audio.is_file():
            report.drop("missing_file", "{}: {} not found".format(record.origin, record.audio.name))
            continue
        planned.append((record, label, clip_fingerprint(record.audio, record.start, record.end, audio.TARGET_RATE)))
    scan.finish()
    planned.sort(key=lambda item: item[0].clip_id)

    ledger = ClipLedger(destination)
    jobs = []
    for record, label, fingerprint in planned:
        target = destination / (record.clip_id + ".wav")
        target.parent.mkdir(parents=True, exist_ok=True)
        limits = (spec.ms_per_char, spec.max_seconds, spec.min_seconds, spec.max_ms_per_char)
        reusable = ledger.is_current(record.clip_id, fingerprint)
        jobs.append(_Job(str(record.audio), str(target), len(label), *limits, record.start, record.end, reusable,
                         ctc.frames_needed(label)))

    progress = Progress("import {}".format(spec.name), len(jobs), unit="clips")
    # A full disk anywhere below is explained with this estimate (stt_tasks.failures, at the CLI's edge).
    space = WavSpace(sum(not job.reusable for job in jobs), spec.max_seconds)
    with diskspace.writing("the import of {} ({} clips to convert)".format(spec.name, space.to_write), space.needed):
        converted: List[Tuple[ClipRecord, str, _Outcome, str, str]] = []
        too_long: List[str] = []
        made_from: Dict[str, str] = {}
        try:
            for (record, label, fingerprint), outcome in zip(planned, _run_jobs(jobs, workers, progress)):
                if outcome.written:
                    ledger.record(record.clip_id, fingerprint)
                    space.add(outcome.size)
                if outcome.status == TOO_LONG:
                    too_long.append(label)
                if outcome.status != KEPT:
                    detail = "{}: {}".format(record.origin, outcome.detail) if outcome.detail else record.origin
                    report.drop(outcome.status, detail, outcome.frames)
                    continue
                made_from[record.clip_id] = fingerprint
                split_by = record.split_by if record.split else SPEAKER_HASH
                converted.append((record, label, outcome, record.split or speaker_split(record.speaker), split_by))
        finally:
            ledger.close()
        progress.finish()

        owner = _sentence_owners(converted)
        rows: Dict[str, List[Tuple[str, int, str]]] = {split: [] for split in SPLITS}
        manifest = ["\t".join(MANIFEST_HEADER)]
        for record, label, outcome, split, split_by in converted:
            if split_by != OFFICIAL and owner[label] != split:
                report.drop("sentence_in_other_split", "{}: {!r} is in {}".format(record.origin, label, owner[label]))
                continue
            report.keep(split, outcome.frames, record.speaker)
            rows[split].append((record.clip_id + ".wav", outcome.size, label))
            manifest.append("\t".join((split, split_by, _one_line(record.speaker), label)))

        csvs = {split: destination / "{}_{}.csv".format(spec.name, split) for split in SPLITS}
        for split in SPLITS:
            write_text_atomic(csvs[split], csv_text(rows[split]))
        manifest_path = destination / "{}_manifest.tsv".format(spec.name)
        write_text_atomic(manifest_path, "\n".join(manifest) + "\n")
        too_long_path = destination / "{}_too_long.txt".format(spec.name)
        write_text_atomic(too_long_path, too_long_text(too_long))
        report_json = destination / "{}_report.json".format(spec.name)
        report_text = destination / "{}_report.txt".format(spec.name)
        # with what the corpus read (the Common Voice release and its sha256): later steps read it here
        write_json_atomic(report_json, dict(report.as_json(), **(extra or {})))
        write_text_atomic(report_text, report.as_text())
        LOG.info("\n%s", report.as_text())

        result = ImportResult(
            spec.name,
            destination,
            csvs,
            report_json,
            report_text,
            too_long_path,
            report.kept_counts(),
            report.kept_hours(),
            False,
            dict(extra or {}),
        )
        ledger.rewrite(made_from)
        outputs = list(csvs.values()) + [report_json, report_text, manifest_path, too_long_path]
        CompletionMarker(destination).write(inputs, outputs, result.as_json())
        return result


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _sentence_owners(converted: Sequence[Tuple[ClipRecord, str, _Outcome, str, str]]) -> Dict[str, str]:
    """For each transcript of a split we chose, the highest-priority split holding it (test, dev, train).

    Clips the engine splits by speaker would otherwise share sentences across splits (many
    Lingua Libre speakers read the same word): such a clip is dropped from the lower split. The
    same holds for a re-split corpus; official splits are left as published.
    """
    owner: Dict[str, str] = {}
    for split in SENTENCE_PRIORITY:
        for _record, label, _outcome, clip_split, split_by in converted:
            if clip_split == split and split_by != OFFICIAL:
                owner.setdefault(label, split)
    return owner


def _run_jobs(jobs: List[_Job], workers: Optional[int], progress: Progress) -> Iterable[_Outcome]:
    """Run conversions in order of ``jobs``, in parallel over ``workers`` processes."""
    workers = workers or available_workers()
    if workers == 1 or len(jobs) < 2:
        for job in jobs:
            outcome = _convert(job)
            progress.advance()
            yield outcome
        return
    chunksize = max(1, min(32, len(jobs) // (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for outcome in pool.map(_convert, jobs, chunksize=chunksize):
            progress.advance()
            yield outcome


def previous_result(destination: Path, inputs: Mapping[str, Any]) -> Optional[ImportResult]:
    """The recorded result when the corpus was already imported from the same inputs."""
    marker = CompletionMarker(destination)
    if not marker.is_current(inputs):
        return None
    recorded = marker.outputs()
    if any(key not in recorded for key in _RESULT_KEYS):
        return None  # recorded by an older version, without every output: import again
    return ImportResult(
        corpus=recorded["corpus"],
        directory=Path(recorded["directory"]),
        csvs={split: Path(path) for split, path in recorded["csv"].items()},
        report=Path(recorded["report"]),
        report_text=Path(recorded["report_text"]),
        too_long=Path(recorded["too_long"]),
        clips=recorded["clips"],
        hours=recorded["hours"],
        skipped=True,
        extra={k: v for k, v in recorded.items() if k not in _RESULT_KEYS},
    )


_RESULT_KEYS = ("corpus", "directory", "csv", "report", "report_text", "too_long", "clips", "hours", "already_done")


def label_rules_digest(pack: LanguagePack) -> str:
    """Changes when the label rules change, so that a re-import is not mistaken for done.

    The rules are the pack's modules (tables, number spelling) and the engine applying them.
    """
    sources = sorted(pack.folder.glob("*.py")) + [Path(labels.__file__)]
    return code_digest(*sources)


def code_digest(*sources: Path) -> str:
    """A short digest of source files: recorded with an import so that changed code re-imports."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(sha256_file(source).encode("ascii"))
    return digest.hexdigest()[:16]


def import_corpus(
    spec: CorpusSpec,
    data_root: DataRoot,
    pack: LanguagePack,
    english_compatible: bool,
    workers: Optional[int],
    source: Mapping[str, Any],
    records: Callable[[SourceIssues], Iterable[ClipRecord]],
    more_inputs: Optional[Mapping[str, Any]] = None,
    source_key: str = "source",
) -> ImportResult:
    """What every corpus module ends with: skip if done from the same inputs, else import.

    ``source`` identifies what was read (archive names, sizes, checksums) and is recorded with the
    result; ``records`` maps the corpus's layout to clips, reporting bad rows into the issues given.
    """
    destination = data_root.corpus_dir(spec.name)
    inputs = {
        source_key: dict(source),
        "english_compatible": english_compatible,
        "spec": [spec.ms_per_char, spec.max_seconds, spec.min_seconds, spec.max_ms_per_char],
        # the other too-short rule: clips CTC can align in coqui's features (a change re-imports)
        "ctc_features": ctc.COQUI_FEATURES.describe(),
        "rules": label_rules_digest(pack),
        "version": __version__,
    }
    inputs.update(more_inputs or {})
    previous = previous_result(destination, inputs)
    if previous is not None:
        LOG.info("%s already imported from the same source; nothing to do", spec.name)
        return previous
    issues = SourceIssues()
    return import_clips(
        spec,
        records(issues),
        destination,
        lambda label: pack.validate_label(label, english_compatible),
        inputs,
        issues,
        workers,
        extra={source_key: dict(source)},
    )
