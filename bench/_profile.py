"""Top costs from a py-spy ``--format raw`` (folded stacks) recording of the workers."""

import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def top_costs(path: Path, *, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """The functions with the most samples, inclusive (on the stack) and self (on top).

    Frames on nearly every stack (gunicorn's loop, Django's handler) say nothing and are
    left out of the inclusive list.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_LINE.sub(")", f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        n = int(count)
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    if not total:
        return {"inclusive": [], "self": []}

    def share(counter: Counter[str], limit: float) -> list[tuple[str, float]]:
        rows = [(k, round(100 * v / total, 1)) for k, v in counter.most_common()]
        return [(k, pct) for k, pct in rows if pct <= limit][:top]

    return {"samples": [("total", float(total))], "inclusive": share(inclusive, 80.0),
            "self": share(own, 100.0)}  # fmt: skip


def print_top_costs(path: Path, *, top: int = 25) -> None:
    costs = top_costs(path, top=top)
    print(f"  {path.name}: {int(costs.get('samples', [('', 0.0)])[0][1])} samples")
    for kind in ("inclusive", "self"):
        print(f"    top {kind} (% of samples while holding the GIL):")
        for name, pct in costs[kind]:
            print(f"      {pct:5.1f}%  {name}")
