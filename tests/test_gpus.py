"""The ``gpus`` run parameter: its spellings, the effective batch, the refusal where no GPU is seen."""

from __future__ import annotations

import pytest

from stt_tasks.errors import BadInputError
from stt_tasks.gpus import GpuSelection, check_visible, effective_batch, parse_gpus, selection
from stt_tasks.parameters import PARAMETERS


@pytest.mark.parametrize("text,expected", [
    ("all", GpuSelection(-1, ())), (" ALL ", GpuSelection(-1, ())), ("2", GpuSelection(2, ())),
    ("0,2", GpuSelection(0, ("0", "2"))), ("0, 2", GpuSelection(0, ("0", "2"))),
    ("device=1", GpuSelection(0, ("1",))),
])
def test_the_spellings_name_a_count_or_device_ids(text, expected):
    assert selection(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "0,,2", "1,", "device=", "gpu0", ""])
def test_other_values_are_refused_saying_what_is_accepted(text):
    with pytest.raises(ValueError, match="expected all, a count of GPUs"):
        parse_gpus(text)


def test_the_parameter_is_spelled_one_way_and_named_in_errors():
    parameter = PARAMETERS["gpus"]
    assert parameter.typed_default() == "all" and parameter.resolve("device=0,2") == "0,2"
    assert parameter.render("0,2") == ["--gpus=0,2"]
    with pytest.raises(ValueError, match="--gpus: expected all"):
        parameter.resolve("many")


def test_the_effective_batch_is_batch_size_times_the_visible_gpus():
    assert effective_batch(64, ["GPU 0: A", "GPU 1: B"]) == 128
    assert effective_batch(64, []) == 64  # the CPU: one tower


def test_chosen_gpus_where_none_is_seen_are_refused_naming_the_setting():
    check_visible("all", [])  # the default runs anywhere
    check_visible("2", ["GPU 0", "GPU 1"])
    with pytest.raises(BadInputError, match="gpus=2 .*STT_GPU_ENABLED"):
        check_visible("2", [])
