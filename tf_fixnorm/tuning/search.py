"""FixNorm-tune's one-dimensional search, as pure functions (docs/method.md, "FixNorm-tune").

The search runs on a log grid: point ``k`` (an integer, 0 at the start value)
stands for ``start * ratio**k``. It maximizes a score (the oracle negates
objectives that are minimized) in two phases:

- **bracket**: from the best point so far, step outward by ``bracket`` grid
  points until a point on each side scores lower (or a range bound is hit);
- **refine**: split the gap between the best point and its nearest tried
  neighbour in two, on the side with the wider gap first (ties: the side
  whose neighbour scored higher, since the optimum leans towards it), until
  every gap is one grid step or the budget is spent.

Parallel workers: ``propose(..., n)`` hands out ``n`` distinct points at
once, treating points being evaluated ("pending") as taken. The first is what
a serial search would run next; the others continue the bracket outward past
pending points, or split gaps that pending points leave, so no worker waits
while the bracket has room.

A failed trial (score None) counts as tried and worse than anything, which is
what a diverging learning rate should do to a bracket. Ties in score go to
the point nearest the start, then the lower one, so equal inputs always give
equal outputs: the search is deterministic.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math

UP, DOWN = 1, -1


@dataclasses.dataclass(frozen=True)
class LineSearch:
    """One stage's search settings.

    Args:
      start: value of grid point 0, where the search begins.
      ratio: factor between neighbouring grid points (> 1): the finest
        resolution the search refines to.
      bracket: grid points per bracketing step (>= 1); the bracket grows by
        ``ratio**bracket`` per step.
      lower, upper: the values the search may try, inclusive; grid points
        outside are never proposed. ``lower <= start <= upper``.
      budget: most points this stage evaluates (>= 1), start included.
    """

    start: float
    ratio: float
    bracket: int
    lower: float
    upper: float
    budget: int

    def __post_init__(self):
        if not (self.start > 0 and self.lower > 0 and self.upper > 0):
            raise ValueError(f"start and bounds must be > 0, got start={self.start}, "
                             f"range=({self.lower}, {self.upper})")
        if not self.lower <= self.start <= self.upper:
            raise ValueError(f"start {self.start} is outside the range "
                             f"[{self.lower}, {self.upper}]")
        if not self.ratio > 1:
            raise ValueError(f"ratio must be > 1, got {self.ratio}")
        if not (isinstance(self.bracket, int) and self.bracket >= 1):
            raise ValueError(f"bracket must be an integer >= 1, got {self.bracket!r}")
        if not (isinstance(self.budget, int) and self.budget >= 1):
            raise ValueError(f"budget must be an integer >= 1, got {self.budget!r}")

    @property
    def lowest(self) -> int:
        """Smallest grid index inside the range."""
        return math.ceil(math.log(self.lower / self.start) / math.log(self.ratio) - 1e-9)

    @property
    def highest(self) -> int:
        """Largest grid index inside the range."""
        return math.floor(math.log(self.upper / self.start) / math.log(self.ratio) + 1e-9)

    def value(self, k: int) -> float:
        """The value grid point ``k`` stands for (to 6 significant digits, so
        that 0.8 prints as 0.8 and not 0.8000000000000003)."""
        return float(f"{self.start * self.ratio ** k:.6g}")

    def index(self, value: float) -> int:
        """The grid point nearest ``value`` (in log space)."""
        return round(math.log(value / self.start) / math.log(self.ratio))


def _rank(k, score):
    """Sort key: higher score first; failed last; then nearest the start; then lower."""
    return (score is None, -(score if score is not None else 0.0), abs(k), k)


def best(results: dict) -> int | None:
    """The best point of ``{k: score or None}``; None if nothing succeeded."""
    succeeded = [(k, s) for k, s in results.items() if s is not None]
    if not succeeded:
        return None
    return min(succeeded, key=lambda ks: _rank(*ks))[0]


def _next_point(search, results, taken, centre):
    """The most useful untaken point around ``centre``, or None.

    ``taken`` holds the tried, pending and already-chosen points.
    """
    tried_side = {d: [k for k in results if (k - centre) * d > 0] for d in (UP, DOWN)}
    taken_side = {d: [k for k in taken if (k - centre) * d > 0] for d in (UP, DOWN)}
    bound = {UP: search.highest, DOWN: search.lowest}

    # Bracket: a side with no tried point is still open; extend it past
    # whatever is already pending there. Upward first when both are open.
    extensions = []
    for d in (UP, DOWN):
        if tried_side[d] or centre == bound[d]:
            continue
        edge = max(taken_side[d], key=lambda k: abs(k - centre), default=centre)
        point = edge + d * search.bracket
        point = min(point, bound[UP]) if d == UP else max(point, bound[DOWN])
        if point not in taken and point != centre:
            extensions.append((abs(point - centre), -d, point))
    if extensions:
        return min(extensions)[2]

    # Refine: split the gap to the nearest taken point on each side.
    splits = []
    for d in (UP, DOWN):
        if not taken_side[d]:
            continue
        nearest = min(taken_side[d], key=lambda k: abs(k - centre))
        gap = abs(nearest - centre)
        if gap < 2:
            continue
        neighbour = results.get(nearest)
        lean = -(neighbour if neighbour is not None else -math.inf)
        splits.append((-gap, lean, -d, centre + d * (gap // 2)))
    if splits:
        return min(splits)[3]
    return None


def propose(search: LineSearch, results: dict, pending=(), n: int = 1) -> list[int]:
    """Up to ``n`` grid points to evaluate next, most useful first.

    Args:
      search: the stage's settings.
      results: ``{k: score}`` of finished points; ``None`` marks a failure.
      pending: points being evaluated now.
      n: how many points are wanted (one per idle worker).

    Returns:
      Distinct points, none tried or pending. Empty when the stage is
      converged or its budget is spent (pending points count against it).
    """
    results = dict(results)
    taken = set(results) | set(pending)
    room = min(n, search.budget - len(taken))
    if room <= 0:
        return []
    centre = best(results)
    chosen = []
    if centre is None and results:
        # Only failures so far (a diverging start, say): step away from them,
        # downward first, since a value that fails is usually too large.
        for point in (min(taken) - search.bracket, max(taken) + search.bracket):
            if search.lowest <= point <= search.highest and len(chosen) < room:
                chosen.append(point)
        return chosen
    if centre is None:
        centre = 0
        if 0 not in taken:
            chosen.append(0)
            taken.add(0)
    while len(chosen) < room:
        point = _next_point(search, results, taken, centre)
        if point is None:
            break
        chosen.append(point)
        taken.add(point)
    return chosen


def finished(search: LineSearch, results: dict, pending=()) -> bool:
    """True when nothing is pending and nothing more would be proposed."""
    return not pending and not propose(search, results, pending, 1)


def run_serial(search: LineSearch, objective, results=None) -> dict:
    """Run the stage to the end, one point at a time; return ``{k: score}``.

    ``objective(value)`` returns a score, or None for a failed trial.
    ``results`` seeds the stage with points already evaluated.
    """
    results = dict(results or {})
    while True:
        points = propose(search, results)
        if not points:
            return results
        results[points[0]] = objective(search.value(points[0]))
