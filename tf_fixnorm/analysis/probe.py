"""Which kernels are scale-invariant, measured on one batch.

The sample check (docs/method.md, "Which kernels are scale-invariant"), for
models whose graph cannot be read (subclassed models, custom layers) and as
an independent check of graph.py: in training mode, replace one kernel `w` by
`c * w` and see whether any model output moves.

Care is needed for the answer to be exact rather than lucky:
- biases and normalization parameters start at 0 and 1, where a bias that
  breaks invariance hides (ReLU(c*u + 0) is homogeneous). They are first
  moved away from their initial values;
- normalization epsilons make invariance only approximate; they are set to
  1e-30 during the check (batch variances can be ~1e-9 in deep layers) so
  that the remaining error is float rounding;
- dropout and other random layers are replayed with the same seeds for
  every forward pass;
- a kernel that moves nothing at c = 2, 1/2 and 1024 is also set to zero: one
  that still moves nothing does not reach the outputs at all ("unused").
The model's variables (weights, statistics, seeds) are restored afterwards.
"""

import contextlib
import functools

import keras
import numpy as np
from keras import ops

from tf_fixnorm.analysis import graph

# Relative change of the outputs under which a kernel counts as invariant.
# `python benchmarks/probe_margin.py` (keras.applications, 32x32, batch 8):
# invariant kernels move the outputs by 0 (scaling by a power of two is exact)
# up to 9.7e-5 (ResNet50's biased convs: rounding when BN subtracts a large
# perturbed bias); every other kernel by at least 0.65.
TOLERANCE = 1e-3
# Powers of two, so rescaling is exact. 1024 catches saturating activations
# (ReLU6, clipping) that small scales never push past their kink; no tiny
# scale, which would drown c*w under a perturbed bias in rounding error.
SCALES = (2.0, 0.5, 1024.0)
_EPSILON = 1e-30  # > 0 so a constant channel gives 0, not NaN


def default_sample(model, batch_size=8, spatial=32, seed=0):
    """A random float batch shaped like the model's inputs, or None."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None
    rng = np.random.default_rng(seed)
    batch = []
    for spec in inputs:
        if not str(spec.dtype).startswith("float"):
            return None
        shape = [batch_size] + [spatial if d is None else d for d in spec.shape[1:]]
        batch.append(rng.standard_normal(shape).astype(spec.dtype))
    return batch[0] if len(batch) == 1 else batch


def _flat_outputs(outputs):
    """Every output of the model, flattened, in `keras.tree.flatten` order."""
    return [ops.reshape(ops.cast(o, "float32"), (-1,)) for o in keras.tree.flatten(outputs)]


def _forward(model):
    """``f(x)``: the model's flattened outputs in training mode, as NumPy float64
    arrays, compiled where the backend compiles (the probe runs it many times)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda x: _flat_outputs(model(x, training=True)))
    elif backend == "jax":
        import jax

        # Under jit, variables are read as arguments, so assignments between
        # calls are seen (a plain jitted call would bake their values in).
        @jax.jit
        def stateless(trainable, non_trainable, x):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return _flat_outputs(outputs)

        def compiled(x):
            return stateless([v.value for v in model.trainable_variables],
                             [v.value for v in model.non_trainable_variables], x)
    else:
        def compiled(x):
            with _no_grad():
                return _flat_outputs(model(x, training=True))
    return lambda x: [np.asarray(ops.convert_to_numpy(o), np.float64) for o in compiled(x)]


def _no_grad():
    """No autograd tape while probing (PyTorch records one by default)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


def declared_output_names(model):
    """The names of a model's outputs known without calling it: the keys of
    a functional model's dict of outputs, else its `output_names`, else the
    names of the layers that produce `outputs` (Sequential); None for a
    subclassed model."""
    # A functional model built on a dict of outputs: its keys, in flatten
    # order (`output_names` may hold the layer names instead).
    struct = getattr(model, "_outputs_struct", None)
    if isinstance(struct, dict):
        return ["/".join(str(p) for p in path) for path, _ in keras.tree.flatten_with_path(struct)]
    names = list(getattr(model, "output_names", None) or [])
    if names:
        return names
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    return [t._keras_history[0].name for t in outputs] if outputs else None


def output_names(model, outputs):
    """Names of the flattened `outputs` of one call: dict keys where the model
    returns a dict, else its declared names, else positions."""
    paths = [path for path, _ in keras.tree.flatten_with_path(outputs)]
    names = declared_output_names(model) or []
    if len(names) == len(paths) and not any(isinstance(p, str) for path in paths for p in path):
        return names
    return ["/".join(str(p) for p in path) or f"output_{i}" for i, path in enumerate(paths)]


class _CallOrder:
    """Records the order in which layers are called during one trace."""

    def __init__(self, watched):
        self.watched = watched
        self.order = []

    def __enter__(self):
        for layer in self.watched:
            original = layer.call

            @functools.wraps(original)
            def recorded(*args, _layer=layer, _original=original, **kwargs):
                self.order.append(_layer)
                return _original(*args, **kwargs)

            object.__setattr__(layer, "call", recorded)
        return self

    def __exit__(self, *exc):
        for layer in self.watched:
            object.__delattr__(layer, "call")


def probe(model, sample, kernels, seed=0):
    """Measure, for each kernel, whether rescaling it moves the outputs.

    Args:
        model: a built Keras model.
        sample: one batch of inputs (at least 2 examples: batch statistics).
        kernels: list of (variable, owning layer) pairs to test.
        seed: seed of the perturbation of biases and normalization parameters.

    Returns:
        (measured, order, moved):
        - measured: dict id(variable) -> (relative change of all outputs
          together, unused: bool);
        - order: the owning layers in the order of their last call in the
          forward pass (a layer called several times, like a detection head
          shared across pyramid levels, counts where it was last called);
        - moved: dict id(variable) -> names of the outputs (see
          `output_names`) that the rescaling moves by more than `TOLERANCE`
          of their own size.
    """
    snapshot = [v.numpy() for v in model.variables]
    norm_layers = [layer for layer in model._flatten_layers(include_self=False)
                   if isinstance(layer, graph.NORMALIZATIONS) and hasattr(layer, "epsilon")]
    epsilons = [layer.epsilon for layer in norm_layers]
    kernel_ids = {id(v) for v, _ in kernels}
    seeds = [v for v in model.variables if "seed_generator" in v.path]
    seed_values = [v.numpy() for v in seeds]
    try:
        rng = np.random.default_rng(seed)
        for v in model.trainable_variables:
            if id(v) not in kernel_ids:
                v.assign(v.numpy() + rng.normal(0.0, 0.5, v.shape).astype(v.dtype))
        for layer in norm_layers:
            layer.epsilon = _EPSILON

        with _no_grad():
            names = output_names(model, model(sample, training=True))
        forward = _forward(model)

        def outputs():
            for v, value in zip(seeds, seed_values):
                v.assign(value)  # same dropout masks every pass
            return forward(sample)

        with _CallOrder({layer for _, layer in kernels}) as calls:
            base = outputs()
        scales = [np.linalg.norm(b) + 1e-30 for b in base]
        total_scale = np.sqrt(sum(s * s for s in scales))

        def changes():
            """(change of all outputs together, change of each), relative."""
            diffs = [np.linalg.norm(o - b) for o, b in zip(outputs(), base)]
            return (np.sqrt(sum(d * d for d in diffs)) / total_scale,
                    [d / s for d, s in zip(diffs, scales)])

        results, moved = {}, {}
        for variable, _ in kernels:
            original = variable.numpy()
            change, each = 0.0, [0.0] * len(base)
            for c in SCALES:
                variable.assign(original * c)
                total, per_output = changes()
                change = max(change, total)
                each = [max(a, b) for a, b in zip(each, per_output)]
            unused = False
            if change <= TOLERANCE:
                variable.assign(np.zeros_like(original))
                unused = changes()[0] <= TOLERANCE
            variable.assign(original)
            results[id(variable)] = (float(change), unused)
            moved[id(variable)] = tuple(n for n, e in zip(names, each) if e > TOLERANCE)
        order = list(reversed(dict.fromkeys(reversed(calls.order))))
    finally:
        for layer, eps in zip(norm_layers, epsilons):
            layer.epsilon = eps
        for v, value in zip(model.variables, snapshot):
            v.assign(value)
    return results, order, moved
