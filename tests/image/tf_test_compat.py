"""The TF1 compatibility layer, checked numerically against TensorFlow's own TF1 implementations."""

from __future__ import annotations

import unittest

import numpy as np

from stt_tasks.training import compat

compat.install([])
import tensorflow as tf  # noqa: E402  (after the layer, as coqui sees it)

v1 = tf.compat.v1
UNITS, INPUT, TIME, BATCH = 7, 5, 6, 4
LSTM_SCOPE = "cudnn_lstm/rnn/multi_rnn_cell"
LSTM_VARIABLES = {
    "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/kernel": [INPUT + UNITS, 4 * UNITS],
    "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell/bias": [4 * UNITS],
}


def fused_and_static(lengths, with_initial_state, static_forget_bias=0.0):
    """Outputs and final states of our fused cell and of LSTMCell + static_rnn on shared variables.

    Built exactly as coqui's ``rnn_impl_lstmblockfusedcell`` (training) and ``rnn_impl_static_rnn``
    (TFLite export) build them, so equality here means a trained checkpoint exports faithfully.
    """
    rng = np.random.RandomState(1234)
    inputs = rng.randn(TIME, BATCH, INPUT).astype(np.float32)
    initial = None
    if with_initial_state:
        initial = v1.nn.rnn_cell.LSTMStateTuple(
            tf.constant(rng.randn(BATCH, UNITS).astype(np.float32)),
            tf.constant(rng.randn(BATCH, UNITS).astype(np.float32)),
        )
    x = tf.constant(inputs)
    seq = tf.constant(lengths, dtype=tf.int32)
    with v1.variable_scope(LSTM_SCOPE + "/cell_0"):
        cell = tf.contrib.rnn.LSTMBlockFusedCell(UNITS, forget_bias=0, reuse=False, name="cudnn_compatible_lstm_cell")
        fused_out, fused_state = cell(inputs=x, dtype=tf.float32, sequence_length=seq, initial_state=initial)
    with v1.variable_scope(LSTM_SCOPE):
        static_cell = v1.nn.rnn_cell.LSTMCell(UNITS, forget_bias=static_forget_bias, reuse=True, name="cudnn_compatible_lstm_cell")
        static_out, static_state = v1.nn.static_rnn(
            cell=static_cell, inputs=[x[t] for t in range(TIME)], sequence_length=seq,
            initial_state=initial, dtype=tf.float32, scope="cell_0",
        )
    bias = [v for v in v1.global_variables() if v.name.endswith("bias:0")][0]
    set_bias = bias.assign(rng.randn(4 * UNITS).astype(np.float32))
    loss_fused = tf.reduce_sum(fused_out * fused_out) + tf.reduce_sum(fused_state.c)
    loss_static = tf.reduce_sum(tf.stack(static_out) ** 2) + tf.reduce_sum(static_state.c)
    variables = v1.trainable_variables()
    grads = v1.gradients(loss_fused, variables) + v1.gradients(loss_static, variables)
    with v1.Session() as session:
        session.run(v1.global_variables_initializer())
        session.run(set_bias)
        return session.run({
            "fused_out": fused_out, "fused_c": fused_state.c, "fused_h": fused_state.h,
            "static_out": tf.stack(static_out), "static_c": static_state.c, "static_h": static_state.h,
            "grads": grads,
        }), {v.name[:-2]: v.shape.as_list() for v in variables}


class FusedLstmTest(unittest.TestCase):
    def setUp(self):
        v1.reset_default_graph()

    def assert_same(self, run):
        result, _names = run
        for part in ("out", "c", "h"):
            np.testing.assert_allclose(result["fused_" + part], result["static_" + part], rtol=1e-5, atol=1e-6,
                                       err_msg=part)
        half = len(result["grads"]) // 2
        for fused, static in zip(result["grads"][:half], result["grads"][half:]):
            np.testing.assert_allclose(fused, static, rtol=1e-4, atol=1e-5, err_msg="gradient")

    def test_ragged_lengths_bias_and_initial_state(self):
        run = fused_and_static([6, 3, 1, 5], with_initial_state=True)
        self.assert_same(run)
        result = run[0]
        # beyond its length a sequence's outputs are zero, as static_rnn's
        self.assertTrue(np.all(result["fused_out"][3:, 1] == 0))
        self.assertTrue(np.any(result["fused_out"][:3, 1] != 0))

    def test_full_lengths_zero_initial_state(self):
        self.assert_same(fused_and_static([TIME] * BATCH, with_initial_state=False))

    def test_checkpoint_variable_names_are_coquis(self):
        _result, names = fused_and_static([TIME] * BATCH, with_initial_state=False)
        self.assertEqual(names, LSTM_VARIABLES)

    def test_the_comparison_can_fail(self):
        # Against an LSTMCell with another forget bias the same comparison must fail.
        with self.assertRaises(AssertionError):
            self.assert_same(fused_and_static([6, 3, 1, 5], with_initial_state=True, static_forget_bias=1.0))


class LayerNormTest(unittest.TestCase):
    def test_equals_keras_layer_normalization(self):
        v1.reset_default_graph()
        x = np.random.RandomState(0).randn(3, 8).astype(np.float32) * 4 + 2
        with v1.variable_scope("layer_1"):
            ours = tf.contrib.layers.layer_norm(tf.constant(x))
        keras = tf.keras.layers.LayerNormalization(epsilon=1e-12)(tf.constant(x))
        names = sorted(v.name for v in v1.global_variables() if v.name.startswith("layer_1"))
        self.assertEqual(names, ["layer_1/LayerNorm/beta:0", "layer_1/LayerNorm/gamma:0"])
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            a, b = session.run([ours, keras])
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


class DenseImageWarpTest(unittest.TestCase):
    def test_zero_flow_is_identity_and_integer_flow_shifts(self):
        v1.reset_default_graph()
        image = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
        flow = np.zeros((2, 5, 6, 2), dtype=np.float32)
        shift = flow.copy()
        shift[..., 1] = -1.0  # query x + 1: the image moves left by one column
        half = flow.copy()
        half[..., 0] = -0.5  # half a row down: the mean of two rows
        with v1.Session() as session:
            same, shifted, halfway = session.run([
                tf.contrib.image.dense_image_warp(image, flow),
                tf.contrib.image.dense_image_warp(image, shift),
                tf.contrib.image.dense_image_warp(image, half),
            ])
        np.testing.assert_allclose(same, image)
        np.testing.assert_allclose(shifted[:, :, :-1], image[:, :, 1:])
        np.testing.assert_allclose(halfway[:, :-1], (image[:, :-1] + image[:, 1:]) / 2)


class SurfaceTest(unittest.TestCase):
    def test_tf1_names_are_back(self):
        for name in ("placeholder", "Session", "ConfigProto", "GPUOptions", "get_variable", "variable_scope",
                     "global_variables"):
            self.assertIs(getattr(tf, name), getattr(v1, name))
        self.assertIs(tf.nn.rnn_cell, v1.nn.rnn_cell)
        self.assertTrue(callable(tf.image.resize_bilinear) and callable(tf.image.resize_bicubic))
        self.assertFalse(tf.executing_eagerly())

    def test_integral_float_dimensions(self):
        v1.reset_default_graph()
        self.assertEqual(v1.placeholder(tf.float32, [16000 * 32 / 1000]).shape.as_list(), [512])
        with self.assertRaises(TypeError):
            v1.placeholder(tf.float32, [512.5])

    def test_cudnn_lstm_refuses_with_the_fix(self):
        with self.assertRaises(compat.CudnnUnavailableError) as raised:
            tf.contrib.cudnn_rnn.CudnnLSTM(num_layers=1, num_units=4)
        self.assertIn("--train_cudnn false", str(raised.exception))

    def test_tflite_converter_is_the_legacy_one(self):
        v1.reset_default_graph()
        x = v1.placeholder(tf.float32, [1, 4], name="x")
        y = tf.identity(x * 2.0, name="y")
        converter = tf.lite.TFLiteConverter(tf.compat.v1.get_default_graph().as_graph_def(), input_tensors=[x],
                                            output_tensors=[y])
        self.assertFalse(converter.experimental_new_converter)
        self.assertGreater(len(converter.convert()), 0)


if __name__ == "__main__":
    unittest.main()
