"""`analyze(model)`: the role of every trainable variable (roles in `roles.py`).

A kernel that feeds a box-regression output directly (RetinaNet's box head)
is "other", not the classifier: its norm sets the size of the predicted
offsets, which no softmax or sigmoid forgives. `classifier_outputs=` names
the logits outputs; by default every output whose name does not say box or
regression (`REGRESSION_OUTPUT`).

Two independent ways decide: the functional graph (`graph.py`, exact rules
from which statistics each normalization takes over which axes) and one
sample batch (`probe.py`, rescale a kernel and watch the outputs). Tests
check they agree. `method="auto"` reads the graph where there is one and
measures the rest (docs/method.md, "Which kernels are scale-invariant").
"""

import dataclasses
import difflib
import re
import warnings

from tf_fixnorm.analysis import graph, probe
from tf_fixnorm.analysis.roles import (CLASSIFIER, OTHER, ROLES, SCALE_INVARIANT, Analysis,
                                       VariableRole)

METHODS = ("auto", "graph", "sample")
# Output names taken for regression, not logits, when classifier_outputs is None.
REGRESSION_OUTPUT = re.compile(r"box|regress", re.IGNORECASE)


def _owned_variables(model):
    """[(variable, owning layer)] for every trainable variable of `model`."""
    owner = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for v in layer._trainable_variables:
            owner.setdefault(id(v), layer)
    pairs = [(v, owner.get(id(v), model)) for v in model.trainable_variables]
    paths = [v.path for v, _ in pairs]
    duplicates = sorted({p for p in paths if paths.count(p) > 1})
    if duplicates:
        raise ValueError(f"variable paths are not unique ({', '.join(duplicates)}): give "
                         "the layers (and nested models) distinct names")
    return pairs


def _graph_visible_layers(model):
    """Layers that appear as nodes of the functional graph, nested graphs included."""
    visible, stack = set(), [model]
    while stack:
        g = graph.graph_of(stack.pop())
        if g is None:
            continue
        for op in g._operations:
            visible.add(id(op))
            if graph.is_functional(op):
                stack.append(op)
    return visible


def _graph_roles(model, kernels, logits_outputs):
    """{id(variable): (role, reason)} for the kernels the graph can decide,
    and the logits outputs that a classifier among them feeds.

    Kernels of layers the graph does not show (inside custom layers) are
    left out, for the sample check.
    """
    walker = graph.GraphWalker(model)
    visible = _graph_visible_layers(model)
    # The walker names outputs by their layers; map those to output names.
    layer_names = [t._keras_history[0].name for t in graph.graph_of(model).outputs]
    names = probe.declared_output_names(model) or []
    renamed = dict(zip(layer_names, names)) if len(names) == len(layer_names) else {}
    decided, by_layer, covered = {}, {}, set()
    for variable, layer in kernels:
        if id(layer) not in visible:
            continue
        if not isinstance(layer, graph.KERNEL_LAYERS):
            decided[id(variable)] = (OTHER, f"{type(layer).__name__} weight, not a kernel")
            continue
        if id(layer) not in by_layer:
            outputs, cancelled_by = walker.run(layer)
            outputs = [(renamed.get(name, name), d) for name, d in outputs]
            by_layer[id(layer)] = _decide_from_outputs(outputs, cancelled_by, logits_outputs)
            covered.update(name for name, d in outputs
                           if d.kind != graph.CONST and d.direct and name in logits_outputs)
        decided[id(variable)] = by_layer[id(layer)]
    return decided, covered


def _decide_from_outputs(outputs, cancelled_by, logits_outputs):
    varying = [(name, d) for name, d in outputs if d.kind != graph.CONST]
    if not varying:
        if not cancelled_by:
            return OTHER, "does not reach any output"
        names = list(dict.fromkeys(cancelled_by))
        shown = ", ".join(f"'{n}'" for n in names[:3]) + (" ..." if len(names) > 3 else "")
        return SCALE_INVARIANT, f"scale cancelled by {shown}"
    direct = [name for name, d in varying if d.direct]
    role = CLASSIFIER if any(name in logits_outputs for name in direct) else OTHER
    if direct and role == OTHER:
        return OTHER, f"feeds output '{direct[0]}' directly, which is not a logits output"
    mixed = [d for _, d in varying if d.kind == graph.MIXED]
    if mixed:
        return role, mixed[0].reason
    return role, f"reaches output '{varying[0][0]}' without normalization"


def _logits_outputs(model, classifier_outputs):
    """The set of output names whose direct kernels are classifiers."""
    names = probe.declared_output_names(model)
    if classifier_outputs is None:
        if not names:
            return None  # subclassed: decided after a call, from the output names
        return {n for n in names if not REGRESSION_OUTPUT.search(n)}
    if isinstance(classifier_outputs, str):
        classifier_outputs = [classifier_outputs]
    chosen = set(classifier_outputs)
    if names:
        unknown = sorted(chosen - set(names))
        if unknown:
            raise ValueError(f"classifier_outputs names {unknown[0]!r}, which is not an output "
                             f"of model '{model.name}' (outputs: {', '.join(names)})")
    return chosen


def _sample_roles(model, sample, kernels, logits_outputs, covered):
    """{id(variable): (role, reason)} measured on `sample`.

    For each logits output that no graph-decided classifier feeds, the
    classifier is the kernel called last among those that move it and are
    not invariant.
    """
    measured, order, moved = probe.probe(model, sample, kernels)
    decided = {}
    for variable, _ in kernels:
        change, unused = measured[id(variable)]
        if unused:
            decided[id(variable)] = (OTHER, "does not reach the outputs")
        elif change <= probe.TOLERANCE:
            decided[id(variable)] = (SCALE_INVARIANT, f"outputs move {change:.0e} when rescaled")
        else:
            decided[id(variable)] = (OTHER, f"outputs move {change:.0e} when rescaled")
    if logits_outputs is None:  # subclassed model: names known only now
        names = {n for ids in moved.values() for n in ids}
        logits_outputs = {n for n in names if not REGRESSION_OUTPUT.search(n)}
    call_rank = {id(layer): i for i, layer in enumerate(order)}
    for output in sorted(logits_outputs - covered):
        candidates = [(call_rank.get(id(layer), -1), variable) for variable, layer in kernels
                      if output in moved[id(variable)] and decided[id(variable)][0] == OTHER]
        last = max((position for position, _ in candidates), default=None)
        for position, variable in candidates:  # every kernel of that layer (separable convs)
            if position == last:
                decided[id(variable)] = (CLASSIFIER, f"last kernel layer before output "
                                         f"'{output}'; " + decided[id(variable)][1])
    return decided


def _apply_overrides(entries, overrides, pairs):
    by_layer = {}
    for (variable, layer), entry in zip(pairs, entries):
        by_layer.setdefault(layer.name, []).append(entry.path)
    paths = {e.path for e in entries}
    changed = {}
    for key, role in overrides.items():
        if role not in ROLES:
            raise ValueError(f"override for {key!r}: role must be one of {ROLES}, got {role!r}")
        prefix = key.rstrip("/") + "/"
        under = [e.path for e in entries if e.path.startswith(prefix)]
        if key in paths:
            targets = [key]
        elif key in by_layer or under:
            targets = [p for p in by_layer.get(key, []) + under
                       if len(next(e for e in entries if e.path == p).shape) >= 2]
            if not targets:
                raise ValueError(f"override for layer {key!r}: it has no kernel to assign a role")
        else:
            close = difflib.get_close_matches(key, list(by_layer) + sorted(paths), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise ValueError(f"override names {key!r}, which is neither a layer name nor a "
                             f"variable path of this model{hint}")
        for p in targets:
            changed[p] = role
    return [dataclasses.replace(e, role=changed[e.path], reason="override")
            if e.path in changed else e for e in entries]


def analyze(model, sample=None, method="auto", overrides=None, classifier_outputs=None):
    """Decide the role of every trainable variable of `model`.

    Args:
        model: a built Keras model (Sequential, functional, nested, subclassed).
        sample: one batch of inputs (at least 2 examples). Needed for the
            sample method on subclassed models; functional models get a
            random batch shaped like their inputs when it is None.
        method: "graph" (functional graph only), "sample" (measure on one
            batch only) or "auto" (the graph where it can see, the sample for
            the rest: subclassed models and kernels inside custom layers).
        overrides: dict from layer name, variable path or path prefix
            ("classification_head/logits_layer") to role; a layer name or a
            prefix sets the role of all the kernels under it.
        classifier_outputs: names of the model outputs that carry logits
            (a name or a list). A kernel that feeds one of them with no
            normalization in between is the classifier; one that feeds only
            other outputs directly is "other". Default: every output whose
            name does not match `REGRESSION_OUTPUT` (box, regression).

    Returns:
        An `Analysis`: `.roles` maps each variable's path to its role and
        `print(analysis)` shows a table with the reason for each.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not model.built:
        raise ValueError(f"model '{model.name}' is not built: call it on a batch or give it "
                         "a keras.Input before analysing it")
    pairs = _owned_variables(model)
    kernels = [(v, layer) for v, layer in pairs if len(v.shape) >= 2]
    has_graph = graph.graph_of(model) is not None
    if method == "graph" and not has_graph:
        raise ValueError(f"model '{model.name}' has no functional graph (subclassed model): "
                         "use method='sample' or 'auto' with a sample batch")
    use_graph = method != "sample" and has_graph
    logits_outputs = _logits_outputs(model, classifier_outputs)
    decided, covered = _graph_roles(model, kernels, logits_outputs) if use_graph else ({}, set())
    undecided = [(v, layer) for v, layer in kernels if id(v) not in decided]
    measured = bool(undecided) and method != "graph"
    if measured:
        batch = sample if sample is not None else probe.default_sample(model)
        if batch is None:
            raise ValueError(
                f"analyze() needs sample= for model '{model.name}': pass one batch of its "
                "inputs (2 or more examples) so the kernels the graph cannot see can be "
                "measured")
        decided.update(_sample_roles(model, batch, undecided, logits_outputs, covered))
    used_method = "+".join(name for name, used in (("graph", use_graph), ("sample", measured))
                           if used) or method
    notes = []
    entries = []
    for v, layer in pairs:
        if id(v) in decided:
            role, reason = decided[id(v)]
        elif len(v.shape) >= 2:
            role, reason = OTHER, "inside a layer the graph cannot see; use method='auto'"
        else:
            role, reason = OTHER, "not a kernel"
        name = v.path.rsplit("/", 1)[-1]
        entries.append(VariableRole(v.path, layer.name, name, tuple(v.shape), role, reason))
    if overrides:
        entries = _apply_overrides(entries, overrides, pairs)
    has_norm = any(isinstance(layer, graph.NORMALIZATIONS)
                   for layer in model._flatten_layers(include_self=False))
    if not any(e.role == SCALE_INVARIANT for e in entries):
        notes.append(f"model '{model.name}' has no scale-invariant kernel"
                     + ("" if has_norm else " (it has no normalization layer)")
                     + ": FixNorm can only hold the classifier norm")
    if not any(e.role == CLASSIFIER for e in entries):
        notes.append(f"model '{model.name}' has no classifier kernel: alpha applies to "
                     "nothing (name one with overrides={'layer_name': 'classifier'})")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return Analysis(entries, used_method, notes)
