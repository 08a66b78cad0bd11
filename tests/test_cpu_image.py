"""The CPU image runs the steps as uid 999 with no network, honouring the JSON-last-line contract."""

from __future__ import annotations

import json
import subprocess

from tests.image_runner import IMAGE, needs_image, writable_dir

pytestmark = needs_image


def docker_step(data_dir, *args):
    completed = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", "{}:/mnt".format(data_dir), IMAGE] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=600,
    )
    return completed.returncode, completed.stdout.decode(), completed.stderr.decode()


def test_steps_run_in_the_image(tmp_path):
    data = writable_dir(tmp_path / "data")
    rc, out, err = docker_step(data, "sample-corpus", "--dest", "/mnt/sources")
    assert rc == 0, err
    rc, out, err = docker_step(data, "import", "common-voice")
    assert rc == 0, err
    result = json.loads(out.splitlines()[-1])
    assert result["clips"] == {"train": 96, "dev": 16, "test": 16}
    assert result["csv"]["train"] == "/mnt/extracted/data/cv-fr/cv-fr_train.csv"  # $STT_DATA_ROOT is /mnt
    assert (data / "extracted" / "data" / "cv-fr" / "cv-fr_train.csv").stat().st_uid == 999
    rc, out, err = docker_step(data, "alphabet")
    assert rc == 0, err
    assert (data / "models" / "alphabet.txt").read_text(encoding="utf-8").startswith(" \n'\n")


def test_missing_corpus_exit_code_in_the_image(tmp_path):
    data = writable_dir(tmp_path / "empty")
    rc, _out, err = docker_step(data, "import", "common-voice")
    assert rc == 99 and "place it there" in err
