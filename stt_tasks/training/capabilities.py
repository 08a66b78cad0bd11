"""What the image's TensorFlow can honour: cuDNN LSTM and mixed precision exist only in the TF1 image.

Checked before anything starts, so that ``AMP=1`` on the CPU image fails in a second with the reason
rather than after hours, or silently trains without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, Dict, Mapping, Optional

from stt_tasks.errors import BadInputError, StepError
from stt_tasks.training.coqui import tensorflow_major


def image_identity() -> Dict[str, str]:
    """The image this runs in and the code revision it was built from (build args baked into its ENV)."""
    return {"image": os.environ.get("STT_IMAGE") or "unknown",
            "code_revision": os.environ.get("STT_CODE_REVISION") or "unknown"}


def gpu_visible() -> bool:
    """Whether ``nvidia-smi`` lists a GPU (no TensorFlow import: it takes seconds and grabs memory)."""
    if shutil.which("nvidia-smi") is None:
        return False
    listed = subprocess.run(["nvidia-smi", "-L"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return listed.returncode == 0 and b"GPU" in listed.stdout


def resolve_training_switches(params: Mapping[str, Any], major: Optional[int] = None) -> Dict[str, bool]:
    """``train_cudnn`` and ``automatic_mixed_precision`` for this image, or an error naming the fix."""
    major = tensorflow_major() if major is None else major
    if major is None:
        raise StepError("TensorFlow is not installed here: run training steps in the stt-tasks-cpu or "
                        "stt-tasks-gpu image.")
    cudnn = params.get("train_cudnn")
    amp = bool(params.get("amp"))
    if major >= 2:
        if cudnn:
            raise BadInputError(
                "TRAIN_CUDNN=1 (--train-cudnn): this image runs TensorFlow {} through the compatibility layer, "
                "which has no cuDNN LSTM (tf.contrib.cudnn_rnn is TF1-only). Set TRAIN_CUDNN=0 or auto (the fused "
                "BlockLSTM cell has the same checkpoint layout), or train in the TF1 image stt-tasks-gpu.".format(major))
        if amp:
            raise BadInputError(
                "AMP=1 (--amp): automatic mixed precision is not supported in this TensorFlow {} image (the TF1 graph "
                "rewrite is untested through the compatibility layer). Set AMP=0, or train in the TF1 image "
                "stt-tasks-gpu.".format(major))
        return {"train_cudnn": False, "automatic_mixed_precision": False}
    if cudnn is None:
        cudnn = gpu_visible()
    return {"train_cudnn": bool(cudnn), "automatic_mixed_precision": amp}
