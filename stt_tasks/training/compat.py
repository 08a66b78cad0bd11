"""TensorFlow 1 compatibility layer: runs the unmodified coqui-stt-training 1.4.0 on TensorFlow 2.15.

coqui-stt-training 1.4.0 was written for TensorFlow 1.15. Rather than patching its files, :func:`install`
puts back, in the running TensorFlow 2.15, exactly the TF1 surface coqui reaches, and nothing else
(facts: ``../shared/reference/tf2-compat.md``):

1. TF1 graph semantics (``disable_v2_behavior``), with ``TF_CPP_MIN_LOG_LEVEL`` set first.
2. The TF1 top-level names coqui uses through ``import tensorflow as tf`` (only where missing).
3. ``tf.contrib``: ``rnn.LSTMBlockFusedCell`` (the training RNN, on the ``BlockLSTM`` op, with the
   variable names of released Coqui checkpoints), ``layers.layer_norm``, ``image.dense_image_warp``,
   and a ``cudnn_rnn.CudnnLSTM`` that refuses with the fix (cuDNN LSTM is a TF1-image feature).
4. ``Dimension`` accepting integral floats (coqui's export placeholder has shape ``[512.0]``).
5. ``tf.lite.TFLiteConverter(graph_def, input_tensors, output_tensors)`` mapped to the TF1 converter
   **with the legacy converter**: the MLIR one makes the ``metadata_*`` outputs producer-less constants
   and libstt 1.4.0 crashes loading such a model.

Import this module only where TensorFlow is installed (the CPU and GPU-TF2 images); the launcher
(:mod:`stt_tasks.training.launch`) calls :func:`install` before importing any coqui module.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any, List, Optional, Sequence

_INSTALLED = False


class CudnnUnavailableError(RuntimeError):
    """cuDNN LSTM was requested in an image whose TensorFlow (2.x) has no ``tf.contrib.cudnn_rnn``."""


def log_level_from_argv(argv: Sequence[str], default: str = "1") -> str:
    """The value coqui's ``--log_level`` would set, so that TensorFlow sees it when first imported."""
    args = list(argv)
    if "--log_level" in args:
        index = args.index("--log_level") + 1
        if index < len(args):
            return args[index]
    return default


def install(argv: Optional[Sequence[str]] = None) -> None:
    """Make ``import tensorflow as tf`` look like TF 1.15 to coqui-stt-training 1.4.0 (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    if "tensorflow" not in sys.modules:
        # coqui sets this from --log_level when deepspeech_model is imported; we import TF first.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", log_level_from_argv(argv if argv is not None else sys.argv))
    import tensorflow as tf

    if int(tf.__version__.split(".")[0]) < 2:
        # The NVIDIA TF1 image: coqui runs as written (and that image has no TFLite API to patch).
        _INSTALLED = True
        return
    tf.compat.v1.disable_v2_behavior()
    _install_top_level_names(tf)
    _install_contrib(tf)
    _accept_integral_float_dimensions()
    _install_tflite_converter(tf)
    _INSTALLED = True


def _set_missing(namespace: Any, name: str, value: Any) -> None:
    if not hasattr(namespace, name):
        setattr(namespace, name, value)


def _install_top_level_names(tf: Any) -> None:
    v1 = tf.compat.v1
    for name in ("placeholder", "Session", "ConfigProto", "GPUOptions", "get_variable", "variable_scope",
                 "global_variables"):
        _set_missing(tf, name, getattr(v1, name))
    _set_missing(tf.nn, "rnn_cell", v1.nn.rnn_cell)
    # pitch, tempo and warp augmentations
    _set_missing(tf.image, "resize_bilinear", v1.image.resize_bilinear)
    _set_missing(tf.image, "resize_bicubic", v1.image.resize_bicubic)
    experimental = v1.train.experimental
    if not hasattr(experimental, "enable_mixed_precision_graph_rewrite"):
        # Present in TF 2.15 under mixed_precision; coqui calls the TF1 spelling (AMP, GPU only).
        rewrite = getattr(v1.mixed_precision, "enable_mixed_precision_graph_rewrite", None)
        if rewrite is not None:
            experimental.enable_mixed_precision_graph_rewrite = rewrite


def _install_contrib(tf: Any) -> None:
    if hasattr(tf, "contrib"):
        return
    contrib = types.ModuleType("tensorflow.contrib")
    contrib.rnn = types.SimpleNamespace(LSTMBlockFusedCell=_lstm_block_fused_cell_class(tf))
    contrib.layers = types.SimpleNamespace(layer_norm=layer_norm)
    contrib.image = types.SimpleNamespace(dense_image_warp=dense_image_warp)
    contrib.cudnn_rnn = types.SimpleNamespace(CudnnLSTM=_cudnn_lstm_unavailable)
    tf.contrib = contrib


def _cudnn_lstm_unavailable(*args: Any, **kwargs: Any) -> Any:
    raise CudnnUnavailableError(
        "cuDNN LSTM (--train_cudnn true / --load_cudnn true) needs TensorFlow 1's tf.contrib.cudnn_rnn, "
        "which TensorFlow 2 does not have. Train with --train_cudnn false in this image (the fused "
        "BlockLSTM cell has the same checkpoint layout), or use the NVIDIA TF1 image (stt-tasks-gpu)."
    )


def _lstm_block_fused_cell_class(tf: Any) -> type:
    """TF 1.15's ``LSTMBlockFusedCell`` rebuilt on the ``BlockLSTM`` op (no peepholes, no cell clip)."""
    v1 = tf.compat.v1

    class LSTMBlockFusedCell(v1.layers.Layer):  # type: ignore[misc, valid-type]
        """Time-major fused LSTM whose variables are ``kernel`` [input + units, 4 units] and ``bias``.

        Gate order i, c, f, o as ``LSTMCell``, so a checkpoint trained with it feeds coqui's
        ``static_rnn`` export graph and released Coqui checkpoints load into it.
        """

        def __init__(self, num_units: int, forget_bias: float = 1.0, cell_clip: Optional[float] = None,
                     use_peephole: bool = False, reuse: Optional[bool] = None, dtype: Any = None,
                     name: str = "lstm_fused_cell") -> None:
            if use_peephole:
                raise NotImplementedError("LSTMBlockFusedCell(use_peephole=True) is not used by coqui")
            super().__init__(_reuse=reuse, name=name, dtype=dtype)
            self._num_units = num_units
            self._forget_bias = forget_bias
            self._cell_clip = cell_clip if cell_clip is not None else -1.0
            self.input_spec = v1.layers.InputSpec(ndim=3)

        @property
        def num_units(self) -> int:
            return self._num_units

        def build(self, input_shape: Any) -> None:
            input_size = tf.compat.dimension_value(tf.TensorShape(input_shape)[2])
            if input_size is None:
                raise ValueError("LSTMBlockFusedCell needs a known input depth, got shape {}".format(input_shape))
            self._kernel = self.add_weight("kernel", [input_size + self._num_units, self._num_units * 4])
            self._bias = self.add_weight(
                "bias", [self._num_units * 4], initializer=v1.constant_initializer(0.0)
            )
            self.built = True

        def call(self, inputs: Any, initial_state: Any = None, dtype: Any = None,
                 sequence_length: Any = None) -> Any:
            """``(outputs [time, batch, units], LSTMStateTuple(c, h))`` as TF 1.15 returned them."""
            inputs = tf.convert_to_tensor(inputs)
            dtype = dtype or inputs.dtype
            time_len = tf.shape(inputs)[0]
            batch_size = tf.shape(inputs)[1]
            if initial_state is None:
                zeros = tf.zeros(tf.stack([batch_size, self._num_units]), dtype=dtype)
                initial_c, initial_h = zeros, zeros
            else:
                initial_c, initial_h = initial_state
            if sequence_length is None:
                max_seq_len = tf.cast(time_len, tf.int64)
            else:
                sequence_length = tf.cast(sequence_length, tf.int32)
                max_seq_len = tf.cast(tf.reduce_max(sequence_length), tf.int64)
            no_peephole = tf.zeros([self._num_units], dtype=dtype)
            _i, cell_states, _f, _o, _ci, _co, outputs = tf.raw_ops.BlockLSTM(
                seq_len_max=max_seq_len,
                x=inputs,
                cs_prev=initial_c,
                h_prev=initial_h,
                w=self._kernel,
                wci=no_peephole,
                wcf=no_peephole,
                wco=no_peephole,
                b=self._bias,
                forget_bias=self._forget_bias,
                cell_clip=self._cell_clip,
                use_peephole=False,
            )
            if sequence_length is None:
                final_c, final_h = cell_states[-1], outputs[-1]
            else:
                mask = tf.transpose(tf.sequence_mask(sequence_length, time_len, dtype=dtype), [1, 0])
                outputs = outputs * tf.expand_dims(mask, -1)
                final_c = _last_step(tf, cell_states, sequence_length, initial_c)
                final_h = _last_step(tf, outputs, sequence_length, initial_h)
            return outputs, v1.nn.rnn_cell.LSTMStateTuple(final_c, final_h)

    return LSTMBlockFusedCell


def _last_step(tf: Any, activations: Any, sequence_length: Any, initial: Any) -> Any:
    """``activations[length - 1, b]`` per batch entry (the initial state where length is 0)."""
    batch = tf.range(tf.shape(activations)[1])
    last = tf.maximum(sequence_length - 1, 0)
    gathered = tf.gather_nd(activations, tf.stack([last, batch], axis=1))
    return tf.where(tf.expand_dims(sequence_length > 0, -1), gathered, initial)


def layer_norm(inputs: Any, center: bool = True, scale: bool = True, activation_fn: Any = None,
               reuse: Optional[bool] = None, trainable: bool = True, begin_norm_axis: int = 1,
               begin_params_axis: int = -1, scope: Optional[str] = None) -> Any:
    """TF 1.15's ``tf.contrib.layers.layer_norm``: scope ``LayerNorm``, ``beta``/``gamma``, epsilon 1e-12."""
    import tensorflow as tf

    v1 = tf.compat.v1
    inputs = tf.convert_to_tensor(inputs)
    rank = inputs.shape.rank
    if begin_norm_axis < 0:
        begin_norm_axis += rank
    if begin_params_axis < 0:
        begin_params_axis += rank
    with v1.variable_scope(scope, "LayerNorm", [inputs], reuse=reuse):
        params_shape = inputs.shape[begin_params_axis:]
        beta = gamma = None
        if center:
            beta = v1.get_variable("beta", params_shape, dtype=inputs.dtype,
                                   initializer=v1.zeros_initializer(), trainable=trainable)
        if scale:
            gamma = v1.get_variable("gamma", params_shape, dtype=inputs.dtype,
                                    initializer=v1.ones_initializer(), trainable=trainable)
        mean, variance = tf.nn.moments(inputs, list(range(begin_norm_axis, rank)), keepdims=True)
        outputs = tf.nn.batch_normalization(inputs, mean, variance, offset=beta, scale=gamma,
                                            variance_epsilon=1e-12)
        return activation_fn(outputs) if activation_fn is not None else outputs


def dense_image_warp(image: Any, flow: Any, name: str = "dense_image_warp") -> Any:
    """TF 1.15's ``tf.contrib.image.dense_image_warp``: bilinear sampling at ``grid - flow`` ('ij')."""
    import tensorflow as tf

    with tf.name_scope(name):
        image = tf.convert_to_tensor(image)
        flow = tf.convert_to_tensor(flow)
        shape = tf.shape(image)
        batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
        grid_y, grid_x = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
        grid = tf.cast(tf.stack([grid_y, grid_x], axis=2), flow.dtype)
        query = tf.reshape(grid[tf.newaxis] - flow, [batch, height * width, 2])
        warped = _interpolate_bilinear(tf, image, query)
        return tf.reshape(warped, [batch, height, width, channels])


def _interpolate_bilinear(tf: Any, grid: Any, query: Any) -> Any:
    """Bilinear interpolation of ``grid`` [b, h, w, c] at ``query`` [b, n, 2] (y, x), clamped at the edges."""
    shape = tf.shape(grid)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    query = tf.cast(query, grid.dtype)
    floors: List[Any] = []
    alphas: List[Any] = []
    for dim, size in enumerate((height, width)):
        coordinate = query[:, :, dim]
        max_floor = tf.cast(size - 2, grid.dtype)
        floor = tf.minimum(tf.maximum(tf.constant(0.0, grid.dtype), tf.floor(coordinate)), max_floor)
        floors.append(tf.cast(floor, tf.int32))
        alpha = tf.minimum(tf.maximum(tf.constant(0.0, grid.dtype), coordinate - floor), tf.constant(1.0, grid.dtype))
        alphas.append(tf.expand_dims(alpha, 2))
    flat = tf.reshape(grid, [batch * height * width, channels])
    offsets = tf.reshape(tf.range(batch) * height * width, [batch, 1])

    def gather(y: Any, x: Any) -> Any:
        return tf.reshape(tf.gather(flat, offsets + y * width + x), [batch, -1, channels])

    top_left = gather(floors[0], floors[1])
    top_right = gather(floors[0], floors[1] + 1)
    bottom_left = gather(floors[0] + 1, floors[1])
    bottom_right = gather(floors[0] + 1, floors[1] + 1)
    top = alphas[1] * (top_right - top_left) + top_left
    bottom = alphas[1] * (bottom_right - bottom_left) + bottom_left
    return alphas[0] * (bottom - top) + top


def _accept_integral_float_dimensions() -> None:
    from tensorflow.python.framework import tensor_shape

    dimension_init = tensor_shape.Dimension.__init__
    if getattr(dimension_init, "_stt_integral_floats", False):
        return

    def __init__(self: Any, value: Any) -> None:  # noqa: N807 - replaces a dunder
        # TF1 accepted 512.0 (coqui computes 16000 * 32 / 1000); TF2 requires __index__.
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        dimension_init(self, value)

    __init__._stt_integral_floats = True  # type: ignore[attr-defined]
    tensor_shape.Dimension.__init__ = __init__


def _install_tflite_converter(tf: Any) -> None:
    v1_converter = tf.compat.v1.lite.TFLiteConverter

    class LegacyTFLiteConverter(v1_converter):  # type: ignore[misc, valid-type]
        """TF1's ``TFLiteConverter(graph_def, input_tensors, output_tensors)`` with TF 1.15's converter.

        The legacy (TOCO) converter gives each ``metadata_*`` output a RESHAPE producer node, which
        libstt 1.4.0 runs when loading the model; the MLIR converter folds them into constants.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.experimental_new_converter = False

        def convert(self) -> Any:
            self.experimental_new_converter = False
            return super().convert()

    tf.lite.TFLiteConverter = LegacyTFLiteConverter
