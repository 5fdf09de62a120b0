"""A zoo of small models with hand-derived variable roles.

Each builder returns ``(model, expected)``: ``expected`` maps the Keras 3
``variable.path`` of EVERY trainable variable to its role, derived here from
the mathematics (training mode, one kernel scaled by c > 0), never from
running ``tf_fixnorm.analyze``. This is the independent ground truth the
analysis tests compare against.

The rules applied (see also docs/method.md, "Which kernels are scale-invariant"):

* kernel (no bias) -> BatchNorm: BN subtracts the per-channel batch mean and
  divides by the per-channel batch std, so ``BN(c*z) == BN(z)``: invariant.
* kernel + bias -> BatchNorm: ``c*z + b`` differs from ``c*z`` by a constant
  per channel, which BN's mean subtraction removes: still invariant.
* kernel + bias -> LayerNorm over channels, or GroupNorm with groups <
  channels: the per-channel bias is not constant over the normalised axes, so
  it is not removed and ``c*z + b`` is not a rescaling of ``z + b``: NOT
  invariant. Without bias: invariant. GroupNorm with groups == channels
  normalises each channel on its own (instance norm), so a per-channel bias
  is removed: invariant even with bias.
* ReLU (no max_value), LeakyReLU, PReLU, max/avg/global pooling, dropout,
  zero padding, reshape/flatten are positively homogeneous
  (``f(c*z) == c*f(z)``), so they carry invariance through -- as long as no
  bias sits in front of them (``relu(c*z + b)`` is not ``c*relu(z + b)``,
  zero padding of ``c*z + b`` pads with 0, not with b).
* ReLU6, swish/silu, sigmoid, tanh, gelu are not homogeneous: NOT invariant.
* A bias-free linear layer (a conv with no bias) is itself homogeneous, so a
  kernel followed by such a layer and then BN stays invariant.
* A kernel whose output is added to another branch (not scaled by it) before
  any normalisation, or that also goes somewhere that is never normalised,
  is NOT invariant.
* Biases, gamma, beta, PReLU alphas: always "other". The kernel of the final
  logits layer (possibly followed by softmax / Activation / Dropout): the
  "classifier". Every other kernel that is not invariant: "other".

Variable paths in Keras 3 depend on the scope a layer was built in (a
functional sub-model's variables carry no prefix, a Sequential's may), so
the roles are reasoned per *layer name* and turned into paths by looking the
layer's own variables up in the built model: the keys are exactly Keras'
paths, the roles are ours.
"""

import numpy as np
import keras
from keras import layers

INV = "scale_invariant"
CLS = "classifier"
OTH = "other"
ROLES = (INV, CLS, OTH)

# Variable names (last path component) that are kernels (rank >= 2 weights
# whose role needs reasoning). Everything else (bias, gamma, beta, alpha, ...)
# is "other".
KERNEL_NAMES = ("kernel", "depthwise_kernel", "pointwise_kernel")

IMG = (16, 16, 3)


# ----------------------------------------------------------------- helpers


def leaf_layers(model):
    """All non-model layers of ``model``, descending into nested models."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out.extend(leaf_layers(layer))
        else:
            out.append(layer)
    return out


def find_layer(model, name):
    for layer in leaf_layers(model):
        if layer.name == name:
            return layer
    raise KeyError(name)


def expected_roles(model, kernel_roles):
    """Expected path -> role for every trainable variable of ``model``.

    ``kernel_roles`` maps a layer name to the role of its kernel(s); every
    kernel in the model must be named there (no silent default for kernels),
    and every name there must be a layer with a kernel. All non-kernel
    trainable variables are "other".
    """
    expected = {}
    used = set()
    for layer in leaf_layers(model):
        for v in layer.trainable_variables:
            short = v.path.rsplit("/", 1)[-1]
            if short in KERNEL_NAMES:
                if layer.name not in kernel_roles:
                    raise AssertionError(f"zoo: no role reasoned for kernel {v.path}")
                role = kernel_roles[layer.name]
                used.add(layer.name)
            else:
                role = OTH
            assert role in ROLES, role
            assert v.path not in expected, f"zoo: duplicate variable path {v.path}"
            expected[v.path] = role
    unused = set(kernel_roles) - used
    if unused:
        raise AssertionError(f"zoo: roles given for layers without a kernel: {sorted(unused)}")
    return expected


def consumers(layer):
    """Layers that consume ``layer``'s output (functional graph, single use)."""
    return [node.operation for node in layer._outbound_nodes]


def _conv(name, filters, k=3, strides=1, bias=False, **kw):
    return layers.Conv2D(filters, k, strides=strides, padding="same", use_bias=bias, name=name, **kw)


def _bn(name):
    return layers.BatchNormalization(name=name)


def random_sample(model, batch=8, seed=0):
    """A random input batch for ``model`` (first input only)."""
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).standard_normal((batch,) + shape).astype("float32")


# ------------------------------------------------------------------ cases


def conv_bn_relu():
    """(a) conv-BN-ReLU stack; logits Dense with softmax, dropout before it."""
    inp = keras.Input(IMG, name="a_input")
    x = _conv("a_conv1", 8)(inp)
    x = _bn("a_bn1")(x)
    x = layers.Activation("relu", name="a_relu1")(x)
    x = _conv("a_conv2", 16, strides=2)(x)
    x = _bn("a_bn2")(x)
    x = layers.ReLU(name="a_relu2")(x)
    x = layers.MaxPooling2D(name="a_pool")(x)
    x = _conv("a_conv3", 16)(x)
    x = _bn("a_bn3")(x)
    x = layers.ReLU(name="a_relu3")(x)
    x = layers.GlobalAveragePooling2D(name="a_gap")(x)
    x = layers.Dropout(0.2, name="a_drop")(x)
    out = layers.Dense(10, activation="softmax", name="a_logits")(x)
    model = keras.Model(inp, out, name="conv_bn_relu")
    return model, expected_roles(model, {
        "a_conv1": INV, "a_conv2": INV, "a_conv3": INV, "a_logits": CLS,
    })


def post_act_resnet():
    """(b) post-activation ResNet: every conv (shortcuts too) feeds a BN."""
    inp = keras.Input(IMG, name="b_input")
    x = _conv("b_stem", 8)(inp)
    x = _bn("b_stem_bn")(x)
    x = layers.ReLU(name="b_stem_relu")(x)

    def block(x, name, filters, strides, project):
        if project:
            s = _conv(f"{name}_short", filters, k=1, strides=strides)(x)
            s = _bn(f"{name}_short_bn")(s)
        else:
            s = x
        y = _conv(f"{name}_conv1", filters, strides=strides)(x)
        y = _bn(f"{name}_bn1")(y)
        y = layers.ReLU(name=f"{name}_relu1")(y)
        y = _conv(f"{name}_conv2", filters)(y)
        y = _bn(f"{name}_bn2")(y)
        y = layers.Add(name=f"{name}_add")([s, y])
        return layers.ReLU(name=f"{name}_out")(y)

    x = block(x, "b_blk1", 16, 2, True)
    x = block(x, "b_blk2", 16, 1, False)
    x = block(x, "b_blk3", 32, 2, True)
    x = layers.GlobalAveragePooling2D(name="b_gap")(x)
    out = layers.Dense(10, name="b_logits")(x)
    model = keras.Model(inp, out, name="post_act_resnet")
    roles = {"b_stem": INV, "b_logits": CLS}
    for blk, proj in (("b_blk1", True), ("b_blk2", False), ("b_blk3", True)):
        roles[f"{blk}_conv1"] = INV
        roles[f"{blk}_conv2"] = INV
        if proj:
            roles[f"{blk}_short"] = INV
    return model, expected_roles(model, roles)


def pre_act_resnet():
    """(c) pre-activation ResNet (as keras ResNetV2): BN-ReLU-conv-BN-ReLU-conv + shortcut.

    The stem conv feeds only block 1's pre-activation BN (block 1's projection
    shortcut reads the pre-activated tensor): invariant. In each block the
    first conv feeds a BN: invariant; the second conv and the projection
    shortcut conv feed the Add (whose other operand they do not scale) before
    any normalisation: NOT invariant.
    """
    inp = keras.Input(IMG, name="c_input")
    x = _conv("c_stem", 8)(inp)

    def block(x, name, filters, strides, project):
        pre = _bn(f"{name}_preact_bn")(x)
        pre = layers.ReLU(name=f"{name}_preact_relu")(pre)
        if project:
            s = _conv(f"{name}_short", filters, k=1, strides=strides)(pre)
        else:
            s = x
        y = _conv(f"{name}_conv1", filters, strides=strides)(pre)
        y = _bn(f"{name}_bn1")(y)
        y = layers.ReLU(name=f"{name}_relu1")(y)
        y = _conv(f"{name}_conv2", filters)(y)
        return layers.Add(name=f"{name}_add")([s, y])

    x = block(x, "c_blk1", 16, 1, True)
    x = block(x, "c_blk2", 16, 1, False)
    x = block(x, "c_blk3", 32, 2, True)
    x = _bn("c_post_bn")(x)
    x = layers.ReLU(name="c_post_relu")(x)
    x = layers.GlobalAveragePooling2D(name="c_gap")(x)
    out = layers.Dense(10, name="c_logits")(x)
    model = keras.Model(inp, out, name="pre_act_resnet")
    roles = {"c_stem": INV, "c_logits": CLS}
    for blk, proj in (("c_blk1", True), ("c_blk2", False), ("c_blk3", True)):
        roles[f"{blk}_conv1"] = INV
        roles[f"{blk}_conv2"] = OTH
        if proj:
            roles[f"{blk}_short"] = OTH
    return model, expected_roles(model, roles)


def _only_consumer_is_bn(layer):
    cons = consumers(layer)
    assert len(cons) == 1 and isinstance(cons[0], layers.BatchNormalization), (
        f"zoo: {layer.name} -> {[c.name for c in cons]}, expected one BatchNormalization"
    )


def mobilenet_v2():
    """(d) keras.applications.MobileNetV2: every (depthwise) conv feeds a BN
    directly (checked below), so all are invariant; "predictions" is the
    classifier. (Its ReLU6 layers come after the BNs, so they do not matter.)"""
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10)
    roles = {}
    for layer in leaf_layers(model):
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            _only_consumer_is_bn(layer)
            roles[layer.name] = INV
        elif layer.name == "predictions":
            assert isinstance(layer, layers.Dense) and consumers(layer) == []
            roles[layer.name] = CLS
    return model, expected_roles(model, roles)


def efficientnet_b0():
    """(e) keras.applications.EfficientNetB0. Squeeze-excitation convs
    (GAP -> reshape -> se_reduce(bias, swish) -> se_expand(bias, sigmoid) ->
    multiply into the features) are NOT invariant: scaling se_reduce's kernel
    moves swish(c*z + b), scaling se_expand's moves sigmoid(c*z + b), and the
    gate multiplies the features per channel (differently per sample) before
    the project conv's BN, so nothing cancels it. Every other conv (stem,
    expand, depthwise, project, top) feeds a BN directly: invariant (the
    project conv reads the gated features, but its own output goes straight
    into BN). "predictions" (after avg_pool and top_dropout) is the classifier.
    """
    model = keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3), classes=10)
    roles = {}
    n_se = 0
    for layer in leaf_layers(model):
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            if "se_reduce" in layer.name:
                (nxt,) = consumers(layer)
                assert "se_expand" in nxt.name
                roles[layer.name] = OTH
                n_se += 1
            elif "se_expand" in layer.name:
                (nxt,) = consumers(layer)
                assert isinstance(nxt, layers.Multiply), nxt
                roles[layer.name] = OTH
                n_se += 1
            else:
                _only_consumer_is_bn(layer)
                roles[layer.name] = INV
        elif layer.name == "predictions":
            assert isinstance(layer, layers.Dense) and consumers(layer) == []
            roles[layer.name] = CLS
    assert n_se == 32, n_se  # 16 blocks x (reduce, expand)
    return model, expected_roles(model, roles)


def resnet50():
    """(m) keras.applications.ResNet50 (post-activation): every conv, with its
    bias, feeds a BN directly (checked below): all kernels invariant, biases
    "other"; "predictions" is the classifier."""
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    roles = {}
    for layer in leaf_layers(model):
        if isinstance(layer, layers.Conv2D):
            assert layer.use_bias
            _only_consumer_is_bn(layer)
            roles[layer.name] = INV
        elif layer.name == "predictions":
            assert isinstance(layer, layers.Dense) and consumers(layer) == []
            roles[layer.name] = CLS
    return model, expected_roles(model, roles)


def resnet50_v2():
    """(m2) keras.applications.ResNet50V2, the pre-activation ResNet users
    actually get. Checked structure below:
    * *_1_conv, *_2_conv (no bias) feed a BN directly: invariant;
    * *_3_conv (last conv of a branch) and *_0_conv (projection shortcut)
      feed the Add (block output) directly: NOT invariant;
    * conv1_conv (stem, WITH bias) -> pool1_pad (ZeroPadding2D) -> pool1_pool
      (3x3 max pool) -> conv2_block1_preact_bn: the padded border is 0, not
      c*z + b, and max(0, c*z + b, ...) is not an affine image of
      max(0, z + b, ...): the bias is no longer a per-channel constant when
      BN sees it: NOT invariant (it would be invariant without the bias);
    * "predictions": classifier."""
    model = keras.applications.ResNet50V2(weights=None, input_shape=(32, 32, 3), classes=10)
    roles = {}
    for layer in leaf_layers(model):
        if isinstance(layer, layers.Conv2D):
            cons = consumers(layer)
            if layer.name == "conv1_conv":
                assert layer.use_bias and [type(c).__name__ for c in cons] == ["ZeroPadding2D"]
                (pool,) = consumers(cons[0])
                assert isinstance(pool, layers.MaxPooling2D)
                assert [type(c).__name__ for c in consumers(pool)] == ["BatchNormalization"]
                roles[layer.name] = OTH
            elif layer.name.endswith(("_1_conv", "_2_conv")):
                assert not layer.use_bias
                _only_consumer_is_bn(layer)
                roles[layer.name] = INV
            else:
                assert layer.name.endswith(("_0_conv", "_3_conv")), layer.name
                assert len(cons) == 1 and isinstance(cons[0], layers.Add), (layer.name, cons)
                roles[layer.name] = OTH
        elif layer.name == "predictions":
            assert isinstance(layer, layers.Dense) and consumers(layer) == []
            roles[layer.name] = CLS
    return model, expected_roles(model, roles)


def group_norm():
    """(f) GroupNorm. conv (no bias) -> GN(4 groups of 2): invariant.
    conv (bias) -> GN(4 groups of 2): the bias differs between the two channels
    of a group, GN removes only the group mean: NOT invariant.
    conv (bias) -> GN(groups == channels, i.e. per-channel): the per-channel
    bias is exactly the kind of shift it removes: invariant."""
    inp = keras.Input(IMG, name="f_input")
    x = _conv("f_conv1", 8)(inp)
    x = layers.GroupNormalization(groups=4, name="f_gn1")(x)
    x = layers.ReLU(name="f_relu1")(x)
    x = _conv("f_conv2", 8, bias=True)(x)
    x = layers.GroupNormalization(groups=4, name="f_gn2")(x)
    x = layers.ReLU(name="f_relu2")(x)
    x = _conv("f_conv3", 8, bias=True)(x)
    x = layers.GroupNormalization(groups=8, name="f_gn3")(x)
    x = layers.ReLU(name="f_relu3")(x)
    x = layers.GlobalAveragePooling2D(name="f_gap")(x)
    out = layers.Dense(10, name="f_logits")(x)
    model = keras.Model(inp, out, name="group_norm")
    return model, expected_roles(model, {
        "f_conv1": INV, "f_conv2": OTH, "f_conv3": INV, "f_logits": CLS,
    })


def layer_norm():
    """(g) LayerNorm. conv (no bias) -> LN(channels): invariant.
    conv (bias) -> LN(H, W, C): bias varies over C: NOT invariant.
    Dense (bias) -> LN: NOT invariant. Dense (no bias) -> LN: invariant."""
    inp = keras.Input((8, 8, 3), name="g_input")
    x = _conv("g_conv1", 8)(inp)
    x = layers.LayerNormalization(axis=-1, name="g_ln_c1")(x)
    x = layers.ReLU(name="g_relu_c1")(x)
    x = _conv("g_conv2", 8, bias=True)(x)
    x = layers.LayerNormalization(axis=[1, 2, 3], name="g_ln_c2")(x)
    x = layers.ReLU(name="g_relu_c2")(x)
    x = layers.Flatten(name="g_flat")(x)
    x = layers.Dense(32, use_bias=True, name="g_dense_bias")(x)
    x = layers.LayerNormalization(name="g_ln1")(x)
    x = layers.ReLU(name="g_relu1")(x)
    x = layers.Dense(32, use_bias=False, name="g_dense_nobias")(x)
    x = layers.LayerNormalization(name="g_ln2")(x)
    x = layers.ReLU(name="g_relu2")(x)
    out = layers.Dense(5, name="g_logits")(x)
    model = keras.Model(inp, out, name="layer_norm")
    return model, expected_roles(model, {
        "g_conv1": INV, "g_conv2": OTH, "g_dense_bias": OTH, "g_dense_nobias": INV,
        "g_logits": CLS,
    })


def bias_before_bn():
    """(h) conv/Dense WITH bias -> BN: BN's mean subtraction cancels the bias:
    invariant (biases themselves "other")."""
    inp = keras.Input(IMG, name="h_input")
    x = _conv("h_conv1", 8, bias=True)(inp)
    x = _bn("h_bn1")(x)
    x = layers.ReLU(name="h_relu1")(x)
    x = _conv("h_conv2", 16, strides=2, bias=True)(x)
    x = _bn("h_bn2")(x)
    x = layers.ReLU(name="h_relu2")(x)
    x = layers.GlobalAveragePooling2D(name="h_gap")(x)
    x = layers.Dense(16, use_bias=True, name="h_dense")(x)
    x = _bn("h_bn3")(x)
    x = layers.ReLU(name="h_relu3")(x)
    out = layers.Dense(10, name="h_logits")(x)
    model = keras.Model(inp, out, name="bias_before_bn")
    return model, expected_roles(model, {
        "h_conv1": INV, "h_conv2": INV, "h_dense": INV, "h_logits": CLS,
    })


def relu_between():
    """(i) conv (no bias) -> ReLU -> BN: relu(c*z) = c*relu(z): invariant.
    conv (bias) -> ReLU -> BN: relu(c*z + b) is not a rescaling: NOT invariant.
    conv (no bias, activation="relu" inside the layer) -> BN: invariant.
    conv (bias, activation="relu" inside the layer) -> BN: NOT invariant.
    conv (no bias) -> LeakyReLU -> MaxPool -> BN: invariant."""
    inp = keras.Input(IMG, name="i_input")
    x = _conv("i_conv_nobias", 8)(inp)
    x = layers.ReLU(name="i_relu1")(x)
    x = _bn("i_bn1")(x)
    x = _conv("i_conv_bias", 8, bias=True)(x)
    x = layers.Activation("relu", name="i_relu2")(x)
    x = _bn("i_bn2")(x)
    x = _conv("i_conv_act_nobias", 8, activation="relu")(x)
    x = _bn("i_bn3")(x)
    x = _conv("i_conv_act_bias", 8, bias=True, activation="relu")(x)
    x = _bn("i_bn4")(x)
    x = _conv("i_conv_leaky", 8)(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="i_leaky")(x)
    x = layers.MaxPooling2D(name="i_pool")(x)
    x = _bn("i_bn5")(x)
    x = layers.GlobalAveragePooling2D(name="i_gap")(x)
    out = layers.Dense(10, name="i_logits")(x)
    model = keras.Model(inp, out, name="relu_between")
    return model, expected_roles(model, {
        "i_conv_nobias": INV, "i_conv_bias": OTH, "i_conv_act_nobias": INV,
        "i_conv_act_bias": OTH, "i_conv_leaky": INV, "i_logits": CLS,
    })


def bn_and_elsewhere():
    """(j) a conv whose output goes to BN and ALSO, unnormalised, through
    GAP into a concatenation feeding the Dense head: the head sees c*z, so
    the loss moves: NOT invariant. A sibling conv that feeds only BN stays
    invariant."""
    inp = keras.Input(IMG, name="j_input")
    x = _conv("j_conv1", 8)(inp)
    x = _bn("j_bn1")(x)
    x = layers.ReLU(name="j_relu1")(x)
    z = _conv("j_conv_split", 8)(x)
    y = _bn("j_bn2")(z)
    y = layers.ReLU(name="j_relu2")(y)
    y = layers.GlobalAveragePooling2D(name="j_gap_main")(y)
    side = layers.GlobalAveragePooling2D(name="j_gap_side")(z)
    h = layers.Concatenate(name="j_concat")([y, side])
    out = layers.Dense(10, name="j_logits")(h)
    model = keras.Model(inp, out, name="bn_and_elsewhere")
    return model, expected_roles(model, {
        "j_conv1": INV, "j_conv_split": OTH, "j_logits": CLS,
    })


def no_norm():
    """(k) no normalisation anywhere: nothing is invariant; the final Dense is
    the classifier (a Dropout after it does not change that), other kernels
    "other"."""
    inp = keras.Input(IMG, name="k_input")
    x = _conv("k_conv1", 8, bias=True, activation="relu")(inp)
    x = _conv("k_conv2", 16, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D(name="k_gap")(x)
    x = layers.Dense(16, activation="relu", name="k_dense")(x)
    x = layers.Dense(10, name="k_logits")(x)
    out = layers.Dropout(0.1, name="k_drop")(x)
    model = keras.Model(inp, out, name="no_norm")
    return model, expected_roles(model, {
        "k_conv1": OTH, "k_conv2": OTH, "k_dense": OTH, "k_logits": CLS,
    })


def nested_functional():
    """(l) a functional backbone used inside an outer functional model. The
    backbone's last conv has no BN of its own: its output leaves the
    sub-model and meets the outer model's BN: invariant across the boundary.
    Head Dense in the outer model: classifier."""
    binp = keras.Input(IMG, name="l_bb_input")
    x = _conv("l_conv1", 8)(binp)
    x = _bn("l_bn1")(x)
    x = layers.ReLU(name="l_relu1")(x)
    x = _conv("l_conv2", 16, strides=2)(x)
    backbone = keras.Model(binp, x, name="l_backbone")

    inp = keras.Input(IMG, name="l_input")
    y = backbone(inp)
    y = _bn("l_outer_bn")(y)
    y = layers.ReLU(name="l_outer_relu")(y)
    y = layers.GlobalAveragePooling2D(name="l_gap")(y)
    out = layers.Dense(10, name="l_head")(y)
    model = keras.Model(inp, out, name="nested_functional")
    return model, expected_roles(model, {
        "l_conv1": INV, "l_conv2": INV, "l_head": CLS,
    })


def nested_sequential():
    """(l') Sequential([backbone, head]) where both parts are functional
    sub-models: the classifier sits inside the nested head model."""
    binp = keras.Input(IMG, name="l2_bb_input")
    x = _conv("l2_conv1", 8)(binp)
    x = _bn("l2_bn1")(x)
    x = layers.ReLU(name="l2_relu1")(x)
    x = _conv("l2_conv2", 16, strides=2, bias=True)(x)
    x = _bn("l2_bn2")(x)
    x = layers.ReLU(name="l2_relu2")(x)
    backbone = keras.Model(binp, x, name="l2_backbone")

    hinp = keras.Input((8, 8, 16), name="l2_head_input")
    h = layers.GlobalAveragePooling2D(name="l2_gap")(hinp)
    h = layers.Dense(10, name="l2_logits")(h)
    head = keras.Model(hinp, h, name="l2_head")

    model = keras.Sequential([keras.Input(IMG), backbone, head], name="nested_sequential")
    return model, expected_roles(model, {
        "l2_conv1": INV, "l2_conv2": INV, "l2_logits": CLS,
    })


class _ConvBNStack(keras.Model):
    """Subclassed equivalent of case (a)."""

    def __init__(self):
        super().__init__(name="n_subclassed")
        self.conv1 = _conv("n_conv1", 8)
        self.bn1 = _bn("n_bn1")
        self.conv2 = _conv("n_conv2", 16, strides=2)
        self.bn2 = _bn("n_bn2")
        self.pool = layers.MaxPooling2D(name="n_pool")
        self.conv3 = _conv("n_conv3", 16)
        self.bn3 = _bn("n_bn3")
        self.gap = layers.GlobalAveragePooling2D(name="n_gap")
        self.logits = layers.Dense(10, name="n_logits")

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn1(self.conv1(x), training=training))
        x = keras.ops.relu(self.bn2(self.conv2(x), training=training))
        x = self.pool(x)
        x = keras.ops.relu(self.bn3(self.conv3(x), training=training))
        return self.logits(self.gap(x))


def subclassed():
    """(n) subclassed keras.Model equivalent to (a): for the sample method
    only (no functional graph to read). Built by one call."""
    model = _ConvBNStack()
    model(np.zeros((2,) + IMG, "float32"))
    return model, expected_roles(model, {
        "n_conv1": INV, "n_conv2": INV, "n_conv3": INV, "n_logits": CLS,
    })


# ----------------------------------------------------- extra edge cases
# Not in the lead's list; each isolates one rule that is easy to get wrong.


def activations_edge():
    """(x1) non-homogeneous activations and bias-shifted padding between a
    bias-free conv and BN, plus homogeneous ones that are easy to miss:
      ReLU6 (ReLU(max_value=6)): min(max(c*z, 0), 6) != c*relu6(z): NOT inv.
      swish, tanh: NOT invariant.
      PReLU: prelu(c*z) = c*prelu(z) (per-channel alpha, c > 0): invariant;
        its alpha is "other".
      AveragePooling, ZeroPadding without a bias: invariant.
      conv WITH bias -> ZeroPadding -> BN: the padded border is 0, not c*z+b,
        so the bias is not a per-channel constant any more: NOT invariant.
    """
    inp = keras.Input(IMG, name="x1_input")
    x = _conv("x1_conv_relu6", 8)(inp)
    x = layers.ReLU(max_value=6.0, name="x1_relu6")(x)
    x = _bn("x1_bn1")(x)
    x = _conv("x1_conv_swish", 8)(x)
    x = layers.Activation("swish", name="x1_swish")(x)
    x = _bn("x1_bn2")(x)
    x = _conv("x1_conv_tanh", 8)(x)
    x = layers.Activation("tanh", name="x1_tanh")(x)
    x = _bn("x1_bn3")(x)
    x = _conv("x1_conv_prelu", 8)(x)
    x = layers.PReLU(shared_axes=[1, 2], name="x1_prelu")(x)
    x = _bn("x1_bn4")(x)
    x = _conv("x1_conv_avgpad", 8)(x)
    x = layers.AveragePooling2D(2, name="x1_avgpool")(x)
    x = layers.ZeroPadding2D(1, name="x1_pad1")(x)
    x = _bn("x1_bn5")(x)
    x = _conv("x1_conv_bias_pad", 8, bias=True)(x)
    x = layers.ZeroPadding2D(1, name="x1_pad2")(x)
    x = _bn("x1_bn6")(x)
    x = layers.GlobalAveragePooling2D(name="x1_gap")(x)
    out = layers.Dense(10, name="x1_logits")(x)
    model = keras.Model(inp, out, name="activations_edge")
    return model, expected_roles(model, {
        "x1_conv_relu6": OTH, "x1_conv_swish": OTH, "x1_conv_tanh": OTH,
        "x1_conv_prelu": INV, "x1_conv_avgpad": INV, "x1_conv_bias_pad": OTH,
        "x1_logits": CLS,
    })


def separable_edge():
    """(x2) several kernels before one BN.
    SeparableConv2D (bias) -> BN: out = pw(dw(x)) + b is linear in each of its
    two kernels, so scaling either one scales out - b; BN cancels b: BOTH
    kernels invariant.
    DepthwiseConv2D (no bias) -> Conv2D 1x1 (no bias) -> BN: the 1x1 conv is
    linear (homogeneous), so scaling the depthwise kernel scales the BN input:
    BOTH invariant."""
    inp = keras.Input(IMG, name="x2_input")
    x = layers.SeparableConv2D(16, 3, padding="same", use_bias=True, name="x2_sep")(inp)
    x = _bn("x2_bn1")(x)
    x = layers.ReLU(name="x2_relu1")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="x2_dw")(x)
    x = _conv("x2_pw", 16, k=1)(x)
    x = _bn("x2_bn2")(x)
    x = layers.ReLU(name="x2_relu2")(x)
    x = layers.GlobalAveragePooling2D(name="x2_gap")(x)
    out = layers.Dense(10, name="x2_logits")(x)
    model = keras.Model(inp, out, name="separable_edge")
    return model, expected_roles(model, {
        "x2_sep": INV, "x2_dw": INV, "x2_pw": INV, "x2_logits": CLS,
    })


def reshape_axes_edge():
    """(x3) which axes a normalisation reduces over, after a reshape.
    Dense (no bias) -> Reshape (4, 4) -> BN(last axis): BN(c*z) = BN(z):
    invariant. Dense (bias, 16 units) -> Reshape (4, 4) -> BN(last axis): BN
    reduces over batch and the FIRST reshaped axis, along which the bias
    varies (bias[4*i + j] sits at (i, j)): not cancelled: NOT invariant.
    Dense (bias) -> Reshape (16, 1) -> BN(axis=1): one statistic per unit
    (over batch and the size-1 axis): every bias entry is its own channel:
    cancelled: invariant.
    Dense (bias) -> Reshape (4, 4) -> BN(axis=1): reduces over batch and the
    second axis, along which bias[4*i + j] varies: NOT invariant."""
    inp = keras.Input((12,), name="x3_input")
    a = layers.Dense(16, use_bias=False, name="x3_dense_nobias")(inp)
    a = layers.Reshape((4, 4), name="x3_reshape_a")(a)
    a = layers.BatchNormalization(name="x3_bn_a")(a)
    b = layers.Dense(16, use_bias=True, name="x3_dense_bias")(inp)
    b = layers.Reshape((4, 4), name="x3_reshape_b")(b)
    b = layers.BatchNormalization(name="x3_bn_b")(b)
    c = layers.Dense(16, use_bias=True, name="x3_dense_bias_full")(inp)
    c = layers.Reshape((16, 1), name="x3_reshape_c")(c)
    c = layers.BatchNormalization(axis=1, name="x3_bn_c")(c)
    d = layers.Dense(16, use_bias=True, name="x3_dense_bias_axis1")(inp)
    d = layers.Reshape((4, 4), name="x3_reshape_d")(d)
    d = layers.BatchNormalization(axis=1, name="x3_bn_d")(d)
    h = layers.Concatenate(name="x3_concat")([
        layers.Flatten(name=f"x3_flat_{k}")(t) for k, t in zip("abcd", (a, b, c, d))])
    h = layers.ReLU(name="x3_relu")(h)
    out = layers.Dense(5, name="x3_logits")(h)
    model = keras.Model(inp, out, name="reshape_axes_edge")
    return model, expected_roles(model, {
        "x3_dense_nobias": INV, "x3_dense_bias": OTH, "x3_dense_bias_full": INV,
        "x3_dense_bias_axis1": OTH, "x3_logits": CLS,
    })


def frozen_bn_edge():
    """(x4) a BatchNormalization with trainable=False runs in inference mode
    in Keras 3 even when the model is called with training=True: it is then a
    fixed affine map (moving statistics), which cancels nothing, and the ReLU
    after it sees (c*z - m)/s: NOT invariant, although the next conv's BN
    (trainable) normalises. The conv after it, feeding a trainable BN:
    invariant. (The frozen BN's gamma/beta are not trainable: no role.)"""
    inp = keras.Input(IMG, name="x4_input")
    x = _conv("x4_conv_frozen_bn", 8)(inp)
    frozen = _bn("x4_bn_frozen")
    x = frozen(x)
    x = layers.ReLU(name="x4_relu1")(x)
    x = _conv("x4_conv2", 8)(x)
    x = _bn("x4_bn2")(x)
    x = layers.ReLU(name="x4_relu2")(x)
    x = layers.GlobalAveragePooling2D(name="x4_gap")(x)
    out = layers.Dense(10, name="x4_logits")(x)
    model = keras.Model(inp, out, name="frozen_bn_edge")
    # moving statistics away from (0, 1) so the frozen BN is visibly affine
    frozen.moving_mean.assign(np.linspace(-0.5, 0.5, 8).astype(frozen.moving_mean.dtype))
    frozen.moving_variance.assign(np.linspace(0.5, 2.0, 8).astype(frozen.moving_variance.dtype))
    frozen.trainable = False
    return model, expected_roles(model, {
        "x4_conv_frozen_bn": OTH, "x4_conv2": INV, "x4_logits": CLS,
    })


def shared_and_concat_edge():
    """(x5) graph topology traps.
    A conv layer called twice (shared weights), both outputs into BNs:
    scaling its kernel scales both BN inputs: invariant.
    A shared conv with one call into BN and one call unnormalised into the
    head: NOT invariant.
    Two bias-free convs concatenated on channels, then BN (per channel):
    each channel comes from one conv: BOTH invariant.
    Two bias-free convs concatenated on channels, then LN over channels: LN's
    statistics mix both convs' channels, scaling one changes the other's
    normalised values: BOTH NOT invariant."""
    inp = keras.Input(IMG, name="x5_input")
    shared = _conv("x5_conv_shared", 8)
    p1 = _bn("x5_bn_s1")(shared(inp))
    p2 = _bn("x5_bn_s2")(shared(layers.MaxPooling2D(1, name="x5_id_pool")(inp)))
    x = layers.Add(name="x5_add")([p1, p2])
    x = layers.ReLU(name="x5_relu0")(x)
    leaky_shared = _conv("x5_conv_shared_leak", 8)
    q1 = _bn("x5_bn_l1")(leaky_shared(x))
    q2 = layers.GlobalAveragePooling2D(name="x5_gap_leak")(leaky_shared(q1))
    ca = _conv("x5_conv_cat_bn_a", 4)(q1)
    cb = _conv("x5_conv_cat_bn_b", 4)(q1)
    y = layers.Concatenate(name="x5_cat1")([ca, cb])
    y = _bn("x5_bn_cat")(y)
    y = layers.ReLU(name="x5_relu1")(y)
    la = _conv("x5_conv_cat_ln_a", 4)(y)
    lb = _conv("x5_conv_cat_ln_b", 4)(y)
    z = layers.Concatenate(name="x5_cat2")([la, lb])
    z = layers.LayerNormalization(name="x5_ln_cat")(z)
    z = layers.ReLU(name="x5_relu2")(z)
    z = layers.GlobalAveragePooling2D(name="x5_gap")(z)
    h = layers.Concatenate(name="x5_head_cat")([z, q2])
    out = layers.Dense(10, name="x5_logits")(h)
    model = keras.Model(inp, out, name="shared_and_concat_edge")
    return model, expected_roles(model, {
        "x5_conv_shared": INV, "x5_conv_shared_leak": OTH,
        "x5_conv_cat_bn_a": INV, "x5_conv_cat_bn_b": INV,
        "x5_conv_cat_ln_a": OTH, "x5_conv_cat_ln_b": OTH, "x5_logits": CLS,
    })


def other_norms_edge():
    """(x6) normalisations beyond BN/LN/GN, and affine maps before BN.
    Dense (no bias) -> UnitNormalization (z / |z|): invariant.
    conv (no bias) -> RMSNormalization (z / rms(z) * scale): invariant.
    conv (bias) -> RMSNormalization: no mean subtraction, bias not cancelled:
    NOT invariant.
    conv (no bias) -> Rescaling(scale=-0.5, offset=0.3) -> BN: a per-tensor
    affine map; BN removes the offset and the sign/scale cancels in
    z / std(z) up to the sign, which does not depend on c: invariant.
    The RMSNormalization "scale" vector is "other"."""
    inp = keras.Input(IMG, name="x6_input")
    x = _conv("x6_conv_rescale", 8)(inp)
    x = layers.Rescaling(-0.5, offset=0.3, name="x6_rescale")(x)
    x = _bn("x6_bn1")(x)
    x = layers.ReLU(name="x6_relu1")(x)
    x = _conv("x6_conv_rms", 8)(x)
    x = layers.RMSNormalization(name="x6_rms1")(x)
    x = layers.ReLU(name="x6_relu2")(x)
    x = _conv("x6_conv_rms_bias", 8, bias=True)(x)
    x = layers.RMSNormalization(name="x6_rms2")(x)
    x = layers.ReLU(name="x6_relu3")(x)
    x = layers.GlobalAveragePooling2D(name="x6_gap")(x)
    x = layers.Dense(16, use_bias=False, name="x6_dense_unit")(x)
    x = layers.UnitNormalization(name="x6_unit")(x)
    out = layers.Dense(10, name="x6_logits")(x)
    model = keras.Model(inp, out, name="other_norms_edge")
    return model, expected_roles(model, {
        "x6_conv_rescale": INV, "x6_conv_rms": INV, "x6_conv_rms_bias": OTH,
        "x6_dense_unit": INV, "x6_logits": CLS,
    })


def conv_classifier_edge():
    """(x7) plain Sequential whose logits come from a 1x1 conv (MobileNet-v1
    style: conv_preds -> GAP -> softmax): that conv is the classifier."""
    model = keras.Sequential([
        keras.Input(IMG),
        _conv("x7_conv1", 8),
        _bn("x7_bn1"),
        layers.ReLU(name="x7_relu1"),
        _conv("x7_conv2", 16, strides=2),
        _bn("x7_bn2"),
        layers.ReLU(name="x7_relu2"),
        layers.Dropout(0.1, name="x7_drop"),
        layers.Conv2D(10, 1, use_bias=True, name="x7_conv_preds"),
        layers.GlobalAveragePooling2D(name="x7_gap"),
        layers.Activation("softmax", name="x7_softmax"),
    ], name="conv_classifier_edge")
    return model, expected_roles(model, {
        "x7_conv1": INV, "x7_conv2": INV, "x7_conv_preds": CLS,
    })


def conv_types_edge():
    """(x8) other kernel layers and normalisation axes.
    Conv2DTranspose (no bias) -> BN: linear in the kernel: invariant.
    Dense applied per position of a feature map (bias) -> BN: BN cancels the
    per-channel bias: invariant.
    conv (no bias) -> BN(axis=1, i.e. per image ROW): scaling c scales every
    statistic: invariant.
    conv (bias) -> BN(axis=1): BN reduces over batch, width and channels;
    the bias varies over channels: NOT invariant.
    Reshape to a sequence -> Conv1D (no bias) -> BN: invariant."""
    inp = keras.Input((8, 8, 3), name="x8_input")
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", use_bias=False,
                               name="x8_convT")(inp)
    x = _bn("x8_bn1")(x)
    x = layers.ReLU(name="x8_relu1")(x)
    x = layers.Dense(8, use_bias=True, name="x8_dense_pointwise")(x)
    x = _bn("x8_bn2")(x)
    x = layers.ReLU(name="x8_relu2")(x)
    x = _conv("x8_conv_rownorm", 8)(x)
    x = layers.BatchNormalization(axis=1, name="x8_bn_rows1")(x)
    x = layers.ReLU(name="x8_relu3")(x)
    x = _conv("x8_conv_rownorm_bias", 8, bias=True)(x)
    x = layers.BatchNormalization(axis=1, name="x8_bn_rows2")(x)
    x = layers.ReLU(name="x8_relu4")(x)
    x = layers.Reshape((256, 8), name="x8_to_seq")(x)
    x = layers.Conv1D(8, 3, padding="same", use_bias=False, name="x8_conv1d")(x)
    x = _bn("x8_bn3")(x)
    x = layers.ReLU(name="x8_relu5")(x)
    x = layers.GlobalAveragePooling1D(name="x8_gap")(x)
    out = layers.Dense(10, name="x8_logits")(x)
    model = keras.Model(inp, out, name="conv_types_edge")
    return model, expected_roles(model, {
        "x8_convT": INV, "x8_dense_pointwise": INV, "x8_conv_rownorm": INV,
        "x8_conv_rownorm_bias": OTH, "x8_conv1d": INV, "x8_logits": CLS,
    })


# Registry: name -> builder. The functional ones are analysed with both
# methods; the subclassed one with the sample method only.

def resizing_edge():
    """(x9) resizing between a conv WITH bias and BN (segmentation decoders).
    Bilinear Resizing averages neighbours with weights summing to 1, so
    c*z + b becomes c*resize(z) + b: BN cancels both: invariant. Resizing
    that pads to the aspect ratio fills the border with 0: like
    ZeroPadding after a bias: NOT invariant; so is a bias-free conv when the
    fill value is not 0 (a border that does not scale). A 1x1 conv classifier resized
    to the output stays the classifier."""
    inp = keras.Input(IMG, name="x9_input")
    x = _conv("x9_conv_resize", 8, bias=True)(inp)
    x = layers.Resizing(24, 20, interpolation="bilinear", name="x9_resize")(x)
    x = _bn("x9_bn1")(x)
    x = _conv("x9_conv_pad", 8, bias=True)(x)
    x = layers.Resizing(24, 32, pad_to_aspect_ratio=True, name="x9_resize_pad")(x)
    x = _bn("x9_bn2")(x)
    x = _conv("x9_conv_fill", 8)(x)  # no bias, but a border of 1 does not scale
    x = layers.Resizing(24, 40, pad_to_aspect_ratio=True, fill_value=1.0,
                        name="x9_resize_fill")(x)
    x = _bn("x9_bn3")(x)
    x = _conv("x9_logits", 5, k=1, bias=True)(x)
    out = layers.Resizing(16, 16, interpolation="bilinear", name="x9_out")(x)
    model = keras.Model(inp, out, name="resizing_edge")
    return model, expected_roles(model, {
        "x9_conv_resize": INV, "x9_conv_pad": OTH, "x9_conv_fill": OTH, "x9_logits": CLS,
    })


# tf.image.resize computes in float32 whatever its input: an invariant kernel
# moves the float64 output by float32 rounding (~1e-7), not by 1e-8.
resizing_edge.invariant_tolerance = 1e-6

CORE_CASES = {
    "a_conv_bn_relu": conv_bn_relu,
    "b_post_act_resnet": post_act_resnet,
    "c_pre_act_resnet": pre_act_resnet,
    "d_mobilenet_v2": mobilenet_v2,
    "e_efficientnet_b0": efficientnet_b0,
    "f_group_norm": group_norm,
    "g_layer_norm": layer_norm,
    "h_bias_before_bn": bias_before_bn,
    "i_relu_between": relu_between,
    "j_bn_and_elsewhere": bn_and_elsewhere,
    "k_no_norm": no_norm,
    "l_nested_functional": nested_functional,
    "l2_nested_sequential": nested_sequential,
    "m_resnet50": resnet50,
    "m2_resnet50_v2": resnet50_v2,
}
EXTRA_CASES = {
    "x1_activations_edge": activations_edge,
    "x2_separable_edge": separable_edge,
    "x3_reshape_axes_edge": reshape_axes_edge,
    "x4_frozen_bn_edge": frozen_bn_edge,
    "x5_shared_and_concat_edge": shared_and_concat_edge,
    "x6_other_norms_edge": other_norms_edge,
    "x7_conv_classifier_edge": conv_classifier_edge,
    "x8_conv_types_edge": conv_types_edge,
    "x9_resizing_edge": resizing_edge,
}
GRAPH_CASES = {**CORE_CASES, **EXTRA_CASES}
SUBCLASSED_CASES = {"n_subclassed": subclassed}
ALL_CASES = {**GRAPH_CASES, **SUBCLASSED_CASES}


# --------------------------------------------- numeric check of the zoo math
# Our own check that the hand-derived "scale_invariant" / not-invariant split
# is right: build the case in float64, set every normalisation's epsilon to
# ~0 (the invariance is exact only as eps -> 0: with Keras' default eps, a
# channel whose batch variance is below eps -- common at 1x1 spatial size
# after a ReLU6, e.g. MobileNetV2's last depthwise convs at 32x32 input -- is
# far from invariant numerically), perturb biases and norm parameters, then,
# in training mode, scale one kernel at a time and measure how much the model
# output moves. Used by the zoo's own test, not by tf_fixnorm.

NORM_TYPES = (layers.BatchNormalization, layers.LayerNormalization, layers.GroupNormalization,
              layers.RMSNormalization)


def natural_sample(model, batch=8, seed=0):
    """Random inputs in the range the model expects: keras.applications
    EfficientNet rescales 0..255 images internally, so N(0, 1) inputs would
    reach its stem as a nearly constant image."""
    x = random_sample(model, batch, seed)
    if any(isinstance(l, layers.Rescaling) for l in leaf_layers(model)):
        x = np.clip(128.0 + 48.0 * x, 0.0, 255.0)
    return x


def output_change_per_kernel(builder, scale=3.0, batch=8, seed=0):
    """Build ``builder()`` in float64 and return (expected, path -> relative
    change of the training-mode output when that kernel alone is multiplied
    by ``scale``)."""
    import tensorflow as tf

    old_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float64")
    try:
        model, expected = builder()
    finally:
        keras.config.set_dtype_policy(old_policy)
    if getattr(model, "inputs", None):
        sample = natural_sample(model, batch, seed)
    else:
        sample = np.random.default_rng(seed).standard_normal((batch,) + IMG)
    x = tf.constant(sample, dtype="float64")

    rng = np.random.default_rng(seed + 1)
    kernels = []
    for layer in leaf_layers(model):
        if isinstance(layer, layers.Dropout):
            layer.rate = 0.0
        if isinstance(layer, NORM_TYPES):
            layer.epsilon = 1e-30
        for v in layer.trainable_variables:
            short = v.path.rsplit("/", 1)[-1]
            shape = tuple(v.shape)
            if short in KERNEL_NAMES:
                kernels.append(v)
            elif short == "bias":
                v.assign(rng.normal(0.0, 0.5, shape))
            elif short == "gamma":
                v.assign(1.0 + 0.2 * rng.standard_normal(shape))
            elif short == "beta":
                v.assign(rng.normal(0.0, 0.2, shape))
            elif short == "alpha":
                v.assign(rng.uniform(0.05, 0.3, shape))

    @tf.function
    def fwd():
        return model(x, training=True)

    base = fwd().numpy()
    denom = np.linalg.norm(base) + 1e-300
    change = {}
    for v in kernels:
        w = v.numpy()
        v.assign(w * scale)
        moved = fwd().numpy()
        v.assign(w)
        change[v.path] = float(np.linalg.norm(moved - base) / denom)
    return expected, change
