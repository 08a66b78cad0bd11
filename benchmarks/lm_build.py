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
from typing import Any, Dict, List, Optional, Tuple

REPOSITORY = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY))

from stt_tasks.languages import LanguagePack, load_language  # noqa: E402
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
    sampler = threading.Thread(target=_sample_peak_rss, args=(process, peak), daemon=True)
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


def _sample_peak_rss(process: "subprocess.Popen[bytes]", peak: List[int]) -> None:
    """Keep in ``peak[0]`` the largest RSS of ``process``'s tree, sampled every 0.1 s until it ends."""
    while process.poll() is None:
        peak[0] = max(peak[0], _tree_rss(process.pid))
        time.sleep(0.1)


def timed(command: List[str], stdin_path: Optional[Path] = None) -> float:
    """Wall time of ``command``, its stdin from ``stdin_path`` (else empty), its output discarded."""
    started = time.monotonic()
    with open(stdin_path, "rb") if stdin_path else open(os.devnull, "rb") as stdin:
        subprocess.run(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.monotonic() - started


def arguments() -> argparse.Namespace:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="generated text size (default 200 MB)")
    parser.add_argument("--memory", default="2G", help="lmplz sorting memory for both runs (default 2G)")
    parser.add_argument("--top-k", type=int, default=500000, help="vocabulary size (default 500000)")
    parser.add_argument("--vocabulary", type=int, default=200000, help="invented words in the text")
    parser.add_argument("--work", default=None, help="folder to work in (default: a temporary one)")
    return parser.parse_args()


def prepare_data_root(work: Path, args: argparse.Namespace, pack: LanguagePack) -> Tuple[DataRoot, Path]:
    """A data root as the alphabet step and an importer leave it, and the generated French text."""
    root = DataRoot(work / "data")
    root.create()
    text = root.sources / "french.txt"
    started = time.monotonic()
    write_french_text(text, int(args.size_mb * 1e6), pack, seed=0, vocabulary=args.vocabulary)
    seconds = time.monotonic() - started
    print("generated {:.0f} MB of French text in {:.0f} s".format(text.stat().st_size / 1e6, seconds))
    alphabet = sorted(set(" '" + "abcdefghijklmnopqrstuvwxyz" + "àâçèéêëîïôùûüÿœ"))
    (root.models / "alphabet.txt").write_text("".join(c + "\n" for c in alphabet), encoding="utf-8")
    corpus = root.corpus_dir("cv-fr")
    corpus.mkdir(parents=True)
    sentences = pack.validate_labels(pack.sample_sentences())
    rows = "".join("/c/{}.wav,1,{}\n".format(n, s) for n, s in enumerate(sentences))
    for split in ("dev", "test"):
        (corpus / "cv-fr_{}.csv".format(split)).write_text("wav_filename,wav_filesize,transcript\n" + rows)
    return root, text


def run_baseline(tools: Dict[str, Path], result: Dict[str, Any], scratch: Path, memory: str) -> Dict[str, Any]:
    """KenLM's tools alone on the step's own prepared text and vocabulary, run as the step runs them
    (kenlm_tools' commands), lmplz reading the text as a file: each tool's seconds, CPU, same bytes."""
    arpa, filtered, binary = scratch / "lm.arpa", scratch / "filtered.arpa", scratch / "lm.binary"
    cpu = children_cpu()
    seconds = {
        "lmplz": timed(kenlm_tools.lmplz_command(tools["lmplz"], arpa, scratch, memory)
                       + ["--text", result["lm_text"]]),
        "filter": timed(kenlm_tools.filter_command(tools["filter"], arpa, filtered), Path(result["vocabulary"])),
        "build_binary": timed(kenlm_tools.build_binary_command(tools["build_binary"], filtered, binary, scratch)),
    }
    return {"seconds": seconds, "cpu": children_cpu() - cpu,
            "same": binary.read_bytes() == Path(result["lm_binary"]).read_bytes()}


def print_results(
    size_mb: float, lm: Dict[str, Any], step: Dict[str, Any], baseline: Dict[str, Any], load: str
) -> None:
    """The step's figures against the tools' alone, and their ratios."""
    tools = baseline["seconds"]
    total = sum(tools.values())
    print("input: {:.0f} MB, {} lines, {} words, {} distinct, vocabulary {}".format(
        size_mb, lm["lines"], lm["words"], lm["distinct_words"], lm["vocabulary_size"]))
    print("lm step: {:.1f} s (inside it: {}), peak memory {:.0f} MB (whole process tree)".format(
        step["seconds"], ", ".join("{} {:.1f} s".format(k, v) for k, v in lm["seconds"].items()),
        step["peak_rss"] / 1e6))
    print("KenLM tools alone: lmplz {:.1f} s + filter {:.1f} s + build_binary {:.1f} s = {:.1f} s".format(
        tools["lmplz"], tools["filter"], tools["build_binary"], total))
    print("CPU time: lm step {:.1f} s, KenLM tools {:.1f} s (ratio {:.2f}); load average before: {}".format(
        step["cpu"], baseline["cpu"], step["cpu"] / baseline["cpu"], load))
    print("same lm.binary bytes: {}".format(baseline["same"]))
    print("ratio (lm step / KenLM tools): {:.2f} (target <= 1.25)".format(step["seconds"] / total))


def main() -> None:
    """Run the step, then the tools alone, and print the ratios."""
    args = arguments()
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    tools = kenlm_tools.find_tools()
    pack = load_language("fr")
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        root, text = prepare_data_root(Path(work), args, pack)
        env = dict(os.environ, KENLM_BIN=str(tools["lmplz"].parent))
        command = [sys.executable, "-m", "stt_tasks", "lm", "--data-root", str(root.root), "--text", str(text)]
        command += ["--memory", args.memory, "--lm-top-k", str(args.top_k)]
        step = run_measured(command, env)
        result = json.loads(str(step["stdout"]).strip().splitlines()[-1])
        report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))
        scratch = Path(work) / "baseline"
        scratch.mkdir()
        baseline = run_baseline(tools, result, scratch, args.memory)
        size_mb = text.stat().st_size / 1e6
    print_results(size_mb, report["language_model"], step, baseline, load)


if __name__ == "__main__":
    main()
