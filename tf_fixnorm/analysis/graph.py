"""Which kernels are scale-invariant, read from a functional Keras graph.

For one kernel `w` at a time, imagine replacing it by `c * w` (c > 0) and
follow how every tensor of the model depends on `c`. A tensor is one of:

- `const`: does not depend on `c`;
- `affine`: ``t = s(c) * u + beta``, where ``s(c) > 0``. Either the scale is
  uniform (``c**degree`` everywhere, `axis` None) or it and the shift vary
  only along one channel `axis` (per-channel scale: `partial`; per-channel
  shift ``beta``: `shift`);
- `mixed`: anything else (a non-homogeneous activation, a shift that zero
  padding breaks, a sum with a branch `c` does not scale...).

A normalization layer (in training mode) maps an `affine` input to `const`
when its statistics cancel that structure: dividing by the standard deviation
cancels any positive scale that is uniform over each normalized group, and
subtracting the mean cancels a shift that is constant over that group. This
is decided from the axes each layer reduces over, not from a list of layer
types. The kernel is scale-invariant when every model output ends `const`
and at least one normalization did the cancelling. It is the classifier when
some output depends on it through parameter-free ops only (`direct`).

Layers this module does not know (Lambda, custom layers) are opaque: an
input that depends on `c` makes their output `mixed`, so they never make a
kernel wrongly invariant, and kernels inside them are left to the
sample-based check (`probe.py`). Users declare how their own layer classes
treat a positively scaled input with `register_layer_rule` (`LAYER_RULES`);
subclasses inherit the rule.
"""

import dataclasses

import keras
import numpy as np
from keras import layers

CONST = "const"
AFFINE = "affine"
MIXED = "mixed"

# Layers whose kernel enters their output linearly: (input, kernel) -> output.
KERNEL_LAYERS = (
    layers.Dense, layers.EinsumDense, layers.Embedding,
    layers.Conv1D, layers.Conv2D, layers.Conv3D,
    layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose,
    layers.DepthwiseConv1D, layers.DepthwiseConv2D,
    layers.SeparableConv1D, layers.SeparableConv2D,
)
_DEPTHWISE = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
_CONVS = KERNEL_LAYERS[3:]
NORMALIZATIONS = tuple(
    getattr(layers, name)
    for name in ("BatchNormalization", "LayerNormalization", "GroupNormalization",
                 "UnitNormalization", "RMSNormalization")
    if hasattr(layers, name)
)
# Elementwise maps with f(c*x) == c*f(x) for every c > 0.
_HOMOGENEOUS_ACTIVATIONS = {"linear", "relu", "leaky_relu"}
# Ops that move values around without changing them, or take maxima or
# means of them: both a positive scale and a per-channel constant survive.
_PRESERVING = tuple(
    getattr(layers, name)
    for name in ("Cropping1D", "Cropping2D", "Cropping3D",
                 "UpSampling1D", "UpSampling2D", "UpSampling3D",
                 "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
                 "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
                 "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                 "GaussianDropout", "ActivityRegularization", "Identity")
    if hasattr(layers, name)
)
_GLOBAL_POOLING = tuple(
    getattr(layers, name)
    for name in ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                 "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D")
)
_ACTIVATION_LAYERS = (layers.Activation, layers.ReLU, layers.LeakyReLU, layers.PReLU,
                      layers.Softmax, layers.ELU)
_ZERO_PADDING = (layers.ZeroPadding1D, layers.ZeroPadding2D, layers.ZeroPadding3D)
_SUMS = (layers.Add, layers.Subtract, layers.Average)
# keras.ops nodes in functional graphs, by class name.
_OP_SUMS = {"Add", "Subtract"}
_OP_HOMOGENEOUS = {"Relu", "LeakyRelu", "Identity"}

# How a declared layer class treats an input scaled by c > 0 (register_layer_rule).
LAYER_RULES = {
    "homogeneous": "f(c*x) = c*f(x) for every c > 0, like ReLU",
    "preserving": "moves, crops, pools or upsamples values, so a per-channel shift survives, "
                  "like MaxPooling",
    "opaque": "unknown: an input that depends on the kernel's scale blocks every decision",
}
_DECLARED = {}  # layer class -> rule


def register_layer_rule(layer_class, rule):
    """Declare how ``layer_class`` (and its subclasses) treats a scaled input.

    The graph rules know Keras' own layers; a custom layer is opaque until
    declared, which never makes a kernel wrongly scale-invariant but can
    leave one undecided (the sample probe then measures it). Declaring
    ``"homogeneous"`` (f(c x) = c f(x) for c > 0, like ReLU) or
    ``"preserving"`` (moves, crops, pools or upsamples values, keeping a
    per-channel shift, like MaxPooling) lets the graph see through it;
    ``"opaque"`` makes even a subclass of a known layer opaque. The rule is
    about the layer's input only: kernels inside it are still measured.

    Args:
        layer_class: a subclass of `keras.layers.Layer`.
        rule: one of `LAYER_RULES`.
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise TypeError(f"register_layer_rule takes a keras.layers.Layer subclass, got "
                        f"{layer_class!r}")
    if rule not in LAYER_RULES:
        raise ValueError(f"rule must be one of {', '.join(map(repr, LAYER_RULES))}, got {rule!r}")
    _DECLARED[layer_class] = rule


def declared_rule(layer):
    """The rule declared for ``layer``'s class or its nearest declared base, or None."""
    for cls in type(layer).__mro__:
        if cls in _DECLARED:
            return _DECLARED[cls]
    return None


def _opaque(op, ins):
    """`mixed`, naming the layer and saying how to declare it."""
    kind = type(op).__name__
    return _mixed(f"'{op.name}': {kind} is opaque to the graph rules (declare how it treats a "
                  f"scaled input: tf_fixnorm.register_layer_rule({kind}, 'homogeneous' or "
                  "'preserving'))", any(d.direct for d in ins))


@dataclasses.dataclass(frozen=True)
class Dep:
    """How a tensor depends on the scale `c` of the kernel under study."""

    kind: str
    axis: int | None = None  # channel axis of per-channel structure, if any
    shift: bool = False  # a shift beta, per channel along `axis` (constant if axis is None)
    partial: bool = False  # a per-channel (not uniform) scale
    degree: int = 1  # uniform scale is c**degree
    direct: bool = False  # reached through parameter-free ops only
    reason: str = ""

    @property
    def uniform(self):
        """Positively scaled by c**degree, nothing else."""
        return self.kind == AFFINE and not self.shift and not self.partial


CONST_DEP = Dep(CONST)


def _mixed(reason, direct=False):
    return Dep(MIXED, reason=reason, direct=direct)


def is_functional(op):
    """Whether `op` (a graph node's operation) is a model with a functional graph."""
    return isinstance(op, keras.Model) and graph_of(op) is not None


def graph_of(model):
    """The Functional graph behind a Functional or Sequential model, or None."""
    if isinstance(model, keras.Sequential):
        model = getattr(model, "_functional", None)
    if model is not None and hasattr(model, "_nodes_by_depth"):
        return model
    return None


def _rank(tensor):
    return len(tensor.shape)


def _pos(axis, rank):
    return axis % rank


def _channel_axis(layer, rank):
    fmt = getattr(layer, "data_format", "channels_last")
    return 1 if fmt == "channels_first" else rank - 1


def _activation_name(fn):
    return getattr(fn, "__name__", type(fn).__name__)


def _through_activation(dep, name, where):
    """Apply an elementwise activation `name` (in layer `where`) to `dep`."""
    if dep.kind != AFFINE or name == "linear":
        return dep
    if name not in _HOMOGENEOUS_ACTIVATIONS:
        return _mixed(f"{where}: activation '{name}' is not positively homogeneous",
                      dep.direct)
    if dep.shift:
        return _mixed(f"{where}: '{name}' after a bias is not positively homogeneous",
                      dep.direct)
    return dep


def _activation_layer_name(layer):
    """The activation a standalone activation layer computes, as a name."""
    if isinstance(layer, layers.Activation):
        return _activation_name(layer.activation)
    if isinstance(layer, layers.ReLU):
        homogeneous = layer.max_value is None and float(layer.threshold) == 0.0
        return "relu" if homogeneous else "relu(max_value/threshold)"
    if isinstance(layer, (layers.LeakyReLU, layers.PReLU)):
        return "leaky_relu"  # max(x, 0) + a * min(x, 0): homogeneous
    return type(layer).__name__.lower()


def _normalization_stats(layer, shape):
    """(axes each statistic is taken over, whether the mean is subtracted)."""
    rank = len(shape)
    if isinstance(layer, layers.BatchNormalization):
        axis = _pos(layer.axis, rank)
        return {a for a in range(rank) if a != axis}, True
    if isinstance(layer, layers.GroupNormalization):
        # Statistics per example and group: over the non-channel axes and the
        # channels of the group (one channel per group is instance norm).
        axis = _pos(layer.axis, rank)
        channels = shape[axis]
        groups = channels if layer.groups == -1 else layer.groups
        reduced = {a for a in range(1, rank) if a != axis}
        if channels is None or channels // groups > 1:
            reduced.add(axis)
        return reduced, True
    axes = getattr(layer, "axis", -1)
    axes = [axes] if isinstance(axes, int) else list(axes)
    reduced = {_pos(a, rank) for a in axes}
    if isinstance(layer, layers.LayerNormalization):
        return reduced, not getattr(layer, "rms_scaling", False)
    return reduced, False  # Unit and RMS normalization divide only


class GraphWalker:
    """Propagates one kernel's scale through a (possibly nested) functional model."""

    def __init__(self, model):
        self.model = model
        self._inside = {}  # id(op) -> ids of layers nested in op

    def _layers_inside(self, op):
        key = id(op)
        if key not in self._inside:
            inner = op._flatten_layers(include_self=False, recursive=True) \
                if isinstance(op, keras.layers.Layer) else []
            self._inside[key] = {id(layer) for layer in inner}
        return self._inside[key]

    def run(self, target):
        """Deps of the model outputs when `target` (a layer) has its kernel scaled.

        Returns (output deps with output names, names of normalizations that
        cancelled the scale).
        """
        self.target = target
        self.cancelled_by = []
        graph = graph_of(self.model)
        deps = self._propagate(graph, [CONST_DEP] * len(graph.inputs))
        names = [t._keras_history[0].name for t in graph.outputs]
        return list(zip(names, deps)), self.cancelled_by

    def _propagate(self, graph, input_deps):
        deps = {id(t): d for t, d in zip(graph.inputs, input_deps)}
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in graph._nodes_by_depth[depth]:
                op = node.operation
                if isinstance(op, layers.InputLayer):
                    continue
                ins = [deps.get(id(t), CONST_DEP) for t in node.input_tensors]
                touches = op is self.target or id(self.target) in self._layers_inside(op)
                if not touches and all(d.kind == CONST for d in ins):
                    outs = [CONST_DEP] * len(node.output_tensors)
                else:
                    outs = self._transfer(op, node, ins)
                for t, d in zip(node.output_tensors, outs):
                    deps[id(t)] = d
        return [deps.get(id(t), CONST_DEP) for t in graph.outputs]

    def _transfer(self, op, node, ins):
        n_out = len(node.output_tensors)
        if is_functional(op):
            return self._propagate(graph_of(op), ins)
        out = self._transfer_one(op, node, ins)
        return [out] * n_out

    def _transfer_one(self, op, node, ins):
        name = f"'{op.name}'"
        x = ins[0] if ins else CONST_DEP
        in_rank = _rank(node.input_tensors[0]) if node.input_tensors else 0
        out_rank = _rank(node.output_tensors[0])
        if op is self.target:
            return self._kernel_layer(op, x, in_rank, out_rank, scaled=True)
        if isinstance(op, KERNEL_LAYERS):
            return self._kernel_layer(op, x, in_rank, out_rank, scaled=False)
        if any(d.kind == MIXED for d in ins):
            first = next(d for d in ins if d.kind == MIXED)
            direct = any(d.direct for d in ins) and not isinstance(op, NORMALIZATIONS)
            return dataclasses.replace(first, direct=direct)
        rule = declared_rule(op)
        if rule is not None:
            return self._declared(op, rule, ins, name)
        if isinstance(op, NORMALIZATIONS):
            return self._normalization(op, node, x, in_rank)
        if isinstance(op, _ACTIVATION_LAYERS):
            return _through_activation(x, _activation_layer_name(op), name)
        if isinstance(op, _PRESERVING):
            return x
        if isinstance(op, _ZERO_PADDING):
            return _mixed(f"{name}: zero padding breaks the bias shift", x.direct) if x.shift else x
        if isinstance(op, layers.Resizing):
            # Interpolation weights sum to 1: a scale and a per-channel shift
            # survive; padding to the aspect ratio adds a border of fill_value,
            # which breaks a shift, and a scale too unless it is 0.
            if getattr(op, "pad_to_aspect_ratio", False) and \
                    (x.shift or getattr(op, "fill_value", 0.0) != 0):
                return _mixed(f"{name}: padding to the aspect ratio adds a border that does "
                              "not scale", x.direct)
            return x
        if isinstance(op, _GLOBAL_POOLING):
            return self._remap_channel(x, in_rank, out_rank, name)
        if isinstance(op, (layers.Flatten, layers.Reshape)):
            return self._reshape(x, node, in_rank, out_rank, name)
        if isinstance(op, _SUMS) or type(op).__name__ in _OP_SUMS:
            return self._sum(ins, name)
        if isinstance(op, (layers.Maximum, layers.Minimum)):
            return self._sum(ins, name, allow_shift=False)
        if isinstance(op, layers.Multiply) or type(op).__name__ == "Multiply":
            return self._product(ins, name)
        if isinstance(op, layers.Concatenate):
            return self._concat(ins, _pos(op.axis, out_rank), name)
        if type(op).__name__ in _OP_HOMOGENEOUS:
            return _through_activation(x, "relu", name)
        if isinstance(op, layers.Rescaling):
            return self._rescaling(op, x, out_rank, name)
        return _opaque(op, ins)

    @staticmethod
    def _declared(op, rule, ins, name):
        """Output dep of a layer whose class the user declared (`register_layer_rule`)."""
        varying = [d for d in ins if d.kind != CONST]
        if rule == "opaque":
            return _opaque(op, ins)
        if len(varying) > 1:
            return _mixed(f"{name}: a declared {rule} layer with several inputs that "
                          "depend on the kernel's scale", any(d.direct for d in ins))
        x = varying[0] if varying else CONST_DEP
        if rule == "homogeneous":
            return _through_activation(x, "relu", name)
        return x  # preserving

    def _kernel_layer(self, op, x, in_rank, out_rank, scaled):
        """Output dep of a layer with a kernel; the kernel is scaled if `scaled`."""
        name = f"'{op.name}'"
        out_axis = _channel_axis(op, out_rank) if isinstance(op, _CONVS) else out_rank - 1
        if scaled:
            if x.kind == CONST:
                pre = Dep(AFFINE, direct=True)
            elif x.uniform:
                pre = Dep(AFFINE, degree=x.degree + 1, direct=True)
            else:
                return _mixed(f"{name} applies the kernel to an input that also depends on it")
        elif x.kind != AFFINE or x.uniform:
            pre = dataclasses.replace(x, direct=False)
        elif x.partial and not x.shift and isinstance(op, _DEPTHWISE) \
                and op.depth_multiplier == 1 and x.axis == _channel_axis(op, in_rank):
            pre = Dep(AFFINE, axis=out_axis, partial=True)
        elif x.partial:
            return _mixed(f"{name} mixes channels that are scaled differently")
        elif self._keeps_shift_constant(op, x, in_rank):
            pre = Dep(AFFINE, axis=out_axis, shift=True, degree=x.degree)
        else:
            return _mixed(f"{name}: padding at the borders breaks the bias shift")
        if pre.kind == AFFINE and getattr(op, "use_bias", False) and \
                not isinstance(op, layers.EinsumDense):
            pre = dataclasses.replace(pre, axis=out_axis, shift=True)
        if pre.kind == AFFINE and isinstance(op, layers.EinsumDense) and op.bias_axes:
            return _mixed(f"{name}: EinsumDense bias is not analysed", pre.direct)
        activation = getattr(op, "activation", None)
        if activation is None:
            return pre
        return _through_activation(pre, _activation_name(activation), name)

    @staticmethod
    def _keeps_shift_constant(op, x, in_rank):
        """Does a per-channel constant stay per-channel constant through `op`?"""
        if isinstance(op, layers.Dense):
            return x.axis in (None, in_rank - 1)
        if isinstance(op, (layers.Embedding, layers.EinsumDense)):
            return False
        if not isinstance(op, _CONVS) or x.axis not in (None, _channel_axis(op, in_rank)):
            return False
        if isinstance(op, (layers.Conv1DTranspose, layers.Conv2DTranspose,
                           layers.Conv3DTranspose)):
            return False
        pointwise = all(k == 1 for k in op.kernel_size)
        return pointwise or op.padding == "valid"

    def _normalization(self, op, node, x, rank):
        name = f"'{op.name}'"
        if isinstance(op, layers.BatchNormalization):
            training = node.arguments.kwargs.get("training", None)
            if training is False or not op.trainable:
                # Inference mode: a fixed per-channel affine map.
                axis = _pos(op.axis, rank)
                if x.kind == AFFINE and x.axis not in (None, axis):
                    return _mixed(f"{name} (inference mode) on another channel axis")
                return dataclasses.replace(x, axis=axis, shift=True, direct=False)
        reduced, subtracts_mean = _normalization_stats(op, node.input_tensors[0].shape)
        if x.uniform:
            cancelled = True
        else:
            cancelled = x.axis not in reduced and (subtracts_mean or not x.shift)
        if cancelled:
            self.cancelled_by.append(op.name)
            return CONST_DEP
        what = "bias" if x.shift else "per-channel scale"
        return _mixed(f"{name} does not cancel the {what} (it varies inside a normalized group)")

    @staticmethod
    def _remap_channel(x, in_rank, out_rank, name):
        if x.axis is None or x.axis == 1 or out_rank == in_rank:
            return x
        if x.axis == in_rank - 1:
            return dataclasses.replace(x, axis=out_rank - 1)
        return _mixed(f"{name} drops the channel axis", x.direct)

    @staticmethod
    def _reshape(x, node, in_rank, out_rank, name):
        """Flatten/Reshape keep a per-channel pattern if the channels land on one axis."""
        if x.axis is None:
            return x
        in_shape = list(node.input_tensors[0].shape)
        out_shape = list(node.output_tensors[0].shape)
        channels = in_shape[x.axis]
        if x.axis == in_rank - 1:  # channel = flat index mod C: trailing output axes
            axes = range(out_rank - 1, 0, -1)
        elif all(d == 1 for d in in_shape[1:x.axis]):  # channel leads: leading axes
            axes = range(1, out_rank)
        else:
            axes = ()
        product, covering = 1, []
        for axis in axes:
            if product >= (channels or 0):
                break
            product *= out_shape[axis] or 0
            covering.append(axis)
        live = [a for a in covering if out_shape[a] != 1]
        if channels and product == channels and len(live) == 1:
            return dataclasses.replace(x, axis=live[0])
        return _mixed(f"{name} spreads the channels over several axes", x.direct)

    @staticmethod
    def _rescaling(op, x, rank, name):
        """y = scale * x + offset with constants (scalars or per last axis).

        Multiplying by a constant never changes how y depends on c, even a
        negative one: -s * (c * u) = c * (-s * u). Only the shift changes, to
        scale * beta + offset.
        """
        def axis_of(value):
            return rank - 1 if np.ndim(value) > 0 else None

        shift_axes = {x.axis, axis_of(op.scale)} if x.shift else set()
        if np.ndim(op.offset) > 0 or float(op.offset) != 0.0:
            shift_axes.add(axis_of(op.offset))
        axes = {a for a in shift_axes | ({x.axis} if x.partial else set()) if a is not None}
        if len(axes) > 1:
            return _mixed(f"{name} shifts along another axis than the channel one", x.direct)
        return dataclasses.replace(x, axis=axes.pop() if axes else None, shift=bool(shift_axes))

    @staticmethod
    def _sum(ins, name, allow_shift=True):
        varying = [d for d in ins if d.kind != CONST]
        direct = any(d.direct for d in varying)
        if len(varying) < len(ins):
            return _mixed(f"{name} adds it to a branch it does not scale", direct)
        if any(d.partial for d in varying) or len({d.degree for d in varying}) > 1:
            return _mixed(f"{name} adds branches scaled differently", direct)
        axes = {d.axis for d in varying if d.axis is not None}
        shift = any(d.shift for d in varying)
        if len(axes) > 1 or (shift and not allow_shift):
            return _mixed(f"{name} combines shifts along different axes", direct)
        return Dep(AFFINE, axis=axes.pop() if axes else None, shift=shift,
                   degree=varying[0].degree, direct=direct)

    @staticmethod
    def _product(ins, name):
        varying = [d for d in ins if d.kind != CONST]
        direct = any(d.direct for d in varying)
        if any(d.shift for d in varying):
            return _mixed(f"{name} multiplies a bias shift", direct)
        axes = {d.axis for d in varying if d.axis is not None}
        if len(axes) > 1:
            return _mixed(f"{name} multiplies per-channel scales on different axes", direct)
        return Dep(AFFINE, axis=axes.pop() if axes else None,
                   partial=any(d.partial for d in varying),
                   degree=sum(d.degree for d in varying), direct=direct)

    @staticmethod
    def _concat(ins, axis, name):
        varying = [d for d in ins if d.kind != CONST]
        direct = any(d.direct for d in varying)
        if all(d.uniform for d in varying) and len(varying) == len(ins) \
                and len({d.degree for d in varying}) == 1:
            return Dep(AFFINE, degree=varying[0].degree, direct=direct)
        if any(d.axis not in (None, axis) for d in varying):
            return _mixed(f"{name} concatenates along an axis other than the channel axis",
                          direct)
        return Dep(AFFINE, axis=axis, partial=True, shift=any(d.shift for d in varying),
                   direct=direct)
