"""The memory test (``SKIP_BATCH_TEST=0``): a short training on the longest clips before the real one.

coqui's own test never lets the process exit (STT#2195) and would fill the feature cache from its three
batches only, so it runs here as a separate one-epoch training on the three batches of the longest clips,
in a scratch folder, with the training's flags minus the cache and the checkpoints.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any, List, Mapping

from stt_tasks.errors import BadInputError
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training.coqui import CoquiError, run_coqui
from stt_tasks.training.datasets import read_rows, wav_path

#: coqui's memory test trains on this many batches of the longest clips.
BATCH_TEST_BATCHES = 3
#: Flags of the real training the test must not inherit: it fills no cache and starts from no checkpoint.
_NOT_INHERITED = ("feature_cache", "cache_for_epochs", "load_checkpoint_dir", "save_checkpoint_dir",
                  "drop_source_layers")


def longest_clips_csv(train_csvs: List[Path], count: int, target: Path) -> Path:
    """A CSV of the ``count`` largest training clips (absolute paths), as coqui's memory test picks them."""
    rows = [(int(row.get("wav_filesize") or 0), wav_path(path, row["wav_filename"]), row["transcript"])
            for path in train_csvs for row in read_rows(path)]
    rows.sort(key=lambda row: row[0], reverse=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["wav_filename", "wav_filesize", "transcript"])
        for size, wav, transcript in rows[:count]:
            writer.writerow([wav, size, transcript])
    return target


def memory_test(root: DataRoot, train_csvs: List[Path], flags: Mapping[str, Any], batch_size: int,
                extra_env: Mapping[str, str]) -> None:
    """One epoch on the longest clips with the training's flags, in a scratch folder; an error names the fix."""
    work = root.tmp / "batch-test"
    if work.exists():
        shutil.rmtree(str(work))
    clips = longest_clips_csv(train_csvs, BATCH_TEST_BATCHES * batch_size, work / "longest_train.csv")
    test_flags = {k: v for k, v in flags.items() if k not in _NOT_INHERITED}
    test_flags.update({"train_files": [str(clips)], "dev_files": [str(clips)], "epochs": 1,
                       "checkpoint_dir": str(work / "checkpoints"), "load_train": "init",
                       "summary_dir": str(work / "summaries")})
    LOG.info("memory test (SKIP_BATCH_TEST=0): one epoch on the %d longest training clips",
             BATCH_TEST_BATCHES * batch_size)
    try:
        run_coqui("coqui_stt_training.train", test_flags, extra_env=extra_env)
    except CoquiError as error:
        raise BadInputError("the memory test failed: with batch size {} the longest clips may not fit in memory "
                            "(lower BATCH_SIZE), or see the cause below. Set SKIP_BATCH_TEST=1 to skip the test.\n{}"
                            .format(batch_size, error)) from None
    shutil.rmtree(str(work))
    LOG.info("memory test passed")
