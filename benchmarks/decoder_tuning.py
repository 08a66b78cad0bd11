"""Decoder tuning: the marginal cost of a trial on stored acoustic outputs against coqui's per-trial evaluate.

A Common Voice layout release is synthesised (espeak-ng voices at several speeds, each speaker in one
split; ``--dev`` dev clips, at least 150), then, in the CPU image, each as its own ``docker run``:
import, alphabet, a 1-epoch model, the LM; then, in the same run, on the same checkpoint and dev CSV:

- a test step as main ran it: coqui's ``evaluate`` over the test and dev CSVs (the reference cost);
- coqui's own ``util/lm_optimize.py`` with 1 and then ``1 + --extra`` trials: each trial rebuilds the
  graph, reloads the checkpoint and runs the acoustic model over the dev clips (what main's
  optimize-lm did); marginal = difference / extra trials;
- our test step (one acoustic pass over test and dev, stored; one decode), then our optimize-lm with
  2 and with ``2 + --extra`` trials (two studies), decoding those stored outputs; marginal likewise;
- the stored dev outputs: size on disk, size in memory, and the resident memory they add once loaded.

Prints the ratios (target: a trial at most a tenth of a test step, and at least 5x cheaper than coqui's
per-trial method) and what 2,400 trials would cost on Common Voice fr's dev set (16,000 clips), by linear
extrapolation in the number of clips. Never asserts (timings vary by machine).

Run: ``python benchmarks/decoder_tuning.py [--image stt-tasks-cpu] [--dev 150] [--train 600]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_tasks.languages import load_language  # noqa: E402
from stt_tasks.sample_corpus import HEADER, Speaker, _tsv, release_filename, speakers, synthesise, \
    write_release  # noqa: E402

CV_FR_DEV_CLIPS = 16000
ORIGINAL_TRIALS = 2400
DEV_CSV = "/mnt/extracted/data/cv-fr/cv-fr_dev.csv"
TEST_CSV = "/mnt/extracted/data/cv-fr/cv-fr_test.csv"
LOAD_STORED = """
import glob, json, resource, sys
from pathlib import Path
from stt_tasks.training.stored_outputs import load_clips
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
paths = [p for p in glob.glob('/mnt/tmp/acoustic/*/cv-fr_dev-*.npz')]
clips = [load_clips(Path(p)) for p in paths]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"files": len(paths), "disk_bytes": sum(Path(p).stat().st_size for p in paths),
                  "array_bytes": sum(c.nbytes for c in clips), "clips": sum(len(c.lengths) for c in clips),
                  "frames": int(sum(c.lengths.sum() for c in clips)), "rss_added_bytes": (after - before) * 1024}))
"""


def voices(language: str) -> List[Speaker]:
    """Each voice of the sample corpus at three speeds: 24 distinct speakers."""
    return [Speaker("{}-{}".format(s.name, speed), s.voice, s.speed + speed, s.pitch, "", s.gender)
            for speed in (0, -25, 25) for s in speakers(language)]


def plan_release(language: str, sentences: Sequence[str], counts: Dict[str, int]) -> List[Tuple[str, Speaker, str]]:
    """(split, speaker, sentence) for every clip: each speaker in one split (as the importer requires)."""
    cast = voices(language)
    per_speaker = len(sentences)
    plan: List[Tuple[str, Speaker, str]] = []
    next_speaker = 0
    for split in ("dev", "test", "train"):
        wanted = counts[split]
        while wanted > 0:
            if next_speaker >= len(cast):
                raise SystemExit("not enough synthetic speakers for {} clips".format(sum(counts.values())))
            speaker = cast[next_speaker]
            next_speaker += 1
            take = min(wanted, per_speaker)
            plan += [(split, speaker, sentence) for sentence in sentences[:take]]
            wanted -= take
    return plan


def make_release(sources: Path, counts: Dict[str, int]) -> Path:
    """The Common Voice release tarball and the LM text in ``sources``."""
    pack = load_language("fr")
    sentences = list(dict.fromkeys(pack.sample_sentences() + pack.sample_lm_text()))
    plan = plan_release(pack.code, sentences, counts)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        audio = list(pool.map(lambda item: synthesise(item[1], item[2]), plan))
    rows: Dict[str, List[Tuple[str, ...]]] = {"train": [], "dev": [], "test": []}
    clips = []
    for number, ((split, speaker, sentence), payload) in enumerate(zip(plan, audio), start=1):
        clip = "common_voice_fr_{:08d}.mp3".format(30000000 + number)
        clips.append((clip, payload))
        rows[split].append((speaker.client_id, clip, sentence, "2", "0", "twenties", speaker.gender, "", "fr", ""))
    tables = dict(rows, validated=rows["train"] + rows["dev"] + rows["test"], invalidated=[], other=[], reported=[])
    sources.mkdir(parents=True, exist_ok=True)
    write_release(sources / release_filename("fr"), "fr", clips, {n: _tsv(t, HEADER) for n, t in tables.items()})
    (sources / "sample_lm_fr.txt").write_text("\n".join(pack.sample_lm_text()) + "\n", encoding="utf-8")
    return sources


def docker(image: str, data: Path, args: List[str], entrypoint: str = "") -> Tuple[float, str]:
    """Run ``args`` in the image with the data root at /mnt; (seconds, stdout). Fails loudly."""
    command = ["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(data)]
    command += ["--entrypoint", entrypoint] if entrypoint else []
    start = time.monotonic()
    done = subprocess.run(command + [image] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds = time.monotonic() - start
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode("utf-8", "replace")[-4000:])
        raise SystemExit("{} failed (exit {})".format(" ".join(args[:3]), done.returncode))
    return seconds, done.stdout.decode("utf-8", "replace")


def coqui_flags(beam: int, batch: int, csvs: List[str]) -> List[str]:
    return ["--test_files", *csvs, "--checkpoint_dir", "/mnt/checkpoints", "--load_evaluate", "best",
            "--alphabet_config_path", "/mnt/models/alphabet.txt", "--scorer_path", "/mnt/lm/kenlm.scorer",
            "--export_beam_width", str(beam), "--beam_width", str(beam), "--test_batch_size", str(batch),
            "--train_cudnn", "false", "--show_progressbar", "false"]


def measure(image: str, data: Path, args: argparse.Namespace) -> Dict[str, Any]:
    run = lambda *a, **k: docker(image, data, list(a), **k)  # noqa: E731
    run("import", "common-voice")
    run("alphabet")
    run("train", "--epochs", "1", "--n-hidden", str(args.n_hidden), "--batch-size", str(args.batch_size),
        "--dropout", "0", "--early-stop", "0")
    run("lm", "--text", "/mnt/sources/sample_lm_fr.txt", "--memory", "1G", "--lm-top-k", "1000",
        "--keep-eval-sentences")
    coqui = lambda *extra: run("-m", "stt_tasks.training.launch", *extra, entrypoint="python")[0]  # noqa: E731
    flags = coqui_flags(args.beam, args.batch_size, [DEV_CSV])
    result: Dict[str, Any] = {}
    result["coqui_test_step"] = coqui("coqui_stt_training.evaluate",
                                      *coqui_flags(args.beam, args.batch_size, [TEST_CSV, DEV_CSV]))
    lm_optimize = ["coqui_stt_training.util.lm_optimize", *flags, "--lm_alpha_max", "2", "--lm_beta_max", "2"]
    one = coqui(*lm_optimize, "--n_trials", "1")
    more = coqui(*lm_optimize, "--n_trials", str(1 + args.extra))
    result["coqui_per_trial"] = (more - one) / args.extra
    common = ["--beam-width", str(args.beam), "--batch-size", str(args.batch_size)]
    result["our_test_step_cold"] = run("test", *common)[0]  # acoustic pass over test + dev, stored; one decode
    two = run("optimize-lm", "--lm-evaluate-range", "2,2,2", *common)[0]
    many = run("optimize-lm", "--lm-evaluate-range", "2.5,2.5,{}".format(2 + args.extra), *common)[0]
    result["our_per_trial"] = (many - two) / args.extra
    result["our_optimize_2_trials"] = two
    result["stored"] = json.loads(run("-c", LOAD_STORED, entrypoint="python")[1].strip().splitlines()[-1])
    return result


def report(result: Dict[str, Any], dev_clips: int) -> None:
    ours, coqui, test_step = result["our_per_trial"], result["coqui_per_trial"], result["coqui_test_step"]
    stored = result["stored"]
    print("dev clips: {} ({} frames); beam {}".format(stored["clips"], stored["frames"], result["beam"]))
    print("test step (coqui evaluate over test + dev, as on main): {:.1f} s".format(test_step))
    print("our test step, cold (one acoustic pass over test + dev, stored, one decode): {:.1f} s".format(
        result["our_test_step_cold"]))
    print("coqui per-trial evaluate (util/lm_optimize.py): {:.2f} s per extra trial".format(coqui))
    print("stored outputs (decode only, reset_params): {:.3f} s per extra trial".format(ours))
    print("ratio per trial, coqui / stored: {:.1f}x (target >= 5x)".format(coqui / ours if ours > 0 else float("inf")))
    print("trial / test step: {:.3f} (target <= 0.1)".format(ours / test_step))
    print("stored dev outputs: {:.2f} MB on disk (compressed), {:.2f} MB in memory as arrays, {:.2f} MB resident "
          "added once loaded".format(stored["disk_bytes"] / 1e6, stored["array_bytes"] / 1e6,
                                     stored["rss_added_bytes"] / 1e6))
    scale = CV_FR_DEV_CLIPS / dev_clips
    print("EXTRAPOLATION (linear in clips, not measured): {} trials on Common Voice fr's dev set ({} clips): "
          "stored outputs {:.1f} h, coqui's per-trial evaluate {:.1f} h; stored dev outputs in memory about "
          "{:.0f} MB".format(ORIGINAL_TRIALS, CV_FR_DEV_CLIPS, ORIGINAL_TRIALS * ours * scale / 3600,
                             ORIGINAL_TRIALS * coqui * scale / 3600, stored["array_bytes"] * scale / 1e6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default=os.environ.get("STT_CPU_IMAGE", "stt-tasks-cpu"))
    parser.add_argument("--dev", type=int, default=150, help="dev clips (at least 150)")
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--n-hidden", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--beam", type=int, default=50)
    parser.add_argument("--extra", type=int, default=4, help="extra trials of each method")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if args.dev < 150:
        parser.error("--dev must be at least 150")
    work = Path(tempfile.mkdtemp(prefix="decoder-tuning-"))
    os.chmod(str(work), 0o777)
    try:
        data = work / "data"
        data.mkdir()
        os.chmod(str(data), 0o777)
        make_release(data / "sources", {"dev": args.dev, "test": args.test, "train": args.train})
        for folder in data.rglob("*"):
            os.chmod(str(folder), 0o777 if folder.is_dir() else 0o666)
        result = measure(args.image, data, args)
        result["beam"] = args.beam
        report(result, result["stored"]["clips"])
        print(json.dumps(result, sort_keys=True))
    finally:
        if args.keep:
            print("work folder kept: {}".format(work))
        else:
            subprocess.run(["docker", "run", "--rm", "--network", "none", "-v", "{}:/w".format(work), "--entrypoint",
                            "rm", args.image, "-rf", "/w/data"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(str(work), ignore_errors=True)


if __name__ == "__main__":
    main()
