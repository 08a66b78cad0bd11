"""Shared fixtures: the French pack, the generated sample corpus, a fresh data root, the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from stt_tasks.languages import LanguagePack, load_language
from stt_tasks.layout import DataRoot
from stt_tasks.sample_corpus import Speaker, build_sample_corpus, synthesise

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def fr_pack() -> LanguagePack:
    return load_language("fr")


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory: pytest.TempPathFactory, fr_pack: LanguagePack) -> Dict[str, Any]:
    """The sample corpus, generated once per test session."""
    return build_sample_corpus(tmp_path_factory.mktemp("sample"), fr_pack)


@pytest.fixture
def sample_data_root(tmp_path: Path, sample_release: Dict[str, Any]) -> DataRoot:
    """A fresh data root whose sources/ holds the sample release."""
    root = DataRoot(tmp_path / "data")
    root.create()
    archive = Path(sample_release["archive"])
    shutil.copyfile(archive, root.sources / archive.name)
    return root


@pytest.fixture(scope="session")
def clip_payloads() -> List[bytes]:
    """Six short French mp3 clips (48 kHz, as Common Voice), for hand-made releases."""
    speaker = Speaker("fixture", "fr", 170, 50, "train", "male")
    sentences = ["le chat dort", "il fait beau", "la mer est calme", "bonjour", "merci beaucoup", "au revoir"]
    return [synthesise(speaker, s) for s in sentences]


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def result(self) -> Dict[str, Any]:
        """The JSON object on the last stdout line (the XCom Airflow will see)."""
        lines = self.stdout.splitlines()
        assert lines, "no stdout; stderr:\n" + self.stderr
        return json.loads(lines[-1])


def run_step(*args: str, env: Optional[Dict[str, str]] = None, timeout: float = 300) -> StepRun:
    """Run ``python -m stt_tasks ARGS`` as Airflow would, in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    completed = subprocess.run(
        [sys.executable, "-m", "stt_tasks"] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=str(REPO),
        timeout=timeout,
    )
    return StepRun(completed.returncode, completed.stdout.decode(), completed.stderr.decode())


@pytest.fixture
def step():
    return run_step
