"""Augmentation specs: the original's parse, bad ones are refused with the reason, the DAG's pattern agrees.

The table itself is checked against coqui 1.4.0's classes, and our specs with coqui's own parser, in the
CPU image (tests/image/tf_test_flags.py).
"""

from __future__ import annotations

import re

import pytest

from stt_tasks.parameters import PARAMETERS
from stt_tasks.training.augmentation import ORIGINAL_SPECS, SPECS_PATTERN, check_spec, parse_specs


def test_the_original_specs_are_the_default_and_parse_unchanged():
    parameter = PARAMETERS["augmentation_arguments"]
    assert parameter.env == "AUGMENTATION_ARGUMENTS"
    assert parameter.resolve(None) == list(ORIGINAL_SPECS) and len(ORIGINAL_SPECS) == 11
    assert re.search(SPECS_PATTERN, parameter.typed_default())


def test_specs_are_split_on_whitespace_but_not_inside_brackets():
    assert parse_specs(" reverb[p=0.1, delay=20.0~5]\n volume\twarp[] ") == ["reverb[p=0.1,delay=20.0~5]", "volume",
                                                                          "warp"]
    assert parse_specs("") == []


@pytest.mark.parametrize("spec,message", [
    ("echo[p=0.1]", "unknown augmentation 'echo'"),
    ("volume[p=1.5]", "a probability is in [0, 1]"),
    ("volume[gain=3]", "volume has no parameter 'gain'"),
    ("pitch[p=0.1,domain=signal]", "pitch has no parameter 'domain'"),  # its domain is fixed
    ("time_mask[domain=time]", "domain must be one of signal, spectrogram, features"),
    ("codec[bitrate=16000.5]", "bitrate='16000.5' is not a valid int range"),
    ("frequency_mask[n=1:3:5]", "more than one ':'"),
    ("reverb[delay=5~1~2]", "more than one '~'"),
    ("overlay[p=0.5]", "overlay needs source"),
    ("volume[0.1]", "is not key=value"),
    ("volume[p=0.1,p=0.2]", "p is given twice"),
    ("volume[p=0.1", "is not an augmentation spec"),
    ("--augment", "is not an augmentation spec"),
])
def test_bad_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_specs(spec)


def test_a_bad_spec_is_refused_at_the_parameter_with_its_name():
    with pytest.raises(ValueError, match=r"--augmentation-arguments \(env AUGMENTATION_ARGUMENTS\): .*echo"):
        PARAMETERS["augmentation_arguments"].resolve("volume echo[p=1]")


@pytest.mark.parametrize("text", ["", "volume", "reverb[p=0.1, delay=2] warp", " ".join(ORIGINAL_SPECS),
                                  "overlay[source=/mnt/sources/noise.sdb,snr=3:10]"])
def test_the_dag_pattern_accepts_what_the_step_accepts(text):
    parse_specs(text)
    assert re.search(SPECS_PATTERN, text)


@pytest.mark.parametrize("text", ["echo[p=1]", "volume[p=0.1", "add_noise", "--augment volume", "volume]x"])
def test_the_dag_pattern_refuses_malformed_specs(text):
    assert not re.search(SPECS_PATTERN, text)
    with pytest.raises(ValueError):
        parse_specs(text)


def test_check_spec_keeps_the_order_of_parameters():
    assert check_spec("time_mask[ size=50:100~40 , n=3:10~2 ]") == "time_mask[size=50:100~40,n=3:10~2]"
