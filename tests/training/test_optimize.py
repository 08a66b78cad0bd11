"""Decoder tuning: it tunes the scorer it is given and writes its own scorer package with the tuned defaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stt_tasks.errors import BadInputError, NothingToDoError
from stt_tasks.fsio import sha256_file
from stt_tasks.lm.scorer import float32, read_scorer_defaults
from stt_tasks.parameters import PARAMETERS
from stt_tasks.training import optimize
from stt_tasks.training.optimize import optimize_lm

PARAMS = dict({name: PARAMETERS[name].parse(PARAMETERS[name].default) for name in ("batch_size", "beam_width")},
              lm_evaluate_range=(2.0, 2.0, 3))


@pytest.fixture
def search(monkeypatch, acoustic_pass):
    """Records the search settings (optuna and the decoder run in the image only); it finds 0.5, 1.5."""
    calls = []

    def search(settings):
        calls.append(settings)
        return {"lm_alpha": 0.5, "lm_beta": 1.5, "wer": 0.2, "metric": "wer", "trials": 3, "resumed_from": 0}

    monkeypatch.setattr(optimize, "search", search)
    return calls


def snapshot(root):
    """Every file under the data root with its bytes' hash and its modification time."""
    return {str(p): (sha256_file(p), p.stat().st_mtime_ns) for p in sorted(root.root.rglob("*")) if p.is_file()}


def test_the_tuned_values_become_the_defaults_of_a_scorer_package_of_its_own(trained_root, search, acoustic_pass):
    alphabet = trained_root.models / "other_alphabet.txt"
    alphabet.write_text(trained_root.alphabet.read_text(encoding="utf-8"), encoding="utf-8")
    given = trained_root.scorer.read_bytes()
    result = optimize_lm(trained_root, PARAMS, alphabet=alphabet, scorer=trained_root.scorer)
    [settings] = search
    assert settings.alphabet == alphabet and settings.scorer == trained_root.scorer
    # the trials decode the dev CSV's stored outputs, computed by one acoustic pass with that alphabet
    [(csv_path, _path)] = [(Path(o["csv"]), Path(o["path"])) for o in acoustic_pass[0]["outputs"]]
    assert csv_path.name == "cv-fr_dev.csv" and settings.stored_outputs == [_path] and _path.is_file()
    assert acoustic_pass[0]["flags"]["alphabet_config_path"] == str(alphabet)
    assert result["acoustic_passes"] == {"computed": 1, "reused": 0}
    assert result["scorer"] == str(trained_root.tuned_scorer) and result["tuning"] == str(trained_root.tuning)
    assert (result["lm_alpha"], result["lm_beta"], result["wer"], result["trials"]) == (0.5, 1.5, 0.2, 3)
    tuned = read_scorer_defaults(trained_root.tuned_scorer)
    assert (tuned.alpha, tuned.beta) == (float32(0.5), float32(1.5))
    # the same language model and dictionary: only the two defaults differ
    tuned_bytes = trained_root.tuned_scorer.read_bytes()
    assert len(tuned_bytes) == len(given) and sum(a != b for a, b in zip(tuned_bytes, given)) <= 16
    assert trained_root.scorer.read_bytes() == given  # the lm step's package is never rewritten
    assert json.loads(trained_root.tuning.read_text())["scorer"] == str(trained_root.tuned_scorer)
    assert not list(trained_root.lm.rglob(".*tmp-*"))


def test_a_re_run_with_nothing_changed_skips_and_changes_no_byte(trained_root, search):
    first = optimize_lm(trained_root, PARAMS)
    before = snapshot(trained_root)
    again = optimize_lm(trained_root, PARAMS)
    assert again["skipped"] and len(search) == 1 and snapshot(trained_root) == before
    assert {k: v for k, v in again.items() if k != "skipped"} == {k: v for k, v in first.items() if k != "skipped"}


def test_a_scorer_with_other_bytes_is_tuned_again(trained_root, search, scorer_package, acoustic_pass):
    optimize_lm(trained_root, PARAMS)
    # Same path and size, other content (the lm step rebuilt it with other defaults): the tuning is stale.
    scorer_package(trained_root.scorer, trained_root.alphabet, alpha=0.25, beta=0.0)
    again = optimize_lm(trained_root, PARAMS)
    assert not again["skipped"] and len(search) == 2
    assert search[0].scorer == search[1].scorer
    assert len(acoustic_pass) == 1  # the same checkpoint and dev CSV: the stored outputs are decoded again


def test_any_scorer_package_given_gets_its_tuned_twin(trained_root, search, scorer_package):
    released = scorer_package(trained_root.root / "released" / "kenlm.scorer", trained_root.alphabet, 0.9, 0.9)
    result = optimize_lm(trained_root, PARAMS, scorer=released)
    assert search[0].scorer == released
    assert search[0].alphabet == trained_root.alphabet  # the default
    assert read_scorer_defaults(Path(result["scorer"])).alpha == float32(0.5)
    assert read_scorer_defaults(released).alpha == float32(0.9)


def test_no_scorer_means_nothing_to_do_and_a_broken_one_fails_before_the_search(trained_root, search):
    broken = trained_root.lm / "broken.scorer"
    broken.write_bytes(b"not a scorer")
    with pytest.raises(BadInputError, match="broken.scorer: not a Coqui scorer package"):
        optimize_lm(trained_root, PARAMS, scorer=broken)
    trained_root.scorer.unlink()
    with pytest.raises(NothingToDoError, match="kenlm.scorer"):
        optimize_lm(trained_root, PARAMS)
    assert search == []
