"""KenLM's command-line tools (``lmplz``, ``filter``, ``build_binary``), run as the original recipe did.

The recipe (datasets.md 6.2): a 4-gram with trigrams and 4-grams seen once pruned, filtered to the
top-k vocabulary, stored as a quantised trie without vocabulary strings (what the scorer needs).
The recipe is the constants below; :func:`recipe` and :func:`tools_identity` are what the lm step's
completion marker records of it, so that changing a constant or the tools rebuilds the LM.
``lmplz`` reads the normalised text on its stdin while it is being produced, so estimating the LM
overlaps with normalising the text. Tools are found in ``$KENLM_BIN`` or on ``PATH``
(``scripts/build-kenlm.sh`` builds them from the ``kenlm`` source distribution on PyPI).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
import time
import types
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Type

from stt_tasks.errors import StepError
from stt_tasks.fsio import sha256_file

TOOLS = ("lmplz", "filter", "build_binary")
ORDER = 4
#: ``--arpa_prune "0|0|1"``: keep every unigram and bigram, drop trigrams and 4-grams seen once.
PRUNE = (0, 0, 1)
#: Small corpora cannot estimate every discount; KenLM then needs permission to fall back.
LMPLZ_ARGS = ("--discount_fallback",)
#: ``filter single``: one filtered model, keeping the n-grams made only of vocabulary words.
FILTER_MODE = "single"
BINARY_ARGS = ("-a", "255", "-q", "8", "-v", "trie")
_LOG_TAIL = 2000


class KenLMError(StepError):
    """A KenLM tool is missing or failed; the message holds its log's end."""


def find_tools() -> Dict[str, Path]:
    """Paths of the KenLM tools, from ``$KENLM_BIN`` first, else ``PATH``."""
    folder = os.environ.get("KENLM_BIN")
    found: Dict[str, Path] = {}
    for tool in TOOLS:
        if folder:
            candidate = Path(folder) / tool
            path = str(candidate) if os.access(str(candidate), os.X_OK) else None
        else:
            path = shutil.which(tool)
        if path is None:
            raise KenLMError(
                "KenLM's {} not found {}. Build the tools with scripts/build-kenlm.sh and set "
                "KENLM_BIN=<checkout>/.tools/kenlm/bin (or put them on PATH).".format(
                    tool, "in KENLM_BIN={}".format(folder) if folder else "on PATH"
                )
            )
        found[tool] = Path(path)
    return found


def recipe() -> Dict[str, Any]:
    """The recipe's constants as JSON values: what a marker records so that changing one rebuilds.

    Read when called (not frozen at import), so the marker always holds what the tools are run with.
    """
    return {
        "order": ORDER,
        "prune": list(PRUNE),
        "lmplz": list(LMPLZ_ARGS),
        "filter": FILTER_MODE,
        "build_binary": list(BINARY_ARGS),
    }


def tools_identity(tools: Dict[str, Path]) -> Dict[str, str]:
    """SHA-256 of each tool's executable: KenLM's tools print no version, and another build of them
    (a new KenLM release, other compiler flags such as ``KENLM_MAX_ORDER``) may write other bytes."""
    return {name: sha256_file(path) for name, path in sorted(tools.items())}


def lmplz_command(tool: Path, arpa: Path, work_dir: Path, memory: str) -> List[str]:
    """``lmplz`` as the recipe runs it, reading text on its stdin (``--text FILE`` may be appended)."""
    command = [str(tool), "--order", str(ORDER), "--memory", memory, "--temp_prefix", str(work_dir) + "/"]
    return command + ["--prune"] + [str(p) for p in PRUNE] + list(LMPLZ_ARGS) + ["--arpa", str(arpa)]


def filter_command(tool: Path, arpa: Path, filtered: Path) -> List[str]:
    """``filter`` as the recipe runs it; the vocabulary comes on its stdin."""
    return [str(tool), FILTER_MODE, "model:{}".format(arpa), str(filtered)]


def build_binary_command(tool: Path, arpa: Path, binary: Path, work_dir: Path) -> List[str]:
    """``build_binary`` as the recipe runs it."""
    return [str(tool), "-T", str(work_dir) + "/"] + list(BINARY_ARGS) + [str(arpa), str(binary)]


def _tail(log: Path) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-_LOG_TAIL:].strip()


def _failed(tool: str, code: int, log: Path, hint: str = "") -> KenLMError:
    # The log lives in the step's work folder, removed on failure: its end goes into the message.
    return KenLMError("{} exited with status {}:\n{}\n{}".format(tool, code, _tail(log), hint).rstrip())


class Lmplz:
    """An ``lmplz`` process estimating the LM from text written to it, into an ARPA file.

    A thread feeds lmplz's stdin from a small queue, so the caller never waits on the pipe: text
    keeps being prepared while lmplz reads, and lmplz keeps reading while the next text is prepared.
    As a context manager it stops lmplz when the block fails (our own input failed).
    """

    QUEUED_BLOCKS = 4

    def __init__(self, tool: Path, arpa: Path, work_dir: Path, memory: str) -> None:
        self.log = work_dir / "lmplz.log"
        self._log_handle = open(self.log, "wb")
        command = lmplz_command(tool, arpa, work_dir, memory)
        self._started = time.monotonic()
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log_handle
        )
        self._queue: "queue.Queue[Optional[bytes]]" = queue.Queue(self.QUEUED_BLOCKS)
        self._broken = False
        self._feeder = threading.Thread(target=self._feed, name="lmplz-stdin", daemon=True)
        self._feeder.start()

    def __enter__(self) -> "Lmplz":
        return self

    def __exit__(
        self,
        kind: Optional[Type[BaseException]],
        error: Optional[BaseException],
        traceback: Optional[types.TracebackType],
    ) -> None:
        if kind is not None:
            self.abort()

    def _feed(self) -> None:
        stdin: IO[bytes] = self._process.stdin  # type: ignore[assignment]
        while True:
            text = self._queue.get()
            if text is None:
                break
            if self._broken:
                continue  # drain, so that the producer never blocks on a dead lmplz
            try:
                stdin.write(text)
            except BrokenPipeError:
                self._broken = True
        try:
            stdin.close()
        except BrokenPipeError:
            self._broken = True

    def write(self, text: bytes) -> None:
        """Queue text for lmplz; if lmplz died, report why."""
        if self._broken:
            self._stop()
            raise self._error()
        self._queue.put(text)

    def finish(self) -> float:
        """Close the input, wait for the ARPA file; return lmplz's wall time in seconds."""
        self._queue.put(None)
        self._feeder.join()
        code = self._process.wait()
        self._log_handle.close()
        if code != 0:
            raise self._error()
        return time.monotonic() - self._started

    def abort(self) -> None:
        """Stop lmplz after a failure elsewhere (our own input failed)."""
        self._stop()

    def _stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        if self._feeder.is_alive():
            self._broken = True
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                pass
        self._log_handle.close()

    def _error(self) -> KenLMError:
        return _failed(
            "lmplz",
            self._process.returncode,
            self.log,
            "If it ran out of memory, lower --memory (sorting memory, e.g. 50% or 4G); if the text is "
            "tiny, give more text.",
        )


def _run(command: Sequence[str], log: Path, stdin: Optional[bytes] = None) -> float:
    started = time.monotonic()
    with open(log, "wb") as handle:
        process = subprocess.run(list(command), input=stdin, stdout=handle, stderr=handle)
    if process.returncode != 0:
        raise _failed(Path(command[0]).name, process.returncode, log)
    return time.monotonic() - started


def filter_arpa(tool: Path, arpa: Path, vocabulary: Sequence[str], filtered: Path, work_dir: Path) -> float:
    """Keep the n-grams made only of ``vocabulary`` words (the original's ``filter single``)."""
    words = "\n".join(vocabulary).encode("utf-8")
    return _run(filter_command(tool, arpa, filtered), work_dir / "filter.log", words)


def build_binary(tool: Path, arpa: Path, binary: Path, work_dir: Path) -> float:
    """Quantised trie without vocabulary strings (``-v``), as the scorer package requires."""
    return _run(build_binary_command(tool, arpa, binary, work_dir), work_dir / "build_binary.log")
