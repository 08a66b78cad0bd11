"""Every flag stt_tasks emits exists in coqui-stt-training 1.4.0's own Config, with a compatible type."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import typing
import unittest
from pathlib import Path

from stt_tasks.training import compat

compat.install([])
from coqui_stt_training.util.config import BaseSttConfig  # noqa: E402

from stt_tasks.parameters import PARAMETERS  # noqa: E402
from stt_tasks.training.flags import COQUI_FLAG_TYPES, parameter_flags, render  # noqa: E402

COQUI_FIELDS = {f.name: f.type for f in dataclasses.fields(BaseSttConfig)}


def our_kind(coqui_type):
    """Our table's type for coqui's declared type (``List[str]`` is ``list``)."""
    if typing.get_origin(coqui_type) in (list, typing.List):
        return list
    return coqui_type


class CoquiConfigTest(unittest.TestCase):
    def test_every_flag_exists_with_the_same_type(self):
        for flag, kind in COQUI_FLAG_TYPES.items():
            with self.subTest(flag=flag):
                self.assertIn(flag, COQUI_FIELDS, "coqui 1.4.0 has no --{}".format(flag))
                self.assertIs(our_kind(COQUI_FIELDS[flag]), kind, flag)

    def test_coqui_parses_what_we_render(self):
        # Default values of every run parameter, through our table, then coqui's own argument parser.
        params = {name: p.parse(p.default) for name, p in PARAMETERS.items()}
        params = {name: value for name, value in params.items() if value is not None}
        flags = parameter_flags(params)
        with tempfile.TemporaryDirectory() as tmp:
            alphabet = Path(tmp) / "alphabet.txt"
            alphabet.write_text(" \na\nb\n'\n", encoding="utf-8")
            flags.update({"alphabet_config_path": str(alphabet), "train_files": ["x_train.csv", "y_train.csv"],
                          "checkpoint_dir": tmp, "show_progressbar": False, "train_cudnn": False})
            saved = sys.argv
            sys.argv = ["coqui"] + render(flags)
            try:
                config = BaseSttConfig.init_from_argparse(arg_prefix="")
            finally:
                sys.argv = saved
        for flag, value in flags.items():
            with self.subTest(flag=flag):
                self.assertEqual(getattr(config, flag), value)
        self.assertEqual(config.train_batch_size, 64)
        self.assertEqual(config.dropout_rate, 0.3)


if __name__ == "__main__":
    unittest.main()
