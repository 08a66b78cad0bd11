"""The training clips' feature cache (coqui ``--feature_cache``): where it lives, and when it is stale.

coqui caches what its training input pipeline yields (features after the augmentations, transcripts
encoded with the alphabet) with tf.data's file cache, which knows nothing of where that came from: the
original image kept one cache in ``sources/`` for ever, so new clips or a new alphabet would have trained
on stale features. Here each cache is a folder named by what its content depends on; a cache made from
other inputs is removed, and so is an unfinished one left by a killed run (tf.data refuses to start
beside its lockfile, and a cache without its ``.index`` is never read anyway).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from stt_tasks.fsio import json_digest, remove_path
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG

FOLDER = "feature_cache"
#: coqui's path is a file prefix: tf.data writes ``features.index`` and ``features.data-*`` when an epoch ends.
PREFIX = "features"


def cache_key(depends_on: Mapping[str, Any]) -> str:
    """A short name for the inputs the cached features depend on."""
    return json_digest(depends_on)[:16]


def feature_cache_prefix(root: DataRoot, depends_on: Mapping[str, Any]) -> Path:
    """``tmp/feature_cache/<key>/features`` for these inputs, ready for coqui.

    Caches of other inputs are removed, and the files of an unfinished cache (no ``features.index``).
    """
    base = root.tmp / FOLDER
    folder = base / cache_key(depends_on)
    if base.is_dir():
        for other in sorted(base.iterdir()):
            if other != folder:
                LOG.info("removing the feature cache %s: it was made from other training inputs", other)
                remove_path(other)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / PREFIX
    complete = Path(str(prefix) + ".index").is_file()
    leftovers = [p for p in sorted(folder.iterdir()) if not complete or p.name.endswith(".lockfile")]
    if leftovers:
        LOG.info("removing %d files of an unfinished feature cache in %s (left by an interrupted run)",
                 len(leftovers), folder)
        for path in leftovers:
            remove_path(path)
    LOG.info("feature cache %s (%s)", prefix, "complete: epochs read it" if complete else "written by the first epoch")
    return prefix
