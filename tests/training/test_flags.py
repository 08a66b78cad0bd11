"""The parameter-to-flag table (host side; the image-side test checks it against coqui's Config)."""

from __future__ import annotations

import pytest

from stt_tasks.parameters import PARAMETERS
from stt_tasks.training.flags import COQUI_FLAG_TYPES, PARAMETER_FLAGS, FlagError, parameter_flags, render


def test_every_parameter_is_in_the_table_once():
    assert set(PARAMETER_FLAGS) == set(PARAMETERS)
    for entry in PARAMETER_FLAGS.values():
        assert entry.flags or entry.note, "{} sets no flag and says nowhere why".format(entry.parameter)
        assert set(entry.flags) <= set(COQUI_FLAG_TYPES)


def test_parameters_become_typed_flags():
    flags = parameter_flags({"batch_size": 8, "dropout": 0.3, "early_stop": True, "beam_width": 100})
    assert flags == {"train_batch_size": 8, "dev_batch_size": 8, "test_batch_size": 8, "dropout_rate": 0.3,
                     "early_stop": True, "beam_width": 100, "export_beam_width": 100}
    assert render(flags) == [
        "--beam_width", "100", "--dev_batch_size", "8", "--dropout_rate", "0.3", "--early_stop", "true",
        "--export_beam_width", "100", "--test_batch_size", "8", "--train_batch_size", "8",
    ]


def test_lists_floats_and_none():
    assert render({"train_files": ["a.csv", "b.csv"], "learning_rate": 1, "scorer_path": None, "augment": []}) == [
        "--learning_rate", "1.0", "--train_files", "a.csv", "b.csv"]


@pytest.mark.parametrize("flags", [
    {"no_such_flag": 1},
    {"epochs": 2.5},
    {"epochs": True},
    {"early_stop": 1},
    {"train_files": "a.csv"},
    {"scorer_path": 3},
    {"learning_rate": "0.1"},
])
def test_wrong_flags_are_refused(flags):
    with pytest.raises(FlagError):
        render(flags)


def test_unknown_parameter_is_refused():
    with pytest.raises(FlagError):
        parameter_flags({"batchsize": 3})
