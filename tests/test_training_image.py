"""Training stack in the CPU image: the compatibility layer's numerical tests and upstream's smoke test.

Both run real TensorFlow 2.15, real coqui-stt-training 1.4.0 and the real ``stt`` runtime inside the
image, driven from the host with ``docker run`` (see ``image_runner``).
"""

from __future__ import annotations

import pytest

from image_runner import REPO, SMOKE_FIXTURES, needs_image, run_in_image, writable_dir

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
    """Upstream's check: 200 epochs, n_hidden 100, WER 0 with and without the scorer, exact in ``stt``."""
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
