"""Import time of a full Common Voice release plus a delta, against the equivalent full release.

Three imports of the same clips, measured in the same run with the same number of processes:
  (a) baseline: the full release N+1 tarball, into an empty data root;
  (b) chain: the full release N tarball and the delta N+1 tarball, into an empty data root;
  (c) upgrade: the delta N+1 added to a data root where release N was already imported (the
      retraining case: N's extraction and WAVs are reused, only the delta is extracted and converted).
Prints seconds and the ratios b/a and c/a (c/a is what a delta saves on each new release).

    python benchmarks/delta_import.py [--clips 3000] [--delta-clips 300] [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stt_tasks.importers.common_voice import prepare_common_voice  # noqa: E402
from stt_tasks.importers.engine import available_workers  # noqa: E402
from stt_tasks.languages import load_language  # noqa: E402
from stt_tasks.layout import DataRoot  # noqa: E402
from stt_tasks.progress import configure_logging  # noqa: E402
from stt_tasks.sample_corpus import HEADER, speakers, synthesise, write_release  # noqa: E402

FULL_N = "cv-corpus-98.0-2025-01-01-fr.tar.gz"
DELTA = "cv-corpus-99.0-delta-2025-04-01-fr.tar.gz"
FULL_N1 = "cv-corpus-99.0-2025-04-01-fr.tar.gz"
Clip = Tuple[str, str, str]  # file name, speaker, sentence
_SPLIT_CYCLE = ("train",) * 8 + ("dev", "test")


def _table(clips: Sequence[Clip]) -> bytes:
    rows = [[speaker, name, sentence] + [""] * (len(HEADER) - 3) for name, speaker, sentence in clips]
    return ("\t".join(HEADER) + "\n" + "".join("\t".join(r) + "\n" for r in rows)).encode("utf-8")


def make_clips(n_base: int, n_delta: int) -> Tuple[Dict[str, List[Clip]], List[Clip], Dict[str, bytes]]:
    """Release N's clips by split, the delta's clips, and the mp3 of every clip (distinct sentences)."""
    cast = speakers("fr")[:4]
    words = load_language("fr").sample_sentences()
    audio = [synthesise(s, text) for s in cast for text in words[:6]]
    splits: Dict[str, List[Clip]] = {"train": [], "dev": [], "test": []}
    payloads: Dict[str, bytes] = {}
    delta: List[Clip] = []
    for i in range(n_base + n_delta):
        name = "common_voice_fr_{:08d}.mp3".format(i)
        payloads[name] = audio[i % len(audio)]
        clip = (name, cast[i % len(cast)].client_id + str(i % 20), "phrase {}".format(_spelled(i)))
        if i < n_base:
            splits[_SPLIT_CYCLE[i % 10]].append(clip)
        else:
            delta.append(clip)
    return splits, delta, payloads


def _spelled(number: int) -> str:
    """A distinct French-label-valid word sequence per number (digits are rejected by the label rules)."""
    digits = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
    return " ".join(digits[int(d)] for d in str(number))


def timed(root: DataRoot, workers: int) -> Tuple[float, Dict[str, int]]:
    start = time.perf_counter()
    result = prepare_common_voice(root, load_language("fr"), workers=workers)
    return time.perf_counter() - start, result.clips


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3000, help="clips of release N")
    parser.add_argument("--delta-clips", type=int, default=300, help="clips the delta adds")
    parser.add_argument("--workers", type=int, default=available_workers())
    args = parser.parse_args(list(argv) or None)
    configure_logging(logging.WARNING)
    splits, delta, payloads = make_clips(args.clips, args.delta_clips)
    base_clips = [c for rows in splits.values() for c in rows]
    with tempfile.TemporaryDirectory(prefix="delta-bench-") as scratch:
        work = Path(scratch)
        sources = work / "sources"
        sources.mkdir()
        base_tables = {split: _table(rows) for split, rows in splits.items()}
        base_tables["validated"] = _table(base_clips)
        write_release(sources / FULL_N, "fr", [(c[0], payloads[c[0]]) for c in base_clips], base_tables)
        write_release(sources / DELTA, "fr", [(c[0], payloads[c[0]]) for c in delta],
                      {"validated": _table(delta), "invalidated": _table([]), "other": _table([])})

        upgrade = DataRoot(work / "upgrade")
        upgrade.create()
        (upgrade.sources / FULL_N).symlink_to(sources / FULL_N)
        timed(upgrade, args.workers)  # release N imported before (not measured)
        (upgrade.sources / DELTA).symlink_to(sources / DELTA)
        upgrade_seconds, upgrade_clips = timed(upgrade, args.workers)

        chain = DataRoot(work / "chain")
        chain.create()
        for name in (FULL_N, DELTA):
            (chain.sources / name).symlink_to(sources / name)
        chain_seconds, chain_clips = timed(chain, args.workers)

        # the equivalent full release: the chain's own splits as its official ones
        placed = {split: [Path(line.split(",")[0]).name for line in
                          chain.corpus_dir("cv-fr").joinpath("cv-fr_{}.csv".format(split)).read_text().splitlines()[1:]]
                  for split in splits}
        by_name = {c[0][: -len(".mp3")]: c for c in base_clips + delta}
        full_tables = {split: _table([by_name[n[: -len(".wav")]] for n in names]) for split, names in placed.items()}
        full_tables["validated"] = _table(base_clips + delta)
        write_release(sources / FULL_N1, "fr", [(c[0], payloads[c[0]]) for c in base_clips + delta], full_tables)
        full = DataRoot(work / "full")
        full.create()
        (full.sources / FULL_N1).symlink_to(sources / FULL_N1)
        full_seconds, full_clips = timed(full, args.workers)

    assert chain_clips == full_clips == upgrade_clips, (chain_clips, full_clips, upgrade_clips)
    print("clips: release N {}, delta {}; kept {}; {} workers".format(args.clips, args.delta_clips, full_clips,
                                                                     args.workers))
    print("(a) full release N+1 from scratch      {:8.2f} s".format(full_seconds))
    print("(b) full N + delta N+1 from scratch    {:8.2f} s   b/a = {:.2f}".format(chain_seconds, chain_seconds / full_seconds))
    print("(c) delta N+1 onto imported release N  {:8.2f} s   c/a = {:.2f}".format(upgrade_seconds, upgrade_seconds / full_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
