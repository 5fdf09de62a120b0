"""What a GPU run of each ImageNet recipe would need: memory and time, estimated.

    python benchmarks/recipe_cost.py [--recipes=a,b] [--gpus=8] [--measure_cpu=false]

No GPU was available to this project, so nothing here is a GPU measurement.
For each ImageNet recipe (``fixnorm_experiments.recipes``), the model is built once per
distinct (model, norm, image size) and the script prints, per recipe:

1. trainable parameters, counted from the model;
2. forward multiply-adds (MACs) per image, counted by walking the model's
   layers: a convolution costs (output elements) x (kernel elements per
   output: kh * kw * in_channels / groups), a depthwise convolution (output
   elements) x kh * kw, a Dense layer (output elements) x (input width).
   Elementwise work (norms, activations, pooling, adds, the SE multiply,
   biases) is not counted. Printed next to Table 2's FLOPs column (which is
   multiply-adds, as usual) with the ratio; rows more than 5% off say so;
3. activation memory per image for training: the sum of the output sizes of
   every layer of the functional graph (input included), at 4 bytes (fp32)
   and 2 bytes (mixed precision); a rough stand-in for the tensors kept for
   the backward pass (frameworks keep some layers' inputs instead, fuse or
   recompute others);
4. model state: trainable params x 3 (weights, gradients, SGD momentum) x 4
   bytes, + non-trainable (BN moving statistics) x 4 bytes; under mixed
   precision also a 2-byte fp16 copy of each trainable weight;
5. per-GPU memory at the recipe's global batch split over ``--gpus`` GPUs,
   = headroom x (state + per-GPU batch x activations/image), and the largest
   per-GPU batch that fits ``--gpu_memory_gib`` under that rule;
6. time per epoch: 3 x forward MACs x 2 FLOPs x 1,281,167 images / (gpus x
   ``--peak_tflops`` x utilization), utilization per family (models with
   depthwise convolutions or not), defaults calibrated on NVIDIA's published
   A100 training throughputs (see CALIBRATION); and GPU-hours for all epochs;
7. with ``--measure_cpu`` (default on), a few real SGD-momentum training
   steps per distinct model on this machine's CPU (random data, after
   warm-up): measured images/s and the training FLOP/s it implies, so the
   relative costs of the models are measured, not only estimated.

With ``--crosscheck`` (default on), the MAC counter is also run on
keras.applications models whose MACs are published (MobileNetV2,
EfficientNetB0, ResNet50) and on MobileNetV2 at widths 1.12 and 1.54, whose
channel rounding differs from this project's builder.

Then the assumptions, one a line, the machine and the command; ``--json``
writes the rows. Bad flag values give one ``error:`` line and exit status 2.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

# Run from a checkout without installing: put the repository root on the path.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shlex  # noqa: E402
import time  # noqa: E402

from benchmarks.machine_info import machine  # noqa: E402

GIB = 2 ** 30
MIB = 2 ** 20
FLOPS_PER_MAC = 2
# Training = forward + backward; the backward pass costs about twice the
# forward (gradients w.r.t. activations and w.r.t. weights), hence 3x.
TRAIN_PASSES = 3
FP32_BYTES = 4
FP16_BYTES = 2
# Bytes per trainable parameter: fp32 weights + gradients + SGD momentum.
STATE_BYTES_FP32 = 3 * FP32_BYTES
# Mixed precision adds an fp16 copy of each weight (the variables stay fp32).
STATE_BYTES_MIXED = STATE_BYTES_FP32 + FP16_BYTES
# |counted / Table 2 - 1| above this is reported as a disagreement.
TABLE2_TOLERANCE = 0.05

# Table 2's FLOPs column (docs/method.md), multiply-adds per image at the recipe's size.
TABLE2_MACS = {
    "mobilenet_v2": (300e6, "300M"),
    "efficientnet_b0": (384e6, "384M"),
    "efficientnet_b1": (685e6, "685M"),
    "mobilenet_v2_x1.12_tricks": (386e6, "386M"),
    "mobilenet_v2_x1.54_tricks": (682e6, "682M"),
    "resnet50_d": (4.3e9, "4.3G"),
    "resnet50_d_se": (4.3e9, "4.3G"),
}

# Published A100 training throughputs the default utilizations are calibrated
# on: NVIDIA DeepLearningExamples, PyTorch/Classification/ConvNets READMEs
# (resnet50v1.5 and efficientnet), "Training performance: NVIDIA DGX A100
# (8x A100 80GB)", mixed precision, pytorch-21.03 NGC container, 8 GPUs.
# MACs/image: torchvision's 4.1G for ResNet-50 (v1.5 layout) and Tan & Le's
# 0.39G for EfficientNet-B0.
CALIBRATION = (
    {"family": "dense", "model": "ResNet-50 v1.5", "macs": 4.1e9, "gpus": 8,
     "images_per_s": 16621},
    {"family": "depthwise", "model": "EfficientNet-B0", "macs": 0.39e9, "gpus": 8,
     "images_per_s": 16652},
)
CALIBRATION_PEAK_TFLOPS = 312.0
CALIBRATION_SOURCE = ("NVIDIA DeepLearningExamples PyTorch ConvNets READMEs, DGX A100 "
                      "(8x A100 80GB), mixed precision, 8 GPUs")
DEFAULT_UTILIZATION = {"dense": 0.16, "depthwise": 0.016}

# Cross-check of the MAC counter on independent implementations
# (keras.applications, weights=None, 224x224, 1000 classes): (builder, kwargs,
# published MACs or None, where the published figure comes from).
CROSSCHECK = (
    ("MobileNetV2", {"alpha": 1.0}, 300e6, "Sandler et al. 2018: 300M"),
    ("EfficientNetB0", {}, 390e6, "Tan & Le 2019: 0.39B"),
    ("ResNet50", {}, 3.8e9, "He et al. 2016: 3.8G"),
    ("MobileNetV2", {"alpha": 1.12}, None, "none (rounding check)"),
    ("MobileNetV2", {"alpha": 1.54}, None, "none (rounding check)"),
)


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything the estimate depends on (the flags, as plain values)."""

    gpus: int = 8
    gpu_memory_gib: float = 80.0
    memory_headroom: float = 1.5
    peak_tflops: float = 312.0
    utilization: float = DEFAULT_UTILIZATION["dense"]
    utilization_depthwise: float = DEFAULT_UTILIZATION["depthwise"]
    image_size: int | None = None
    measure_cpu: bool = False
    crosscheck: bool = False
    cpu_batch_size: int = 8
    cpu_steps: int = 3
    cpu_warmup_steps: int = 2
    seed: int = 0


def validate(options):
    """The first problem with ``options`` as a message, or None."""
    checks = (
        (options.gpus >= 1, f"--gpus must be >= 1, got {options.gpus}"),
        (options.gpu_memory_gib > 0, f"--gpu_memory_gib must be > 0, got {options.gpu_memory_gib}"),
        (options.memory_headroom >= 1,
         f"--memory_headroom must be >= 1, got {options.memory_headroom}"),
        (options.peak_tflops > 0, f"--peak_tflops must be > 0, got {options.peak_tflops}"),
        (0 < options.utilization <= 1,
         f"--utilization must be in (0, 1], got {options.utilization}"),
        (0 < options.utilization_depthwise <= 1,
         f"--utilization_depthwise must be in (0, 1], got {options.utilization_depthwise}"),
        (options.image_size is None or options.image_size >= 32,
         f"--image_size must be >= 32, got {options.image_size}"),
        (options.cpu_batch_size >= 1, f"--cpu_batch_size must be >= 1, got {options.cpu_batch_size}"),
        (options.cpu_steps >= 1, f"--cpu_steps must be >= 1, got {options.cpu_steps}"),
        (options.cpu_warmup_steps >= 1,
         f"--cpu_warmup_steps must be >= 1, got {options.cpu_warmup_steps}"),
    )
    for ok, message in checks:
        if not ok:
            return message
    return None


# ---------------------------------------------------------------------------
# Counting from the model.

def _operations(model):
    """The model's layers, nested models flattened (their own outputs skipped)."""
    import keras

    for op in model.operations if hasattr(model, "operations") else model.layers:
        if isinstance(op, keras.Model):
            yield from _operations(op)
        else:
            yield op


def _output_shapes(layer):
    """Shapes of every output of every call of ``layer`` in its graph."""
    return [tuple(t.shape) for node in layer._inbound_nodes for t in node.output_tensors]


def _elements_per_example(shape):
    """Elements of one example of a tensor of ``shape`` (batch dimension first)."""
    if any(d is None for d in shape[1:]):
        raise ValueError(f"cannot count a tensor of unknown shape {shape}; build the model "
                         "with a fixed input_shape")
    return math.prod(shape[1:])


def count_macs(model):
    """Forward multiply-adds per example: (total, {kind: MACs}, [uncounted layer names]).

    Conv1D/2D/3D: output elements x prod(kernel.shape[:-1]) (= kh*kw*cin/groups);
    DepthwiseConv: output elements x prod(kernel_size); SeparableConv: its
    depthwise part + its pointwise part; Dense: output elements x input width.
    Elementwise layers count 0. Any other layer holding a "kernel" is listed as
    uncounted (so a new layer type cannot silently count 0).
    """
    from keras import layers

    by_kind = {"conv": 0, "depthwise": 0, "dense": 0}
    uncounted = []
    for layer in _operations(model):
        shapes = _output_shapes(layer)
        outputs = sum(_elements_per_example(s) for s in shapes)
        if isinstance(layer, layers.SeparableConv2D) or isinstance(layer, layers.SeparableConv1D):
            depthwise_per_output = math.prod(layer.kernel_size)
            # Depthwise stage: in_channels * multiplier maps at the output resolution.
            spatial = sum(_elements_per_example(s) // s[-1] for s in shapes)
            mid_channels = layer.depthwise_kernel.shape[-2] * layer.depthwise_kernel.shape[-1]
            by_kind["depthwise"] += spatial * mid_channels * depthwise_per_output
            by_kind["conv"] += outputs * mid_channels
        elif isinstance(layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
            by_kind["depthwise"] += outputs * math.prod(layer.kernel_size)
        elif isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
            by_kind["conv"] += outputs * math.prod(layer.kernel.shape[:-1])
        elif isinstance(layer, layers.Dense):
            by_kind["dense"] += outputs * layer.kernel.shape[0]
        elif any(w.path.endswith("kernel") for w in layer.weights):
            uncounted.append(layer.name)
    return sum(by_kind.values()), by_kind, uncounted


def activation_elements(model):
    """Sum over every layer of the graph (input included) of its output elements per example."""
    return sum(_elements_per_example(s) for layer in _operations(model)
               for s in _output_shapes(layer))


def param_counts(model):
    """(trainable, non-trainable) parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    frozen = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return int(trainable), int(frozen)


# ---------------------------------------------------------------------------
# Memory and time arithmetic (plain numbers, tested on known values).

def state_bytes(trainable, non_trainable, mixed):
    """Model state bytes: weights, gradients, momentum (+ fp16 weight copies if mixed)."""
    per_param = STATE_BYTES_MIXED if mixed else STATE_BYTES_FP32
    return trainable * per_param + non_trainable * FP32_BYTES


def per_gpu_batch(global_batch, gpus):
    """Examples per GPU: the global batch split evenly, rounded up."""
    return -(-global_batch // gpus)


def per_gpu_bytes(state, activation_bytes_per_example, batch, headroom):
    """Headroom x (model state + batch x activations)."""
    return headroom * (state + batch * activation_bytes_per_example)


def max_batch(state, activation_bytes_per_example, memory_bytes, headroom):
    """Largest per-GPU batch with headroom x (state + batch x activations) <= memory; 0 if none."""
    room = memory_bytes / headroom - state
    if room <= 0:
        return 0
    return int(room // activation_bytes_per_example)


def train_flops_per_example(macs):
    """Training FLOPs per example: 3 passes (forward + 2x backward) x 2 FLOPs per MAC."""
    return TRAIN_PASSES * FLOPS_PER_MAC * macs


def epoch_seconds(macs, examples, gpus, peak_tflops, utilization):
    """Seconds per epoch at ``utilization`` of ``gpus`` x ``peak_tflops``."""
    return train_flops_per_example(macs) * examples / (gpus * peak_tflops * 1e12 * utilization)


def gpu_hours(seconds_per_epoch, epochs, gpus):
    """GPU-hours of ``epochs`` epochs on ``gpus`` GPUs."""
    return seconds_per_epoch * epochs * gpus / 3600.0


def implied_utilization(macs, images_per_s, gpus, peak_tflops):
    """Fraction of peak that ``images_per_s`` training throughput on ``gpus`` GPUs means."""
    return train_flops_per_example(macs) * images_per_s / (gpus * peak_tflops * 1e12)


# ---------------------------------------------------------------------------
# CPU measurement.

def measure_cpu(model, image_size, batch_size, steps, warmup_steps, seed):
    """Median seconds per SGD-momentum training step on random data, after warm-up."""
    import keras
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch_size, image_size, image_size, 3)).astype("float32")
    y = rng.integers(0, model.output_shape[-1], size=batch_size)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    for _ in range(warmup_steps):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)  # returns numpy values: includes the sync
        times.append(time.perf_counter() - start)
    return float(np.median(times)), times


# ---------------------------------------------------------------------------
# The estimate.

def imagenet_recipes(names=None):
    """The recipes to estimate: all ImageNet ones, or ``names`` (ValueError otherwise)."""
    from fixnorm_experiments import recipes

    if not names:
        return [r for r in recipes.RECIPES.values() if r.dataset == "imagenet"]
    chosen = []
    for name in names:
        if name not in recipes.RECIPES:
            known = ", ".join(r.name for r in recipes.RECIPES.values() if r.dataset == "imagenet")
            raise ValueError(f"unknown recipe {name!r}; ImageNet recipes: {known}")
        recipe = recipes.RECIPES[name]
        if recipe.dataset != "imagenet":
            raise ValueError(f"recipe {name!r} trains on {recipe.dataset!r}, not ImageNet")
        chosen.append(recipe)
    return chosen


def analyse_model(model):
    """Counts of one built model."""
    macs, by_kind, uncounted = count_macs(model)
    trainable, frozen = param_counts(model)
    return {"macs": macs, "macs_by_kind": by_kind, "uncounted_layers": uncounted,
            "trainable_params": trainable, "non_trainable_params": frozen,
            "activation_elements": activation_elements(model),
            "family": "depthwise" if by_kind["depthwise"] > 0 else "dense"}


def crosscheck(log=None):
    """MACs counted on keras.applications models, next to their published figures."""
    import keras

    out = []
    for builder, kwargs, published, source in CROSSCHECK:
        label = builder + "".join(f"({k}={v:g})" for k, v in kwargs.items())
        if log:
            log(f"cross-check: counting keras.applications.{label}")
        model = getattr(keras.applications, builder)(input_shape=(224, 224, 3),
                                                     weights=None, **kwargs)
        macs = count_macs(model)[0]
        out.append({"model": f"keras.applications.{label}", "macs": macs,
                    "trainable_params": param_counts(model)[0], "published_macs": published,
                    "source": source,
                    "ratio": macs / published if published else None})
        del model
        keras.backend.clear_session()
    return out


def format_crosscheck(checks):
    lines = []
    for c in checks:
        ratio = f", ratio {c['ratio']:.3f}" if c["ratio"] is not None else ""
        lines.append(f"{c['model']}: counted {_fmt_macs(c['macs'])} MACs/img, "
                     f"{c['trainable_params'] / 1e6:.2f}M params; published {c['source']}"
                     f"{ratio}")
    return lines


def estimate(recipe_list, options, log=None):
    """One dict per recipe with every number the table prints."""
    import keras

    from fixnorm_experiments.models import registry
    from fixnorm_experiments.recipes import TRAIN_EXAMPLES

    models = {}
    rows = []
    for recipe in recipe_list:
        size = options.image_size or recipe.image_size
        key = (recipe.model, recipe.norm, size, recipe.num_classes)
        if key not in models:
            if log:
                log(f"building {recipe.model} (norm={recipe.norm}, {size}x{size})")
            keras.utils.set_random_seed(options.seed)
            model = registry.build(recipe.model, num_classes=recipe.num_classes,
                                   input_shape=(size, size, 3), norm=recipe.norm)
            info = analyse_model(model)
            if options.measure_cpu:
                if log:
                    log(f"  timing {options.cpu_steps} CPU training steps at batch "
                        f"{options.cpu_batch_size} (after {options.cpu_warmup_steps} warm-up)")
                step_s, step_times = measure_cpu(model, size, options.cpu_batch_size,
                                                 options.cpu_steps, options.cpu_warmup_steps,
                                                 options.seed)
                info["cpu_step_s"] = step_s
                info["cpu_step_times_s"] = step_times
                info["cpu_images_per_s"] = options.cpu_batch_size / step_s
                info["cpu_train_gflops_per_s"] = (info["cpu_images_per_s"]
                                                  * train_flops_per_example(info["macs"]) / 1e9)
            models[key] = info
            del model
            keras.backend.clear_session()
        info = models[key]

        examples = TRAIN_EXAMPLES[recipe.dataset]
        batch = per_gpu_batch(recipe.global_batch_size, options.gpus)
        memory = options.gpu_memory_gib * GIB
        utilization = (options.utilization_depthwise if info["family"] == "depthwise"
                       else options.utilization)
        act = info["activation_elements"]
        row = {
            "recipe": recipe.name, "model": recipe.model, "norm": recipe.norm,
            "image_size": size, "epochs": recipe.epochs,
            "global_batch": recipe.global_batch_size, "per_gpu_batch": batch,
            **{k: v for k, v in info.items()},
            "activation_mib_fp32": act * FP32_BYTES / MIB,
            "activation_mib_fp16": act * FP16_BYTES / MIB,
            "state_mib_fp32": state_bytes(info["trainable_params"],
                                          info["non_trainable_params"], False) / MIB,
            "state_mib_mixed": state_bytes(info["trainable_params"],
                                           info["non_trainable_params"], True) / MIB,
            "utilization": utilization,
        }
        table2 = TABLE2_MACS.get(recipe.model)
        if table2 is not None and size == recipe.image_size:
            row["table2_macs"], row["table2_label"] = table2
            row["macs_ratio"] = info["macs"] / table2[0]
            row["table2_agrees"] = abs(row["macs_ratio"] - 1) <= TABLE2_TOLERANCE
        for precision, mixed, nbytes in (("fp32", False, FP32_BYTES),
                                         ("mixed", True, FP16_BYTES)):
            state = state_bytes(info["trainable_params"], info["non_trainable_params"], mixed)
            row[f"per_gpu_gib_{precision}"] = per_gpu_bytes(
                state, act * nbytes, batch, options.memory_headroom) / GIB
            row[f"max_per_gpu_batch_{precision}"] = max_batch(
                state, act * nbytes, memory, options.memory_headroom)
        seconds = epoch_seconds(info["macs"], examples, options.gpus, options.peak_tflops,
                                utilization)
        row["train_tflop_per_epoch"] = train_flops_per_example(info["macs"]) * examples / 1e12
        row["est_images_per_s_per_gpu"] = (options.peak_tflops * 1e12 * utilization
                                           / train_flops_per_example(info["macs"]))
        row["est_minutes_per_epoch"] = seconds / 60.0
        row["est_gpu_hours_total"] = gpu_hours(seconds, recipe.epochs, options.gpus)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Printing.

def _fmt_macs(macs):
    return f"{macs / 1e9:.2f}G" if macs >= 1e9 else f"{macs / 1e6:.0f}M"


def format_table(rows, options):
    """The table, one line per recipe, as printed."""
    gpus = options.gpus
    header = ("recipe", "model", "norm", "size", "ep", "params", "MACs/img", "Table2",
              "ratio", "act MiB/img", f"GiB/GPU @{rows[0]['per_gpu_batch'] if rows else '-'}",
              "max b/GPU", "util", f"min/ep {gpus}GPU", "GPU-h", "est img/s/GPU",
              "CPU img/s", "CPU GFLOP/s")
    sub = ("", "", "", "", "", "", "(counted)", "", "", "fp32/fp16", "fp32/mixed",
           "fp32/mixed", "(assumed)", "(est.)", "(est.)", "(est.)", "(measured)", "(measured)")
    lines = [header, sub]
    for r in rows:
        cpu = "cpu_images_per_s" in r
        lines.append((
            r["recipe"], r["model"], r["norm"], str(r["image_size"]), str(r["epochs"]),
            f"{r['trainable_params'] / 1e6:.2f}M", _fmt_macs(r["macs"]),
            r.get("table2_label", "-"),
            f"{r['macs_ratio']:.3f}" if "macs_ratio" in r else "-",
            f"{r['activation_mib_fp32']:.1f}/{r['activation_mib_fp16']:.1f}",
            f"{r['per_gpu_gib_fp32']:.1f}/{r['per_gpu_gib_mixed']:.1f}",
            f"{r['max_per_gpu_batch_fp32']}/{r['max_per_gpu_batch_mixed']}",
            f"{r['utilization']:g}",
            f"{r['est_minutes_per_epoch']:.1f}",
            f"{r['est_gpu_hours_total']:.0f}",
            f"{r['est_images_per_s_per_gpu']:.0f}",
            f"{r['cpu_images_per_s']:.2f}" if cpu else "-",
            f"{r['cpu_train_gflops_per_s']:.1f}" if cpu else "-",
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def table2_remarks(rows):
    """One line per model whose MAC count is more than 5% off Table 2, or one line saying none is."""
    seen, out = set(), []
    for r in rows:
        if "macs_ratio" not in r or r["model"] in seen:
            continue
        seen.add(r["model"])
        if not r["table2_agrees"]:
            out.append(f"DISAGREES with Table 2: {r['model']} counted {_fmt_macs(r['macs'])} "
                       f"MACs/img vs Table 2's {r['table2_label']} (ratio {r['macs_ratio']:.3f}, "
                       f"beyond +-{TABLE2_TOLERANCE:.0%}); the estimates use the counted "
                       "value, the model as this project builds it")
    checked = sorted(seen)
    if checked and not out:
        out.append(f"every counted MACs/img is within +-{TABLE2_TOLERANCE:.0%} of Table 2 "
                   f"({len(checked)} models)")
    if any("table2_label" not in r for r in rows):
        out.append("rows with Table2 '-': image size overridden, no Table 2 comparison")
    for r in rows:
        if r["uncounted_layers"]:
            out.append(f"WARNING {r['model']}: layers with kernels not counted: "
                       f"{', '.join(r['uncounted_layers'])}")
    return out


def assumption_lines(options, rows):
    """The method and assumptions, one a line, as printed."""
    from fixnorm_experiments.recipes import TRAIN_EXAMPLES

    lines = [
        "MACs/img: counted from the Keras layers (Conv: output elements x kh*kw*cin/groups; "
        "DepthwiseConv: output elements x kh*kw; Dense: outputs x inputs); elementwise ops "
        "(norms, activations, pooling, adds, SE multiply, biases) not counted; Table 2 "
        "'FLOPs' read as multiply-adds.",
        f"training compute = {TRAIN_PASSES} x forward (backward ~ 2x forward) x "
        f"{FLOPS_PER_MAC} FLOPs/MAC x {TRAIN_EXAMPLES['imagenet']:,} images per epoch.",
        "activations/img: sum of the output sizes of every layer of the functional graph "
        "(input included) at 4 bytes (fp32) or 2 bytes (mixed precision, all activations "
        "fp16); an approximation of what the backward pass keeps (no fusion, no "
        "recomputation, no cuDNN/XLA buffers).",
        f"model state: trainable x {STATE_BYTES_FP32} bytes (fp32 weights, gradients, SGD "
        f"momentum) + non-trainable x {FP32_BYTES}; mixed precision adds {FP16_BYTES} "
        "bytes/trainable param (fp16 weight copies). Data pipeline and eval not counted.",
        f"per-GPU memory = headroom {options.memory_headroom:g} x (state + per-GPU batch x "
        f"activations/img); per-GPU batch = global batch / {options.gpus} GPUs (rounded up); "
        f"max b/GPU: largest batch with that <= {options.gpu_memory_gib:g} GiB. The headroom "
        "stands for cuDNN workspace, allocator fragmentation and framework overhead "
        "(an assumption, not measured).",
        f"time: peak {options.peak_tflops:g} TFLOP/s per GPU (A100 dense fp16/bf16 tensor "
        "cores at the default), mixed precision assumed for the time columns; utilization "
        f"(ASSUMED): {options.utilization:g} for models without depthwise convolutions "
        f"(ResNet50-D/D*), {options.utilization_depthwise:g} for models with them "
        "(MobileNetV2, EfficientNet).",
    ]
    for c in CALIBRATION:
        u = implied_utilization(c["macs"], c["images_per_s"], c["gpus"], CALIBRATION_PEAK_TFLOPS)
        lines.append(
            f"calibration ({c['family']}): {c['model']}, {_fmt_macs(c['macs'])} MACs/img, "
            f"{c['images_per_s']:,} img/s on {c['gpus']} A100-80GB -> {u:.4f} of "
            f"{CALIBRATION_PEAK_TFLOPS:g} TFLOP/s; default utilization "
            f"{DEFAULT_UTILIZATION[c['family']]:g} ({CALIBRATION_SOURCE}; PyTorch with DALI, "
            "not this Keras/TF code, which may be slower).")
    lines += [
        "caveat: MobileNetV2 (ReLU6, no SE) is given EfficientNet-B0's utilization; its "
        "true GPU utilization is not measured here (the CPU column shows how the models "
        "compare on one machine).",
        "caveat: the GroupNorm row has the BatchNorm row's FLOPs, but GroupNorm has no "
        "fused kernel and is usually slower on GPUs than the FLOP estimate says.",
        "caveat: the max per-GPU batch is memory only; the recipes' lr values are for global "
        "batch 1024.",
    ]
    if options.measure_cpu:
        lines.append(
            f"CPU: median of {options.cpu_steps} timed train_on_batch steps (after "
            f"{options.cpu_warmup_steps} warm-up), batch {options.cpu_batch_size}, fp32, SGD "
            "momentum 0.9, random data, no XLA, at the recipe's image size; CPU GFLOP/s = "
            "img/s x training FLOPs/img (measured speed, FLOPs as above).")
    return lines


def report(rows, options, command, checks=None):
    """Everything printed after the progress lines."""
    total = sum(r["est_gpu_hours_total"] for r in rows)
    text = [format_table(rows, options),
            f"total of the {len(rows)} recipes above, one run (one flavour) each: {total:.0f} "
            f"GPU-hours (est.), {total / options.gpus:.1f} h wall-clock on {options.gpus} GPUs",
            "", "Table 2 check:"]
    text += [f"  {line}" for line in table2_remarks(rows)]
    if checks:
        text += ["", "MAC counter cross-check on keras.applications (224x224, weights=None):"]
        text += [f"  {line}" for line in format_crosscheck(checks)]
    text += ["", "assumptions and method:"]
    text += [f"  - {line}" for line in assumption_lines(options, rows)]
    text += ["", "machine: " + ", ".join(f"{k}={v}" for k, v in machine().items()),
             f"command: {command}"]
    return "\n".join(text)


# ---------------------------------------------------------------------------
# Command line.

def define_flags():
    from absl import flags

    flags.DEFINE_list("recipes", [], "Recipes to estimate (default: every ImageNet recipe).")
    flags.DEFINE_integer("gpus", 8, "GPUs the global batch is split over.")
    flags.DEFINE_float("gpu_memory_gib", 80.0, "Memory per GPU (GiB; 80 = A100/H100 80GB).")
    flags.DEFINE_float("memory_headroom", 1.5,
                       "Factor on state + activations for workspace and fragmentation.")
    flags.DEFINE_float("peak_tflops", 312.0,
                       "Peak TFLOP/s per GPU (312: A100 dense fp16/bf16 tensor cores).")
    flags.DEFINE_float("utilization", DEFAULT_UTILIZATION["dense"],
                       "Assumed fraction of peak for models without depthwise convolutions.")
    flags.DEFINE_float("utilization_depthwise", DEFAULT_UTILIZATION["depthwise"],
                       "Assumed fraction of peak for models with depthwise convolutions.")
    flags.DEFINE_integer("image_size", None, "Override every recipe's image size (tests).")
    flags.DEFINE_bool("measure_cpu", True, "Time a few real training steps per model on the CPU.")
    flags.DEFINE_bool("crosscheck", True,
                      "Also count MACs of keras.applications models with published figures.")
    flags.DEFINE_integer("cpu_batch_size", 8, "Batch of the CPU training steps.")
    flags.DEFINE_integer("cpu_steps", 3, "Timed CPU training steps per model.")
    flags.DEFINE_integer("cpu_warmup_steps", 2, "Untimed CPU steps per model first.")
    flags.DEFINE_integer("seed", 0, "Seed of weights and random data.")
    flags.DEFINE_string("json", None, "Write the rows, assumptions and machine as JSON here.")


def parse_flags(argv):
    """absl parsing, but a bad flag gives one ``error:`` line and exit status 2."""
    from absl import flags

    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


def main(argv):
    from absl import flags

    FLAGS = flags.FLAGS
    if len(argv) > 1:
        print(f"error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
        sys.exit(2)
    options = Options(
        gpus=FLAGS.gpus, gpu_memory_gib=FLAGS.gpu_memory_gib,
        memory_headroom=FLAGS.memory_headroom, peak_tflops=FLAGS.peak_tflops,
        utilization=FLAGS.utilization, utilization_depthwise=FLAGS.utilization_depthwise,
        image_size=FLAGS.image_size, measure_cpu=FLAGS.measure_cpu,
        crosscheck=FLAGS.crosscheck,
        cpu_batch_size=FLAGS.cpu_batch_size, cpu_steps=FLAGS.cpu_steps,
        cpu_warmup_steps=FLAGS.cpu_warmup_steps, seed=FLAGS.seed)
    problem = validate(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        recipe_list = imagenet_recipes(FLAGS.recipes)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)

    command = " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)
    start = time.perf_counter()
    log = lambda m: print(m, flush=True)  # noqa: E731
    rows = estimate(recipe_list, options, log=log)
    checks = crosscheck(log=log) if options.crosscheck else None
    elapsed = time.perf_counter() - start
    print()
    print(report(rows, options, command, checks))
    print(f"date: {datetime.date.today().isoformat()}; estimate took {elapsed:.0f} s")
    if FLAGS.json:
        directory = os.path.dirname(FLAGS.json)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(FLAGS.json, "w", encoding="utf-8") as handle:
            json.dump({"command": command, "machine": machine(),
                       "options": dataclasses.asdict(options),
                       "assumptions": assumption_lines(options, rows),
                       "table2_check": table2_remarks(rows), "crosscheck": checks,
                       "rows": rows}, handle, indent=2)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    from absl import app

    define_flags()
    app.run(main, flags_parser=parse_flags)
