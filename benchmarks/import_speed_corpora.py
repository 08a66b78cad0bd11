"""Import speed of each corpus importer against the one-subprocess-per-clip baseline.

For every corpus a synthetic release in its real layout and audio format is generated (``--clips``
clips of ``--seconds`` seconds), extracted once, then three things are timed over the same clips,
each with the same number of processes:

- ours: the corpus's ``prepare_*`` (layout mapping, decoding, resampling, rules, WAV and CSV
  writing), on a fresh output folder, extraction already done;
- baseline: what the original importers did per clip, one ``sox`` conversion (``ffmpeg`` for Opus,
  which this SoX cannot read) plus one ``soxi`` duration probe, in a pool of the same size. For
  CCPMF it is what ``import_ccpmf.py`` did (datasets.md 3.7): each mp3 converted once to a 16 kHz
  WAV with ``sox``, then each segment cut from that WAV with ``ffmpeg -ss -t -c copy`` and probed
  with ``soxi``, both phases in the pool (the original converted the mp3s one after another, so
  this baseline is, if anything, faster than it);
- decode floor: decoding every clip in-process without writing anything.

Run: ``python benchmarks/import_speed_corpora.py [--clips 240] [--workers N]``. Prints clips/s and
the ratios; never asserts (timings vary by machine).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_tasks import audio  # noqa: E402
from stt_tasks.importers.engine import available_workers  # noqa: E402
from stt_tasks.importers.records import ClipRecord, SourceIssues  # noqa: E402
from stt_tasks.importers.registry import corpora  # noqa: E402
from stt_tasks.languages import load_language  # noqa: E402
from stt_tasks.layout import DataRoot  # noqa: E402
from stt_tasks.progress import configure_logging  # noqa: E402
from tests.importers.fixtures import CCPMF_PART, CCPMF_TOP, encoded, wav, write_tar, write_zip  # noqa: E402

LETTERS = "abcdefghij"
def word(number: int) -> str:
    """A transcript the label rules keep: digits spelled as letters."""
    return "mot " + "".join(LETTERS[int(d)] for d in str(number))


def build(corpus: str, sources: Path, clips: int, seconds: float) -> None:
    """A release of ``clips`` clips in the corpus's layout and audio format."""
    speakers = 20
    if corpus == "lingua-libre":
        ogg = encoded(seconds, 48000, "OGG", "VORBIS")
        write_zip(sources / "Q21-fra-French.zip", [("Q21-fra-French/user{}/{}.ogg".format(i % speakers, word(i)), ogg) for i in range(clips)])
    elif corpus == "trainingspeech":
        lines = ["path,duration,text"] + ["Livre{}_{:04d}.wav,{},{}".format(i % speakers, i, seconds, word(i)) for i in range(clips)]
        members = [("data.csv", ("\n".join(lines) + "\n").encode())] + [
            ("Livre{}_{:04d}.wav".format(i % speakers, i), wav(seconds)) for i in range(clips)
        ]
        write_zip(sources / "ts_2019-04-11_fr_FR.zip", members)
    elif corpus == "african-accented-french":
        top = "African_Accented_French/"
        members = [(top + "speech/train/ca16/spk{}/ca16_{:05d}.wav".format(i % speakers, i), wav(seconds)) for i in range(clips)]
        lines = "".join("ca16_{:05d} {}\n".format(i, word(i)) for i in range(clips)).encode()
        from stt_tasks.importers.african_accented_french import TRANSCRIPT_FILES

        members += [(top + name, lines if "ca16_read/conditioned" in name and "train" in name else b"") for name in TRANSCRIPT_FILES]
        write_tar(sources / "African_Accented_French.tar.gz", members)
    elif corpus == "m-ailabs":
        members = []
        per_book: Dict[int, List[str]] = {}
        for i in range(clips):
            book = i % speakers
            per_book.setdefault(book, []).append("b{}_{:05d}|{}|{}".format(book, i, word(i), word(i)))
            members.append(("fr_FR/by_book/female/spk{0}/book{0}/wavs/b{0}_{1:05d}.wav".format(book, i), wav(seconds, 22050)))
        members += [
            ("fr_FR/by_book/female/spk{0}/book{0}/metadata.csv".format(b), ("\n".join(lines) + "\n").encode())
            for b, lines in per_book.items()
        ]
        write_tar(sources / "fr_FR.tgz", members)
    elif corpus == "mls":
        opus = encoded(seconds, 48000, "OGG", "OPUS")
        top = "mls_french_opus/"
        members = [
            (top + "train/audio/{0}/77/{0}_77_{1:06d}.opus".format(1000 + i % speakers, i), opus) for i in range(clips)
        ]
        lines = "".join("{}_77_{:06d}\t{}\n".format(1000 + i % speakers, i, word(i)) for i in range(clips)).encode()
        members += [(top + "train/transcripts.txt", lines), (top + "dev/transcripts.txt", b""), (top + "test/transcripts.txt", b"")]
        write_tar(sources / "mls_french_opus.tar.gz", members)
    elif corpus == "ccpmf":
        import io
        import zipfile

        per_recording = 20
        recordings = max(1, clips // per_recording)
        mp3 = encoded(per_recording * (seconds + 0.5) + 1.0, 44100, "MP3")
        text = "le ministre présente le budget de la nation devant les députés ce matin"  # dense enough
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as bundle:
            for r in range(recordings):
                stem = "20190101_Seance{}_minefi".format(LETTERS[r % 10] * (1 + r // 10))
                rows = "".join(
                    '<row timestamp="{}" timedur="{}">{}</row>'.format(0.5 + k * (seconds + 0.5), seconds, text)
                    for k in range(per_recording)
                )
                bundle.writestr("{}/2019/{}.xml".format(CCPMF_TOP, stem), "<transcript>{}</transcript>".format(rows))
                bundle.writestr("{}/2019/{}.mp3".format(CCPMF_TOP, stem), mp3)
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w", zipfile.ZIP_STORED) as bundle:
            bundle.writestr("{0}/{0}.zip".format(CCPMF_TOP), inner.getvalue())
        (sources / (CCPMF_PART + ".001")).write_bytes(outer.getvalue())


Job = Tuple[str, str, Optional[float], Optional[float]]


def _run(command: List[str]) -> None:
    subprocess.run(command, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _sox_to_wav(source: str, target: str) -> None:
    """The original importers' conversion: 16 kHz, mono, 16-bit (``ffmpeg`` for Opus, which this SoX cannot read)."""
    if source.endswith(".opus"):
        _run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", source, "-ar", "16000", "-ac", "1", target])
    else:
        _run(["sox", source, "-r", "16000", "-c", "1", "-b", "16", target])


def _baseline_clip(job: Job) -> float:
    """One converter subprocess and one soxi subprocess, as the original importers ran per clip."""
    source, target, _start, _end = job
    _sox_to_wav(source, target)
    return float(subprocess.run(["soxi", "-D", target], check=True, stdout=subprocess.PIPE).stdout)


def _baseline_cut(job: Job) -> int:
    """One CCPMF segment as the original cut it: stream-copied out of the converted WAV, then probed."""
    source, target, start, end = job
    assert start is not None and end is not None
    _run(["ffmpeg", "-i", source, "-ss", str(start), "-t", str(end - start), "-c", "copy", target])
    return int(subprocess.run(["soxi", "-s", target], check=True, stdout=subprocess.PIPE).stdout)


def _convert_recording(job: Tuple[str, str]) -> None:
    """One CCPMF mp3 converted whole to the 16 kHz WAV its segments are then cut from."""
    _sox_to_wav(*job)


def baseline(jobs: List[Job], out: Path, workers: int) -> float:
    """Seconds the original importers' subprocess pipeline takes over ``jobs``, in a pool of ``workers``."""
    with ProcessPoolExecutor(workers) as pool:
        if not any(start is not None for _source, _target, start, _end in jobs):
            return timed(lambda: list(pool.map(_baseline_clip, jobs, chunksize=4)))
        # Segments (CCPMF): each recording converted once, every segment cut from its WAV.
        converted = {source: str(out / "{}.wav".format(Path(source).stem)) for source, _t, _s, _e in jobs}
        cuts = [(converted[source], target, start, end) for source, target, start, end in jobs]

        def run() -> None:
            list(pool.map(_convert_recording, sorted(converted.items())))
            list(pool.map(_baseline_cut, cuts, chunksize=4))

        return timed(run)


def _decode_clip(job: Job) -> int:
    source, _target, start, end = job
    if start is not None and end is not None:
        samples, _rate = audio.decode_segment(Path(source), start, end)
    else:
        samples, _rate = audio.decode(Path(source))
    return len(samples)


def timed(function: Callable[[], object]) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


def downloadable_corpora() -> List[str]:
    """Every corpus but Common Voice (measured by benchmarks/import_speed.py)."""
    return sorted(name for name, spec in corpora().items() if spec.downloadable)


def measure(corpus: str, work: Path, clips: int, seconds: float, workers: int) -> Dict[str, float]:
    spec = corpora()[corpus]
    prepare = spec.prepare
    pack = load_language("fr")
    root = DataRoot(work / corpus)
    root.create()
    build(corpus, root.sources, clips, seconds)
    prepare(root, pack, workers=workers)  # extracts once; the timed runs below reuse the extraction
    release = root.releases / next(p.name for p in root.releases.iterdir() if p.is_dir())
    records_function = spec.records
    # Lingua Libre and M-AILABS also take their skip lists (nothing to skip here).
    extra: List[object] = [[]] if corpus in ("lingua-libre", "m-ailabs") else []
    records: List[ClipRecord] = list(records_function(release, *extra, SourceIssues()))

    shutil.rmtree(root.corpus_dir(spec.output_folder(pack)))
    ours = timed(lambda: prepare(root, pack, workers=workers))
    out = work / corpus / "baseline"
    out.mkdir()
    jobs = [(str(r.audio), str(out / "{:06d}.wav".format(i)), r.start, r.end) for i, r in enumerate(records)]
    base = baseline(jobs, out, workers)
    with ProcessPoolExecutor(workers) as pool:
        floor = timed(lambda: list(pool.map(_decode_clip, jobs, chunksize=4)))
    n = len(records)
    return {"clips": n, "ours": n / ours, "baseline": n / base, "floor": n / floor}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=available_workers())
    parser.add_argument("--corpus", action="append", choices=downloadable_corpora(), help="default: every corpus")
    args = parser.parse_args()
    configure_logging(logging.WARNING)
    print("{} clips of {:.1f} s per corpus, {} processes for every method".format(args.clips, args.seconds, args.workers))
    print("{:<25} {:>6} {:>11} {:>11} {:>11} {:>10} {:>10}".format(
        "corpus", "clips", "ours c/s", "base c/s", "floor c/s", "ours/base", "ours/floor"))
    with tempfile.TemporaryDirectory() as scratch:
        for corpus in args.corpus or downloadable_corpora():
            m = measure(corpus, Path(scratch), args.clips, args.seconds, args.workers)
            print("{:<25} {:>6} {:>11.1f} {:>11.1f} {:>11.1f} {:>9.1f}x {:>9.2f}x".format(
                corpus, int(m["clips"]), m["ours"], m["baseline"], m["floor"], m["ours"] / m["baseline"], m["ours"] / m["floor"]))


if __name__ == "__main__":
    main()
