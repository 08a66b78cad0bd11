"""Every flag stt_tasks emits exists in coqui-stt-training 1.4.0's own Config, with a compatible type;
our augmentation table is coqui's, and our specs parse with coqui's own parser."""

from __future__ import annotations

import dataclasses
import inspect
import sys
import tempfile
import typing
import unittest
from pathlib import Path

from stt_tasks.training import compat

compat.install([])
from coqui_stt_training.util import augmentations as coqui_augmentations  # noqa: E402
from coqui_stt_training.util.config import BaseSttConfig  # noqa: E402
from coqui_stt_training.util.helpers import ValueRange  # noqa: E402

from stt_tasks.parameters import PARAMETERS  # noqa: E402
from stt_tasks.training.augmentation import AUGMENTATIONS, ORIGINAL_SPECS, REQUIRED, parse_specs  # noqa: E402
from stt_tasks.training.flags import COQUI_FLAG_TYPES, direct_flags, render, train_flags  # noqa: E402

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
        # Default values of every run parameter (augmentation on), through our table and the train step's
        # derived flags, then coqui's own argument parser.
        params = {name: p.parse(p.default) for name, p in PARAMETERS.items()}
        params["enable_augments"] = True
        flags = direct_flags({name: value for name, value in params.items() if value is not None})
        with tempfile.TemporaryDirectory() as tmp:
            flags.update(train_flags(params, str(Path(tmp) / "features")))
            alphabet = Path(tmp) / "alphabet.txt"
            alphabet.write_text(" \na\nb\n'\n", encoding="utf-8")
            flags.update({"alphabet_config_path": str(alphabet), "train_files": ["x_train.csv", "y_train.csv"],
                          "checkpoint_dir": tmp, "show_progressbar": False, "train_cudnn": False})
            config = coqui_config(flags)
        for flag, value in flags.items():
            with self.subTest(flag=flag):
                self.assertEqual(getattr(config, flag), value)
        self.assertEqual(config.train_batch_size, 64)
        self.assertEqual(config.dropout_rate, 0.3)
        self.assertEqual(config.augment, list(ORIGINAL_SPECS))
        self.assertEqual(config.cache_for_epochs, 10)
        self.assertTrue(config.skip_batch_test)
        self.assertEqual(config.log_level, 1)
        # coqui parsed the specs into its augmentations (after its own sample-rate normalisation).
        self.assertEqual([type(a).__name__ for a in config.augmentations[1:]], [
            "Reverb", "Resample", "Codec", "Volume", "Pitch", "Tempo", "FrequencyMask", "TimeMask", "Dropout", "Add",
            "Multiply"])


def coqui_config(flags):
    """coqui 1.4.0's Config from our rendered command line."""
    saved = sys.argv
    sys.argv = ["coqui"] + render(flags)
    try:
        return BaseSttConfig.init_from_argparse(arg_prefix="")
    finally:
        sys.argv = saved


def coqui_class(name):
    """coqui's augmentation class for a spec name (``time_mask`` is ``TimeMask``), as its parser finds it."""
    return getattr(coqui_augmentations, "".join(part[0].upper() + part[1:] for part in name.split("_")))


class AugmentationTest(unittest.TestCase):
    def test_our_table_is_coquis_augmentations(self):
        base = (coqui_augmentations.Augmentation, coqui_augmentations.SampleAugmentation,
                coqui_augmentations.GraphAugmentation, coqui_augmentations.NormalizeSampleRate)
        coquis = {cls.__name__ for cls in vars(coqui_augmentations).values()
                  if inspect.isclass(cls) and issubclass(cls, coqui_augmentations.Augmentation) and cls not in base}
        self.assertEqual({coqui_class(name).__name__ for name in AUGMENTATIONS}, coquis)
        for name, parameters in AUGMENTATIONS.items():
            with self.subTest(augmentation=name):
                signature = inspect.signature(coqui_class(name).__init__)
                accepted = [p for p in signature.parameters.values() if p.name != "self"]
                self.assertEqual({p.name for p in accepted}, set(parameters))
                self.assertEqual({p.name for p in accepted if p.default is inspect.Parameter.empty},
                                 set(REQUIRED.get(name, ())))

    def test_the_original_specs_parse_with_coquis_parser(self):
        parsed = coqui_augmentations.parse_augmentations(parse_specs(" ".join(ORIGINAL_SPECS)))
        self.assertEqual(len(parsed), 11)
        reverb, resample, codec, volume, _pitch, _tempo, frequency_mask, time_mask = parsed[:8]
        self.assertEqual((reverb.probability, reverb.delay, reverb.decay),
                         (0.1, ValueRange(50.0, 50.0, 30.0), ValueRange(10.0, 2.0, 1.0)))
        self.assertEqual(resample.rate, ValueRange(12000, 8000, 4000))
        self.assertEqual(codec.bitrate, ValueRange(48000, 16000, 0))
        self.assertEqual(volume.target_dbfs, ValueRange(-10.0, -40.0, 0.0))
        self.assertEqual(frequency_mask.n, ValueRange(1, 3, 0))
        self.assertEqual((time_mask.domain, time_mask.n, time_mask.size),
                         ("signal", ValueRange(3, 10, 2), ValueRange(50.0, 100.0, 40.0)))

    def test_every_value_kind_we_accept_coqui_accepts(self):
        specs = ["overlay[source=/tmp/noise.sdb,p=0.5,snr=3:10~1,layers=1:3]", "tempo[p=1,factor=0.8:1.2,max_time=2]",
                 "warp[num_t=2,num_f=1:2,warp_t=0.1~0.05,warp_f=0]", "add[domain=spectrogram,stddev=1]",
                 "volume", "dropout[p=0.3, domain=features, rate=0.1:0.2]"]
        parsed = coqui_augmentations.parse_augmentations(parse_specs(" ".join(specs)))
        self.assertEqual([type(a).__name__ for a in parsed], ["Overlay", "Tempo", "Warp", "Add", "Volume", "Dropout"])
        self.assertEqual(parsed[5].rate, ValueRange(0.1, 0.2, 0.0))


if __name__ == "__main__":
    unittest.main()
