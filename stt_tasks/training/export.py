"""The export step: the best dev checkpoint as a TFLite model, its metadata, and the model zip.

Outputs in ``models/``: ``output_graph.tflite`` (the legacy-converter export the ``stt`` runtime loads),
``<author>_<model_name>_<version>.md`` (coqui's metadata file, from the language pack), and
``<export_zip_name>.zip`` (the model, the metadata and the scorer, laid out as coqui's ``--export_zip``
makes it). A frozen ``.pb`` only with ``--pb``. Everything is exported into a temporary folder and moved
into place when complete. The model and the zip are byte-reproducible: custom operator options in a
canonical order (:mod:`stt_tasks.training.tflite_canonical`), zip members with fixed times and
permissions (:mod:`stt_tasks.reproducible`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from stt_tasks.errors import BadInputError
from stt_tasks.fsio import CompletionMarker, file_fingerprint, remove_stale_siblings, sha256_file, temporary_sibling
from stt_tasks.languages import LanguagePack
from stt_tasks.layout import DataRoot
from stt_tasks.lm.scorer import read_scorer_defaults
from stt_tasks.progress import LOG
from stt_tasks.reproducible import write_zip
from stt_tasks.training.coqui import run_coqui, tensorflow_major
from stt_tasks.training.evaluate import checkpoint_fingerprint, require_checkpoint, require_file, scorer_path
from stt_tasks.training.flags import parameter_flags
from stt_tasks.training.tflite_canonical import canonical_model

MARKER = ".export.completed.json"
#: Bumped when the exported bytes change for the same inputs (markers of older writers are stale).
WRITER = "export/2"
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


def converter_versions() -> Dict[str, str]:
    """The packages whose versions decide the exported bytes (the converter, coqui's graph, flatbuffers)."""
    from importlib import metadata

    versions = {}
    for name in ("tensorflow-cpu", "tensorflow", "coqui-stt-training", "flatbuffers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def export_inputs(root: DataRoot, pack: LanguagePack, params: Mapping[str, Any], alphabet: Path,
                  scorer: Optional[Path], frozen_pb: bool, quantize: bool) -> Dict[str, Any]:
    """Everything the exported files depend on: the checkpoint's and alphabet's bytes, the scorer zipped with
    the model, the metadata, the options and the converter's version."""
    return {
        "checkpoint": checkpoint_fingerprint(root),
        "alphabet": file_fingerprint(alphabet),
        "scorer": file_fingerprint(scorer) if scorer else None,
        "beam_width": params["beam_width"],
        "metadata": metadata_flags(pack),
        "frozen_pb": frozen_pb,
        "quantize": quantize,
        "software": converter_versions(),
        "writer": WRITER,
    }


def run_export(root: DataRoot, pack: LanguagePack, params: Mapping[str, Any], alphabet: Path, staging: Path,
               frozen_pb: bool, quantize: bool) -> Path:
    """Coqui's export into ``staging``; return the TFLite model, made byte-reproducible."""
    common: Dict[str, Any] = parameter_flags({"beam_width": params["beam_width"]})
    common.update(metadata_flags(pack))
    common.update({"checkpoint_dir": str(root.checkpoints), "load_evaluate": "best",
                   "alphabet_config_path": str(alphabet), "export_file_name": MODEL_NAME,
                   # the model's own default beam width (the stt runtime's, unless told otherwise)
                   "export_beam_width": params["beam_width"],
                   "export_quantize": quantize, "train_cudnn": False, "show_progressbar": False})
    run_coqui("coqui_stt_training.export", dict(common, export_dir=str(staging / "tflite"), export_tflite=True))
    if frozen_pb:
        run_coqui("coqui_stt_training.export", dict(common, export_dir=str(staging / "pb"), export_tflite=False))
    tflite = staging / "tflite" / (MODEL_NAME + ".tflite")
    tflite.write_bytes(canonical_model(tflite.read_bytes()))
    return tflite


def export(root: DataRoot, pack: LanguagePack, params: Mapping[str, Any], frozen_pb: bool = False,
           quantize: bool = True, alphabet: Optional[Path] = None, scorer: Optional[Path] = None) -> Dict[str, Any]:
    """Export the best dev checkpoint; return the step's JSON result (``model``, ``metadata``, ``zip``, ...).

    ``alphabet`` and ``scorer`` (zipped with the model) default to the alphabet and lm steps' outputs. The
    same checkpoint and inputs give the same bytes (model, metadata, zip), so checksums identify a model.
    """
    if tensorflow_major() == 1:
        raise BadInputError("export needs TensorFlow's TFLite converter, which NVIDIA's TF1 image (stt-tasks-gpu) "
                            "does not ship: run the export step in stt-tasks-cpu, which reads the same checkpoints.")
    best = require_checkpoint(root)
    alphabet = require_file(alphabet or root.alphabet, "alphabet")
    scorer = scorer_path(root, scorer)
    # The zipped scorer's own alpha/beta are what a user of the zip decodes with: checked readable, reported.
    defaults = read_scorer_defaults(scorer) if scorer else None
    inputs = export_inputs(root, pack, params, alphabet, scorer, frozen_pb, quantize)
    marker = CompletionMarker(root.models, MARKER)
    if marker.is_current(inputs):
        LOG.info("export already done for this checkpoint (%s): nothing to do", marker.path)
        return dict(marker.outputs(), skipped=True)

    model_zip = root.models / (pack.export_zip_name + ".zip")
    targets = {"model": root.model, "metadata": root.models / metadata_file_name(pack), "zip": model_zip}
    if frozen_pb:
        targets["frozen_pb"] = root.models / (MODEL_NAME + ".pb")
    staging = temporary_sibling(root.models / "export")
    remove_stale_siblings(root.models / "export")
    staging.mkdir(parents=True)
    try:
        tflite = run_export(root, pack, params, alphabet, staging, frozen_pb, quantize)
        staged = {"model": tflite, "metadata": staging / "tflite" / metadata_file_name(pack),
                  "zip": staging / model_zip.name, "frozen_pb": staging / "pb" / (MODEL_NAME + ".pb")}
        zip_members = [tflite, staged["metadata"]] + ([scorer] if scorer else [])
        write_zip(staged["zip"], [(member, member.name) for member in zip_members])
        for name, target in targets.items():
            staged[name].replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result = {
        "model": str(root.model),
        "model_bytes": root.model.stat().st_size,
        "model_sha256": sha256_file(root.model),
        "metadata": str(targets["metadata"]),
        "zip": str(model_zip),
        "zip_sha256": sha256_file(model_zip),
        "zip_members": [m.name for m in zip_members],
        "frozen_pb": str(targets["frozen_pb"]) if frozen_pb else None,
        "checkpoint": best,
        "beam_width": params["beam_width"],
        "quantized": quantize,
        "scorer": str(scorer) if scorer else None,
        "scorer_defaults": {"lm_alpha": defaults.alpha, "lm_beta": defaults.beta} if defaults else None,
    }
    if not scorer:
        LOG.warning("no scorer (%s absent, none given): the model zip holds the acoustic model and metadata only",
                    root.scorer)
    marker.write(inputs, list(targets.values()), result)
    return dict(result, skipped=False)
