"""The export step: the best dev checkpoint as a TFLite model, its metadata, and the model zip.

Outputs in ``models/``: ``output_graph.tflite`` (the legacy-converter export the ``stt`` runtime loads),
``<author>_<model_name>_<version>.md`` (coqui's metadata file, from the language pack), and
``<export_zip_name>.zip`` (the model, the metadata and the scorer, laid out as coqui's ``--export_zip``
makes it). A frozen ``.pb`` only with ``--pb``. Everything is exported into a temporary folder and moved
into place when complete.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, atomic_path, file_fingerprint, remove_stale_siblings, temporary_sibling
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.progress import LOG
from stt_tasks.training import checkpoints as ckpt
from stt_tasks.training.coqui import run_coqui, tensorflow_major
from stt_tasks.training.evaluate import decoder_settings, require_checkpoint
from stt_tasks.training.flags import parameter_flags

MARKER = ".export.completed.json"
MODEL_NAME = "output_graph"


def metadata_flags(pack: LanguagePack) -> Dict[str, Any]:
    """The ``--export_*`` metadata flags from the language pack (``fr/metadata.sh`` of the original)."""
    meta = pack.metadata
    return {
        "export_author_id": meta.author,
        "export_model_name": meta.model_name + "-tflite",
        "export_model_version": meta.model_version,
        "export_contact_info": meta.contact_info,
        "export_license": meta.license,
        "export_language": meta.language,
        "export_min_stt_version": meta.min_stt_version,
        "export_max_stt_version": meta.max_stt_version,
        "export_description": meta.description,
    }


def metadata_file_name(pack: LanguagePack) -> str:
    """Coqui names it ``<author>_<model_name>_<version>.md``."""
    meta = pack.metadata
    return "{}_{}-tflite_{}.md".format(meta.author, meta.model_name, meta.model_version)


def write_model_zip(zip_path: Path, members: List[Path]) -> None:
    """A zip of ``members`` at its root, as coqui's ``package_zip`` makes it, written atomically."""
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            archive.write(member, member.name)


def export(root: DataRoot, pack: LanguagePack, params: Mapping[str, Any], frozen_pb: bool = False,
           quantize: bool = True, alphabet: Optional[Path] = None, scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Export the best dev checkpoint; return the step's JSON result.

    ``alphabet`` and ``scorer`` (zipped with the model) default to the alphabet and lm steps' outputs.
    """
    if tensorflow_major() == 1:
        raise BadInputError("export needs TensorFlow's TFLite converter, which NVIDIA's TF1 image (stt-tasks-gpu) "
                            "does not ship: run the export step in stt-tasks-cpu, which reads the same checkpoints.")
    best = require_checkpoint(root)
    decoder = decoder_settings(root, params, scorer)
    alphabet = alphabet or root.alphabet
    inputs = {
        "checkpoint": [file_fingerprint(p, with_hash=False) for p in ckpt.checkpoint_files(root.checkpoints)],
        "scorer": file_fingerprint(Path(decoder["scorer"])) if decoder["scorer"] else None,
        "beam_width": params["beam_width"],
        "metadata": metadata_flags(pack),
        "frozen_pb": frozen_pb,
        "quantize": quantize,
    }
    marker = CompletionMarker(root.models, MARKER)
    if marker.is_current(inputs):
        LOG.info("export already done for this checkpoint (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)

    staging = temporary_sibling(root.models / "export")
    remove_stale_siblings(root.models / "export")
    staging.mkdir(parents=True)
    try:
        common: Dict[str, Any] = parameter_flags({"beam_width": params["beam_width"]})
        common.update(metadata_flags(pack))
        common.update({"checkpoint_dir": str(root.checkpoints), "load_evaluate": "best",
                       "alphabet_config_path": str(alphabet), "export_file_name": MODEL_NAME,
                       "export_quantize": quantize, "train_cudnn": False, "show_progressbar": False})
        run_coqui("coqui_stt_training.export", dict(common, export_dir=str(staging / "tflite"), export_tflite=True))
        if frozen_pb:
            run_coqui("coqui_stt_training.export", dict(common, export_dir=str(staging / "pb"), export_tflite=False))
        tflite = staging / "tflite" / (MODEL_NAME + ".tflite")
        metadata = staging / "tflite" / metadata_file_name(pack)
        outputs = [root.models / tflite.name, root.models / metadata.name]
        zip_members = [tflite, metadata] + ([Path(decoder["scorer"])] if decoder["scorer"] else [])
        write_model_zip(staging / (pack.export_zip_name + ".zip"), zip_members)
        moves = [(tflite, outputs[0]), (metadata, outputs[1])]
        moves.append((staging / (pack.export_zip_name + ".zip"), root.models / (pack.export_zip_name + ".zip")))
        if frozen_pb:
            moves.append((staging / "pb" / (MODEL_NAME + ".pb"), root.models / (MODEL_NAME + ".pb")))
        for source, target in moves:
            source.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    outputs = [target for _source, target in moves]
    result = {
        "model": str(outputs[0]),
        "model_bytes": outputs[0].stat().st_size,
        "metadata": str(outputs[1]),
        "zip": str(outputs[2]),
        "zip_members": [m.name for m in zip_members],
        "frozen_pb": str(outputs[3]) if frozen_pb else None,
        "checkpoint": best,
        "beam_width": params["beam_width"],
        "quantized": quantize,
    }
    if not decoder["scorer"]:
        LOG.warning("no scorer in %s: the model zip holds the acoustic model and metadata only", root.lm)
    marker.write(inputs, outputs, result)
    return dict(result, skipped=False)
