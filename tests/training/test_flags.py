"""The parameter-to-flag table (host side; the image-side test checks it against coqui's Config)."""

from __future__ import annotations

import re

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.parameters import PARAMETERS
from stt_tasks.training.augmentation import ORIGINAL_SPECS
from stt_tasks.training.flags import COQUI_FLAG_TYPES, FlagError, direct_flags, parameter_flags, render, train_flags


def test_every_parameter_says_its_flags_or_where_it_is_used():
    for parameter in PARAMETERS.values():
        assert parameter.coqui or parameter.note, "{} sets no flag and says nowhere why".format(parameter.name)
        assert set(parameter.coqui) <= set(COQUI_FLAG_TYPES), parameter.name


def test_direct_flags_leave_out_derived_parameters_and_those_without_flags():
    flags = direct_flags({"batch_size": 8, "log_level": 3, "lm_top_k": 10, "feature_cache": True, "epochs": 2})
    assert flags == {"train_batch_size": 8, "dev_batch_size": 8, "test_batch_size": 8, "epochs": 2}


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


def test_direct_flags_take_every_one_to_one_parameter_and_leave_the_others():
    flags = direct_flags({"batch_size": 8, "epochs": 3, "log_level": 2, "feature_cache": True, "amp": False,
                          "lm_top_k": 10, "not_a_parameter": 1})
    assert flags == {"train_batch_size": 8, "dev_batch_size": 8, "test_batch_size": 8, "epochs": 3}


def defaults(**changes):
    params = {name: p.parse(p.default) for name, p in PARAMETERS.items()}
    params.update(changes)
    return params


def test_derived_parameters_go_through_train_flags_only():
    for name in ("feature_cache", "enable_augments", "augmentation_arguments", "cache_for_epochs", "skip_batch_test",
                 "log_level"):
        assert PARAMETERS[name].derived
        with pytest.raises(FlagError, match="train_flags"):
            parameter_flags({name: defaults()[name]})


def test_train_flags_with_the_defaults():
    # The original's defaults: feature cache on, augmentation off, coqui's memory test skipped, INFO logs.
    assert train_flags(defaults(), "/mnt/tmp/feature_cache/k/features") == {
        "feature_cache": "/mnt/tmp/feature_cache/k/features", "skip_batch_test": True, "log_level": 1}
    assert train_flags(defaults(feature_cache=False)) == {"skip_batch_test": True, "log_level": 1}
    with pytest.raises(FlagError):
        train_flags(defaults())  # the cache is on: the step must say where


def test_train_flags_with_augmentation():
    flags = train_flags(defaults(enable_augments=True, cache_for_epochs=4), "/c/features")
    assert flags["augment"] == list(ORIGINAL_SPECS) and flags["cache_for_epochs"] == 4
    assert "--augment" in render(flags) and render(flags)[render(flags).index("--augment") + 1] == ORIGINAL_SPECS[0]
    # Without the feature cache there is nothing to invalidate.
    assert "cache_for_epochs" not in train_flags(defaults(enable_augments=True, feature_cache=False))
    assert "augment" not in train_flags(defaults(augmentation_arguments=["volume"]), "/c/features")  # off
    with pytest.raises(BadInputError, match="AUGMENTATION_ARGUMENTS .* is empty"):
        train_flags(defaults(enable_augments=True, augmentation_arguments=[]), "/c/features")


def test_train_flags_keep_coqui_at_info_and_always_skip_its_batch_test():
    # coqui's INFO lines carry the losses the step records; its own batch test never exits (STT#2195).
    flags = train_flags(defaults(log_level=3, skip_batch_test=False), "/c/features")
    assert flags["log_level"] == 1 and flags["skip_batch_test"] is True
    assert train_flags(defaults(log_level=0), "/c/features")["log_level"] == 0


@pytest.mark.parametrize("name,value,message", [
    ("log_level", "4", "must be 0 (debug), 1 (info), 2 (warnings) or 3 (errors)"),
    ("cache_for_epochs", "-1", "must be an integer >= 0"),
    ("skip_batch_test", "maybe", "expected a boolean"),
    ("feature_cache", "/mnt/cache", "expected a boolean"),
    ("enable_augments", "2", "expected a boolean"),
])
def test_new_parameters_are_validated(name, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PARAMETERS[name].resolve(value)


def test_new_parameters_keep_the_original_variable_names():
    assert {PARAMETERS[n].env for n in ("enable_augments", "augmentation_arguments", "skip_batch_test", "log_level")} \
        == {"ENABLE_AUGMENTS", "AUGMENTATION_ARGUMENTS", "SKIP_BATCH_TEST", "LOG_LEVEL"}
    assert PARAMETERS["skip_batch_test"].resolve(None) is True and PARAMETERS["log_level"].resolve(None) == 1
    assert PARAMETERS["feature_cache"].resolve(None) is True and PARAMETERS["enable_augments"].resolve(None) is False
