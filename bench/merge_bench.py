"""Benchmark for sync.merging.merge3.

Run from the repository root:  python bench/merge_bench.py [--sizes 100000,1000000]

Texts are deterministic (seeded): prose-like lines of lowercase words, and ~1% of the
characters edited per side (deleted + inserted code points), in scattered places.  Each edit
lies in the middle of its own 100-character slot, so edits of both sides are disjoint and far
from touching; the expected merge is built by applying both edit sets directly, and every run
checks that merge3 is clean and returns exactly that text.

Importable too:  from bench.merge_bench import run;  run(sizes=(100_000,)) -> list[dict].
"""

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if ROOT not in sys.path:  # run as a script: sys.path[0] is bench/, not the repo root
    sys.path.insert(0, ROOT)

from sync.merging import merge3  # noqa: E402

KB = 1_000
MB = 1_000_000
EDIT_FRACTION = 0.01
SLOT = 100  # one edit at most per slot, kept in the slot's middle 40 characters
RUNS = {100 * KB: 7, MB: 5}
TARGET_MS = {100 * KB: 40.0, MB: 1000.0}

Edit = tuple[int, int, str]


def _vocabulary(rng: random.Random, n: int = 4000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(1, 10))) for _ in range(n)]


def make_base(size: int, rng: random.Random) -> str:
    """Lowercase prose: lines of 40-90 characters, some punctuation, blank lines between
    paragraphs (so the text has repeated lines, like real documents)."""
    vocab = _vocabulary(rng)
    lines: list[str] = []
    total = 0
    while total < size:
        if rng.random() < 0.08:
            line = "\n"
        else:
            words: list[str] = []
            width = rng.randint(40, 90)
            length = 0
            while length < width:
                word = rng.choice(vocab)
                if rng.random() < 0.1:
                    word += rng.choice(",.;:!?")
                words.append(word)
                length += len(word) + 1
            line = " ".join(words) + "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)[:size]


def _replacement(rng: random.Random, tag: str) -> str:
    # Capitalised, tagged words: never present in the lowercase base, so the diff cannot
    # align them with base text (that would only be a different, equally valid alignment,
    # but it could move an edit's boundary toward its neighbours).
    length = rng.randint(1, 12)
    word = tag + "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=length))
    return word[:length]


def make_edits(size: int, rng: random.Random) -> tuple[list[Edit], list[Edit]]:
    """Two disjoint sets of edits (start, end, replacement), each editing ~1% of `size`."""
    budget = int(size * EDIT_FRACTION)
    slots = list(range(size // SLOT))
    rng.shuffle(slots)
    sides: tuple[list[Edit], list[Edit]] = ([], [])
    edited = [0, 0]
    for slot in slots:
        side = 0 if edited[0] <= edited[1] else 1
        if edited[side] >= budget:
            break
        start = slot * SLOT + 30 + rng.randint(0, 20)
        kind = rng.random()
        if kind < 0.25:  # insertion
            edit = (start, start, _replacement(rng, "HI"[side]))
        elif kind < 0.45:  # deletion
            edit = (start, start + rng.randint(1, 12), "")
        else:  # replacement
            edit = (start, start + rng.randint(1, 12), _replacement(rng, "HI"[side]))
        sides[side].append(edit)
        edited[side] += edit[1] - edit[0] + len(edit[2])
    return sorted(sides[0]), sorted(sides[1])


def apply_edits(text: str, edits: list[Edit]) -> str:
    out: list[str] = []
    pos = 0
    for start, end, replacement in sorted(edits):
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def make_case(size: int, seed: int = 0) -> tuple[str, str, str, str, int]:
    """(base, head, incoming, expected, edits per side) for a text of `size` characters."""
    rng = random.Random(f"merge-bench-{size}-{seed}")
    base = make_base(size, rng)
    head_edits, inc_edits = make_edits(size, rng)
    head = apply_edits(base, head_edits)
    incoming = apply_edits(base, inc_edits)
    expected = apply_edits(base, head_edits + inc_edits)
    return base, head, incoming, expected, (len(head_edits) + len(inc_edits)) // 2


def run(sizes=(100 * KB, MB), runs: dict[int, int] | None = None) -> list[dict]:
    """Time merge3 on each size; returns one dict per size (times in ms)."""
    runs = {**RUNS, **(runs or {})}
    rows = []
    for size in sizes:
        base, head, incoming, expected, n_edits = make_case(size)
        n = runs.get(size, 5)
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            result = merge3(base, head, incoming)
            times.append((time.perf_counter() - t0) * 1000)
            if result.text != expected:
                raise AssertionError(f"{size}: merge3 is not clean / not the expected text")
        times.sort()
        target = TARGET_MS.get(size)
        median = statistics.median(times)
        rows.append(
            {
                "size": size,
                "edits_per_side": n_edits,
                "runs": n,
                "median_ms": round(median, 2),
                "p90_ms": round(times[min(n - 1, int(0.9 * n))], 2),
                "max_ms": round(times[-1], 2),
                "target_ms": target,
                "met": None if target is None else median <= target,
            }
        )
    return rows


def _label(size: int) -> str:
    if size % MB == 0:
        return f"{size // MB} MB"
    if size % KB == 0:
        return f"{size // KB} KB"
    return f"{size} chars"


def table(rows: list[dict]) -> str:
    lines = [
        "| size | runs | median ms | p90/max ms | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        target = "-" if r["target_ms"] is None else f"<= {r['target_ms']:g} ms"
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(
            f"| {_label(r['size'])} | {r['runs']} | {r['median_ms']:.1f} | "
            f"{r['p90_ms']:.1f} / {r['max_ms']:.1f} | {target} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=f"{100 * KB},{MB}", help="comma-separated text sizes in characters"
    )
    args = parser.parse_args(argv)
    rows = run(sizes=[int(s) for s in args.sizes.split(",")])
    print(table(rows))
    return 0 if all(r["met"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
