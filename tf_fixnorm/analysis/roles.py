"""The three roles a trainable variable can have, and `Analysis`, the table of them.

- "scale_invariant": a kernel whose output reaches only normalization layers
  that cancel any positive rescaling of it (docs/method.md, "Which kernels
  are scale-invariant"). FixNorm holds these at their initial norm.
- "classifier": a logits layer's kernel, whose output reaches a logits
  output through parameter-free ops only. FixNorm holds it at norm `alpha`.
- "other": everything else (biases, normalization gamma/beta, kernels such as
  squeeze-excitation convs that no normalization protects).
"""

import dataclasses

from fixnorm_text import format_table

SCALE_INVARIANT = "scale_invariant"
CLASSIFIER = "classifier"
OTHER = "other"
ROLES = (SCALE_INVARIANT, CLASSIFIER, OTHER)


@dataclasses.dataclass(frozen=True)
class VariableRole:
    """One row of an analysis: a trainable variable and what FixNorm does with it."""

    path: str
    layer: str
    name: str
    shape: tuple
    role: str
    reason: str


class Analysis:
    """The result of `analyze`: roles by variable path, printable as a table.

    Args:
        entries: `VariableRole`s in model order.
        method: how the roles were decided ("graph", "sample", "graph+sample").
        warnings_: notes on the model (no classifier, no invariant kernel).
    """

    def __init__(self, entries, method, warnings_=()):
        self.entries = list(entries)
        self.method = method
        self.warnings = list(warnings_)

    @property
    def roles(self):
        """dict: variable path -> role."""
        return {e.path: e.role for e in self.entries}

    def paths(self, role):
        """Variable paths with the given role, in model order."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        return [e.path for e in self.entries if e.role == role]

    def counts(self):
        """dict: role -> how many variables have it."""
        return {role: len(self.paths(role)) for role in ROLES}

    def summary(self):
        """``53 scale-invariant, 1 classifier, 108 other (method: graph)``."""
        counts = self.counts()
        return (f"{counts[SCALE_INVARIANT]} scale-invariant, {counts[CLASSIFIER]} "
                f"classifier, {counts[OTHER]} other (method: {self.method})")

    def __str__(self):
        rows = [(e.layer, e.name, str(e.shape), e.role, e.reason) for e in self.entries]
        table = format_table(("layer", "variable", "shape", "role", "reason"), rows)
        return table + "\n" + self.summary()

    def __repr__(self):
        counts = ", ".join(f"{role}={n}" for role, n in self.counts().items())
        return f"<Analysis method={self.method} {counts}>"
