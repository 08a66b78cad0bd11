"""Import speed: our Common Voice importer against the original method and the decode floor.

All three are measured in the same run, on the same generated clips, with the same number of
processes:
  (a) ours: ``prepare_common_voice`` on an extracted release (TSV reading, label rules, decode,
      resample, WAV writing, CSVs and report);
  (b) the original method: one ``sox`` subprocess to convert and one ``soxi`` subprocess to probe
      each clip, in a process pool;
  (c) the decode floor: decode and resample each clip to nothing with our fastest decoder.
Prints clips/s and the ratios a/b (target >= 3) and a/c (target >= 0.7).

    python benchmarks/import_speed.py [--clips 6000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stt_tasks import audio  # noqa: E402
from stt_tasks.importers.common_voice import prepare_common_voice  # noqa: E402
from stt_tasks.importers.engine import available_workers  # noqa: E402
from stt_tasks.languages import load_language  # noqa: E402
from stt_tasks.layout import DataRoot  # noqa: E402
from stt_tasks.progress import configure_logging  # noqa: E402
from stt_tasks.sample_corpus import HEADER, speakers, synthesise  # noqa: E402


def make_release(root: Path, n_clips: int) -> Tuple[Path, List[Path]]:
    """An extracted release of ``n_clips`` mp3s (~4 s, 48 kHz) built from distinct syntheses."""
    pack = load_language("fr")
    sentences = pack.sample_sentences()
    pairs = [(a + " " + b) for a, b in zip(sentences, sentences[1:] + sentences[:1])]
    cast = speakers("fr")[:4]
    distinct = [synthesise(s, text) for s in cast for text in pairs]
    release = root / "cv-corpus-97.0-2025-01-01"
    clips_dir = release / "fr" / "clips"
    clips_dir.mkdir(parents=True)
    rows = {"train": [], "dev": [], "test": []}
    paths = []
    for i in range(n_clips):
        name = "common_voice_fr_{:08d}.mp3".format(i)
        (clips_dir / name).write_bytes(distinct[i % len(distinct)])
        paths.append(clips_dir / name)
        split = ("train", "train", "train", "train", "train", "train", "train", "train", "dev", "test")[i % 10]
        speaker = cast[i % len(cast)]
        rows[split].append([speaker.client_id + str(i % 10), name, pairs[i % len(pairs)]] + [""] * (len(HEADER) - 3))
    for split, table in rows.items():
        text = "\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in table)
        (release / "fr" / "{}.tsv".format(split)).write_text(text, encoding="utf-8")
    return release, paths


def sox_convert_and_probe(job: Tuple[str, str]) -> int:
    """The original importer's per-clip work: a sox subprocess, then a soxi subprocess."""
    source, target = job
    subprocess.run(["sox", source, "-r", "16000", "-c", "1", "-b", "16", target], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = subprocess.run(["soxi", "-s", target], check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return int(probe.stdout)


def decode_only(source: str) -> int:
    samples, rate = audio.decode(Path(source))
    return len(audio.to_pcm16(samples, rate))


def timed(label: str, function) -> float:
    start = time.perf_counter()
    function()
    elapsed = time.perf_counter() - start
    print("  {:<34} {:7.2f} s".format(label, elapsed), flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=available_workers())
    parser.add_argument(
        "--scratch",
        default=str(REPO / ".bench-scratch"),
        help="where clips are written (a real disk: tmpfs or a slow /tmp would skew the comparison)",
    )
    args = parser.parse_args()
    Path(args.scratch).mkdir(parents=True, exist_ok=True)
    configure_logging(30)  # warnings only: progress lines would disturb the timings' output
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        root = Path(scratch)
        release, clips = make_release(root / "sources", args.clips)
        print("{} clips, {} processes".format(len(clips), args.workers))
        ours = timed(
            "(a) ours (prepare_common_voice)",
            lambda: prepare_common_voice(DataRoot(root), load_language("fr"), release=str(release), workers=args.workers),
        )
        out = root / "sox"
        out.mkdir()
        jobs = [(str(c), str(out / (c.stem + ".wav"))) for c in clips]
        with ProcessPoolExecutor(args.workers) as pool:
            baseline = timed("(b) sox + soxi subprocesses", lambda: list(pool.map(sox_convert_and_probe, jobs, chunksize=8)))
        with ProcessPoolExecutor(args.workers) as pool:
            floor = timed("(c) decode + resample floor", lambda: list(pool.map(decode_only, map(str, clips), chunksize=8)))
        shutil.rmtree(out)
    n = len(clips)
    print()
    print("clips/s: ours {:.1f}, sox+soxi {:.1f}, decode floor {:.1f}".format(n / ours, n / baseline, n / floor))
    print("a/b = {:.2f} (target >= 3)   a/c = {:.2f} (target >= 0.7)".format(baseline / ours, floor / ours))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
