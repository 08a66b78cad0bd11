"""The lm step's progress lines: MB read with rate and ETA, and running counts of lines read and kept."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm import sources
from stt_tasks.lm import lm_text
from stt_tasks.lm.lm_text import LmTextProgress
from stt_tasks.lm.step import LmOptions, build_lm
from tests.log_capture import Captured
from stt_tasks.progress import LOG

PROGRESS_LINE = re.compile(r"^LM text: [\d.]+/[\d.]+ MB \(\d+%\), [\d.]+ MB/s, ETA \d+ s, (\d+) lines read, (\d+) kept")


def test_the_progress_line_counts_lines_read_and_kept():
    progress = LmTextProgress(2 * 10**6)
    blocks = list(progress.count_lines([b"une ligne\nune autre\n", b"la troisi\xc3\xa8me\n"]))
    assert len(blocks) == 2 and progress.lines == 3
    progress.count_kept("une ligne\nla troisi\u00e8me\n")
    progress.advance(10**6)
    line = progress.line()
    assert PROGRESS_LINE.match(line) and line.endswith(", 3 lines read, 2 kept"), line
    assert line.startswith("LM text: 1.0/2.0 MB (50%)")


@pytest.mark.usefixtures("kenlm_tools")
def test_the_lm_step_logs_running_line_counts(data_root: DataRoot, pack: LanguagePack, french_text: Path,
                                              monkeypatch) -> None:
    # Small blocks and a line at every block (not every 5 s), so that the running counts show on a small text.
    monkeypatch.setattr(sources, "BLOCK_SIZE", 64 * 1024)
    monkeypatch.setattr(lm_text, "LmTextProgress", lambda total: LmTextProgress(total, interval=0.0))
    captured = Captured()
    LOG.addHandler(captured)
    level = LOG.level
    LOG.setLevel(logging.INFO)
    try:
        result = build_lm(data_root, pack, LmOptions(texts=(french_text,), memory="100M", top_k=500, workers=2))
    finally:
        LOG.removeHandler(captured)
        LOG.setLevel(level)
    counts = [(int(m.group(1)), int(m.group(2))) for m in map(PROGRESS_LINE.match, captured.messages) if m]
    assert len(counts) >= 10, captured.messages
    read = [lines for lines, _ in counts]
    kept = [k for _, k in counts]
    assert read == sorted(read) and kept == sorted(kept) and 0 < read[1] < read[-1]
    # The last line (at the end) agrees with the step's report.
    report = json.loads(Path(result["report"]).read_text(encoding="utf-8"))["language_model"]
    assert counts[-1] == (report["lines"], report["kept_lines"])
    assert [m for m in captured.messages if m.startswith("LM text:") and "(done in" in m]
