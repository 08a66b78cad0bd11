"""Benchmark: the whole ``lm`` step against KenLM's own tools on the same prepared text.

Generates French text of the given size, runs ``python -m stt_tasks lm`` on it (normalisation,
lmplz, filter, build_binary, perplexity, scorer package, reports), then runs ``lmplz``, ``filter``
and ``build_binary`` alone on the step's prepared text and vocabulary with the same settings. The
ratio of the step's wall time to the sum of the tools' times is the step's overhead (target
<= 1.25). Peak memory is the largest total RSS of the step's process tree, sampled every 0.1 s.

    KENLM_BIN=.tools/kenlm/bin python benchmarks/lm_build.py --size-mb 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from stt_tasks.languages import load_language  # noqa: E402
from stt_tasks.layout import DataRoot  # noqa: E402
from stt_tasks.lm import kenlm_tools  # noqa: E402
from stt_tasks.lm.synthetic import write_french_text  # noqa: E402


def _tree_rss(pid: int) -> int:
    """Total resident memory (bytes) of ``pid`` and its descendants."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open("/proc/{}/status".format(current)) as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            for task in os.listdir("/proc/{}/task".format(current)):
                with open("/proc/{}/task/{}/children".format(current, task)) as handle:
                    stack.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


def children_cpu() -> float:
    """CPU seconds (user + system) of every finished child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_measured(command: List[str], env: Dict[str, str]) -> Dict[str, float]:
    """Run ``command``; return its wall time, CPU time and the peak RSS of its process tree."""
    peak = [0]
    cpu = children_cpu()
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _tree_rss(process.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.monotonic() - started
    sampler.join()
    if process.returncode != 0:
        sys.stderr.write(stderr.decode("utf-8", "replace")[-3000:])
        raise SystemExit("{} failed with status {}".format(command[:4], process.returncode))
    return {
        "seconds": seconds,
        "cpu": children_cpu() - cpu,
        "peak_rss": peak[0],
        "stdout": stdout.decode("utf-8"),  # type: ignore[dict-item]
    }


def timed(command: List[str], stdin_path: Path = None) -> float:  # type: ignore[assignment]
    started = time.monotonic()
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="generated text size (default 200 MB)")
    parser.add_argument("--memory", default="2G", help="lmplz sorting memory for both runs (default 2G)")
    parser.add_argument("--top-k", type=int, default=500000, help="vocabulary size (default 500000)")
    parser.add_argument("--vocabulary", type=int, default=200000, help="invented words in the text")
    parser.add_argument("--work", default=None, help="folder to work in (default: a temporary one)")
    args = parser.parse_args()

    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    tools = kenlm_tools.find_tools()
    pack = load_language("fr")
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        root = DataRoot(Path(work) / "data")
        root.create()
        text = root.sources / "french.txt"
        started = time.monotonic()
        write_french_text(text, int(args.size_mb * 1e6), pack, seed=0, vocabulary=args.vocabulary)
        size_mb = text.stat().st_size / 1e6
        print("generated {:.0f} MB of French text in {:.0f} s".format(size_mb, time.monotonic() - started))
        alphabet = sorted(set(" '" + "abcdefghijklmnopqrstuvwxyz" + "àâçèéêëîïôùûüÿœ"))
        (root.models / "alphabet.txt").write_text("".join(c + "\n" for c in alphabet), encoding="utf-8")
        corpus = root.corpus_dir("cv-fr")
        corpus.mkdir(parents=True)
        sentences = pack.validate_labels(pack.sample_sentences())
        rows = "".join("/c/{}.wav,1,{}\n".format(n, s) for n, s in enumerate(sentences))
        for split in ("dev", "test"):
            (corpus / "cv-fr_{}.csv".format(split)).write_text("wav_filename,wav_filesize,transcript\n" + rows)

        env = dict(os.environ, KENLM_BIN=str(tools["lmplz"].parent))
        command = [sys.executable, "-m", "stt_tasks", "lm", "--data-root", str(root.root), "--text", str(text)]
        command += ["--memory", args.memory, "--lm-top-k", str(args.top_k)]
        step = run_measured(command, env)
        result = json.loads(str(step["stdout"]).strip().splitlines()[-1])
        report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))

        # Baseline: KenLM's tools alone on the step's own prepared text and vocabulary.
        scratch = Path(work) / "baseline"
        scratch.mkdir()
        baseline_cpu = children_cpu()
        lmplz = timed(
            [str(tools["lmplz"]), "--order", "4", "--memory", args.memory, "--temp_prefix", str(scratch) + "/",
             "--prune", "0", "0", "1", "--discount_fallback", "--text", result["lm_text"],
             "--arpa", str(scratch / "lm.arpa")]
        )
        filtered = timed(
            [str(tools["filter"]), "single", "model:{}".format(scratch / "lm.arpa"), str(scratch / "filtered.arpa")],
            Path(result["vocabulary"]),
        )
        binary = timed(
            [str(tools["build_binary"]), "-T", str(scratch) + "/", "-a", "255", "-q", "8", "-v", "trie",
             str(scratch / "filtered.arpa"), str(scratch / "lm.binary")]
        )
        baseline = lmplz + filtered + binary
        baseline_cpu = children_cpu() - baseline_cpu
        same = (scratch / "lm.binary").read_bytes() == Path(result["lm_binary"]).read_bytes()

    lm = report["language_model"]
    print("input: {:.0f} MB, {} lines, {} words, {} distinct, vocabulary {}".format(
        size_mb, lm["lines"], lm["words"], lm["distinct_words"],
        lm["vocabulary_size"]))
    print("lm step: {:.1f} s (inside it: {}), peak memory {:.0f} MB (whole process tree)".format(
        step["seconds"], ", ".join("{} {:.1f} s".format(k, v) for k, v in lm["seconds"].items()),
        step["peak_rss"] / 1e6))
    print("KenLM tools alone: lmplz {:.1f} s + filter {:.1f} s + build_binary {:.1f} s = {:.1f} s".format(
        lmplz, filtered, binary, baseline))
    print("CPU time: lm step {:.1f} s, KenLM tools {:.1f} s (ratio {:.2f}); load average before: {}".format(
        step["cpu"], baseline_cpu, step["cpu"] / baseline_cpu, load))
    print("same lm.binary bytes: {}".format(same))
    print("ratio (lm step / KenLM tools): {:.2f} (target <= 1.25)".format(step["seconds"] / baseline))


if __name__ == "__main__":
    main()
