"""Reading a coqui checkpoint directory without TensorFlow: steps, best checkpoint, flags, alphabet.

TensorFlow's ``checkpoint`` / ``best_dev_checkpoint`` state files are text (``model_checkpoint_path:
"train-1234"``) and coqui saves with ``global_step``, so the step count is in the name. That lets the
train step compute how many epochs a killed run had finished, and the package step list the files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List, Optional

_PATH_LINE = re.compile(r'^(?:all_)?model_checkpoint_paths?:\s*"(?P<path>[^"]+)"', re.M)


def checkpoint_prefixes(directory: Path, state_file: str = "checkpoint") -> List[str]:
    """Checkpoint prefixes named by a state file (the current one first), or [] when absent."""
    state = directory / state_file
    if not state.is_file():
        return []
    prefixes: List[str] = []
    for match in _PATH_LINE.finditer(state.read_text(encoding="utf-8")):
        prefix = match.group("path")
        if prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes


def global_step(directory: Path, state_file: str = "checkpoint") -> int:
    """The global step of the latest checkpoint (0 when there is none)."""
    prefixes = checkpoint_prefixes(directory, state_file)
    if not prefixes:
        return 0
    match = re.search(r"-(\d+)$", prefixes[0])
    return int(match.group(1)) if match else 0


def checkpoint_files(directory: Path, state_file: str = "best_dev_checkpoint") -> List[Path]:
    """The state file plus every file of the checkpoint it names first (index, data shards)."""
    prefixes = checkpoint_prefixes(directory, state_file)
    if not prefixes:
        return []
    name = Path(prefixes[0]).name
    files = sorted(p for p in directory.iterdir() if p.name.startswith(name + ".") and p.is_file())
    return [directory / state_file] + files


def has_checkpoint(directory: Path) -> bool:
    return bool(checkpoint_prefixes(directory)) or bool(checkpoint_prefixes(directory, "best_dev_checkpoint"))


def checkpoint_n_hidden(directory: Path) -> Optional[int]:
    """``n_hidden`` recorded in coqui's ``flags.txt`` (coqui overrides ``--n_hidden`` with it)."""
    flags = directory / "flags.txt"
    if not flags.is_file():
        return None
    try:
        return int(json.loads(flags.read_text(encoding="utf-8"))["n_hidden"])
    except (ValueError, KeyError, TypeError):
        return None


def relative_state(text: str) -> str:
    """A checkpoint state file's text with every path reduced to its file name (portable)."""
    return re.sub(r'^((?:all_)?model_checkpoint_paths?:\s*")([^"]*/)?([^"/]+")', r"\1\3", text, flags=re.M)


def portable_view(directory: Path, staging: Path) -> Path:
    """``directory`` itself when its state files resolve there, else a view of it that does.

    Coqui saves absolute paths in its state files (``/mnt/checkpoints/best_dev-12``), so a checkpoint
    mounted elsewhere (``/transfer-checkpoint``, read-only) names files TensorFlow cannot find. The
    view is a folder of symbolic links to the files with the state files rewritten to bare names.
    """
    states = [n for n in ("checkpoint", "best_dev_checkpoint") if (directory / n).is_file()]
    resolvable = all(Path(str(directory / p) + ".index").is_file()  # an absolute p replaces directory
                     for n in states for p in checkpoint_prefixes(directory, n)[:1])
    if resolvable:
        return directory
    import shutil

    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for entry in directory.iterdir():
        if entry.name in states:
            (staging / entry.name).write_text(relative_state(entry.read_text(encoding="utf-8")), encoding="utf-8")
        elif entry.is_file():
            (staging / entry.name).symlink_to(entry.absolute())
    return staging
