"""Training stack in the CPU image: the compatibility layer's numerical tests and upstream's smoke test.

Both run real TensorFlow 2.15, real coqui-stt-training 1.4.0 and the real ``stt`` runtime inside the
image, driven from the host with ``docker run`` (see ``image_runner``).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.image_runner import REPO, SMOKE_FIXTURES, needs_image, run_in_image, writable_dir

pytestmark = needs_image

LDC93S1_TRANSCRIPT = "she had your dark suit in greasy wash water all year"


def test_compat_layer_numerical_checks_in_the_image():
    run = run_in_image(
        ["-m", "unittest", "discover", "-s", "/tests", "-p", "tf_test_*.py", "-v"],
        volumes={REPO / "tests" / "image": "/tests:ro"},
        entrypoint="python",
        timeout=600,
    )
    assert run.returncode == 0, run.explain()
    assert "Ran " in run.stderr and "OK" in run.stderr.splitlines()[-1], run.explain()


@pytest.mark.slow
def test_ldc93s1_smoke_training_reaches_wer_0_and_stt_transcribes_exactly(tmp_path):
    """Upstream's check: 200 epochs, n_hidden 100, WER 0 with and without the scorer, exact in ``stt``.

    Then optimize-lm on that model with upstream's scorer (see ``check_optimize_lm``).
    """
    assert (SMOKE_FIXTURES / "LDC93S1.wav").is_file(), "missing ../shared/fixtures/coqui-smoke-test"
    work = writable_dir(tmp_path / "work")
    run = run_in_image(
        ["-m", "stt_tasks.training.smoke", "--clip", "/fixtures/LDC93S1.wav", "--transcript", LDC93S1_TRANSCRIPT,
         "--alphabet", "/fixtures/alphabet.txt", "--scorer", "/fixtures/pruned_lm.scorer",
         "--workdir", "/work/smoke", "--epochs", "200", "--n-hidden", "100"],
        volumes={SMOKE_FIXTURES: "/fixtures:ro", work: "/work"},
        entrypoint="python",
    )
    assert run.returncode == 0, run.explain()
    result = run.result
    assert result["without_scorer"]["wer"] == 0.0 and result["with_scorer"]["wer"] == 0.0, result
    assert result["stt_runtime"] == {"without_scorer": [LDC93S1_TRANSCRIPT], "with_scorer": [LDC93S1_TRANSCRIPT]}
    assert (work / "smoke" / "export" / "output_graph.tflite").stat().st_size == result["model_bytes"]
    assert not list((work / "smoke" / "export").glob("*.pb")), "a frozen graph was exported though not asked for"
    check_optimize_lm(work)


def ldc93s1_data_root(work):
    """Make the smoke run's folder a data root: its checkpoints, the clip as a dev set, the scorer."""
    root = work / "smoke"
    for folder in ("extracted/data/ldc93s1", "models", "lm"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(str(root / folder), 0o777)
    (root / "extracted/data/ldc93s1/ldc93s1_dev.csv").write_text(
        "wav_filename,wav_filesize,transcript\n/fixtures/LDC93S1.wav,93638,{}\n".format(LDC93S1_TRANSCRIPT))
    shutil.copyfile(str(SMOKE_FIXTURES / "alphabet.txt"), str(root / "models" / "alphabet.txt"))
    shutil.copyfile(str(SMOKE_FIXTURES / "pruned_lm.scorer"), str(root / "lm" / "kenlm.scorer"))
    return root


def check_optimize_lm(work):
    """optimize-lm with upstream's pruned scorer, on the smoke model (WER 0, so the tuned WER must be 0).

    Tunes on the dev set, stores the study in SQLite, resumes it, and does not redo finished work. A scorer
    of our own (LM step, KenLM in the image) is tuned in the sample-corpus pipeline test.
    """
    root = ldc93s1_data_root(work)
    volumes = {SMOKE_FIXTURES: "/fixtures:ro", work: "/work"}
    first = run_in_image(["optimize-lm", "--data-root", "/work/smoke", "--lm-evaluate-range", "2,3,2",
                          "--batch-size", "1"], volumes=volumes)
    assert first.returncode == 0 and first.result["trials"] == 2, first.explain()
    # Asking for 3 trials continues the stored study (as a killed run does): one more trial, not three.
    args = ["optimize-lm", "--data-root", "/work/smoke", "--lm-evaluate-range", "2,3,3", "--batch-size", "1"]
    run = run_in_image(args, volumes=volumes)
    assert run.returncode == 0, run.explain()
    result = run.result
    assert result["resumed_from_trials"] == 2 and result["study_name"] == first.result["study_name"]
    assert result["trials"] == 3 and result["wer"] == 0.0 and result["metric"] == "wer"
    assert 0.0 <= result["lm_alpha"] <= 2.0 and 0.0 <= result["lm_beta"] <= 3.0
    assert result["tuned_on"] == ["/work/smoke/extracted/data/ldc93s1/ldc93s1_dev.csv"]
    assert (root / "lm" / "lm_optimizer.sqlite").stat().st_size > 0
    assert json.loads((root / "lm" / "opt_lm.json").read_text())["lm_alpha"] == result["lm_alpha"]
    again = run_in_image(args, volumes={SMOKE_FIXTURES: "/fixtures:ro", work: "/work"})
    assert again.returncode == 0 and again.result["skipped"], again.explain()
