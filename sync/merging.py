"""Three-way text merge for the sync server.

``merge3(base, head, incoming)`` merges two descendants of ``base``:

* ``head`` is what the server currently holds, ``incoming`` is what a device uploads;
* each side is diffed against ``base`` (anchored on unique lines / clauses / words, refined
  char-by-char with diff-match-patch's ``diff_main``) and the edit script is turned into a
  list of edits positioned in ``base``: ``(start, end, replacement)`` in code-point offsets,
  half-open, an insertion having ``start == end``;
* both edit lists are walked in base order.  Edits that overlap or *touch* (no unchanged base
  character between them, so two insertions at the same point touch, and an insertion at ``p``
  touches a replacement ending or starting at ``p``) are grouped transitively into regions.
  A region only one side edited is applied; a region both sides edited is applied once when
  both sides produce the same text for it, and is a conflict otherwise.

A conflict is never guessed at: if any region conflicts, the result carries no text, only the
list of every conflicting region.  diff-match-patch's ``patch_make``/``patch_apply`` are
deliberately not used: they locate hunks by fuzzy matching, which misplaces or drops hunks.

This module is pure Python (standard library + ``diff_match_patch``); nothing from Django.
"""

import re
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import add, eq, ge, lt, ne

from diff_match_patch import diff_match_patch

__all__ = ["Hunk", "MergeResult", "merge3"]


@dataclass(frozen=True)
class Hunk:
    """A conflicting region.

    ``base_start``/``base_end`` are code-point offsets into base (half-open); ``base`` is
    ``base[base_start:base_end]``; ``head`` and ``incoming`` are the full text each side has in
    place of that range.
    """

    base_start: int
    base_end: int
    base: str
    head: str
    incoming: str

    def as_dict(self) -> dict:
        return {
            "base_start": self.base_start,
            "base_end": self.base_end,
            "base": self.base,
            "head": self.head,
            "incoming": self.incoming,
        }


@dataclass(frozen=True)
class MergeResult:
    """``text`` is the merged text when clean, else ``None`` and ``hunks`` lists conflicts."""

    text: str | None
    hunks: tuple[Hunk, ...] = ()

    @property
    def clean(self) -> bool:
        return self.text is not None


# --------------------------------------------------------------------------------------------
# Diff configuration (all measured on the 2-core dev box, texts from bench/merge_bench.py).
#
# DIFF_TIMEOUT (dmp's Diff_Timeout, seconds): the budget for computing ONE side's diff.  One
# deadline is shared by every sub-diff of that side (dmp's own per-call Diff_Timeout would
# restart for each of the ~1,000 sub-diffs), and the anchoring stage checks it too.  Past the
# deadline, dmp's bisection stops refining and we stop anchoring: what is left becomes
# "delete this block, insert that one".  That is still an exact edit script (base + script ==
# side), only coarser, so correctness holds; coarser edits can only add conflicts, never
# produce a wrong merge.  Ordinary inputs never get near it (1 MB with 1% edits per side:
# ~30 ms per side), so it only bounds pathological inputs, e.g. two unrelated 1 MB texts:
# 0.5 s per side caps such a merge at ~1 s of CPU on the request path.  0 (dmp's "no limit")
# would let them run O(N*D), hours in pure Python.  Since a timed-out result depends on
# machine load, the identity cases are short-circuited before any diff is computed.
DIFF_TIMEOUT = 0.5

# SEMANTIC_CLEANUP: run dmp's diff_cleanupSemantic on every char-level sub-diff.  A minimal
# char diff of a rewritten phrase keeps coincidental common characters ("quick brown" ->
# "slow red" keeps "o", " ", "r"), splitting one human edit into many edits separated by
# short "unchanged" fragments; an edit from the other side landing on such a fragment would
# be merged into the middle of the rewrite, giving a text neither author wrote.  The cleanup
# folds an equality into its neighbouring edits when it is no longer than the edits on both
# sides, and slides edits to word boundaries.  It only widens edits (more conflicts, never a
# wrong merge) and leaves scattered edits alone (their separating equality is longer than
# they are).  Measured: head rewrites a sentence while incoming replaces one word in it ->
# 9.3% of 300 cases merged "cleanly" into such a blend without cleanup, 2.7% with it (the
# rest conflict; the remaining clean ones are words the rewrite really kept).  Two one-word
# edits 1, 2, 3 or 5 words apart in one sentence: 100% clean and correct either way.  The
# benchmark (1% scattered edits per side) merges clean either way; cleanup costs ~10%
# (median 100 KB: 5.9 -> 6.6 ms, 1 MB: 68 -> 75 ms).  Chosen: on.
SEMANTIC_CLEANUP = True

# Speed: a plain dmp diff_main of the benchmark's 1 MB text (~1,000 scattered edits per side)
# takes ~0.56 s per side (its line mode, diff_linesToChars + Myers over ~14k line-chars +
# char-level rediff, still runs an O(N*D) bisection over the lines): >1.1 s per merge.  We
# keep the same two stages (coarse tokens first, then char-level refinement) but anchor the
# coarse stage patience-diff style, on tokens unique on both sides, which is linear and runs
# mostly in C: lines, then clauses, then words (for texts without newlines: minified JSON,
# long paragraphs).  Gaps between anchors of at most _CHAR_DIFF_MAX code points (both sides
# together) go to dmp char-by-char: those sub-diffs are small, so they are fast and minimal.
_CHAR_DIFF_MAX = 2_000
_MAX_DEPTH = 40  # same-level patience recursion depth before falling to a finer tokenizer

_DMP = diff_match_patch()  # only settings are read by diff_main/cleanup: safe to share
_DMP.Diff_Timeout = DIFF_TIMEOUT
_EQUAL = diff_match_patch.DIFF_EQUAL
_INSERT = diff_match_patch.DIFF_INSERT
_DELETE = diff_match_patch.DIFF_DELETE

# Tokenizers for anchoring.  Each covers every character exactly once (tokens re-join to the
# text): lines (with their ends); clauses, ending after a run of , ; : . ! ? or newline plus
# following whitespace (prose sentences, minified JSON members); word-ish tokens, a run of
# word characters or of other non-space characters, each with its trailing whitespace.
_CLAUSE_RE = re.compile(r"[^,;:.!?\n]*[,;:.!?\n]+\s*|[^,;:.!?\n]+")
_WORD_RE = re.compile(r"\s+|\w+\s*|[^\w\s]+\s*")


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _clauses(text: str) -> list[str]:
    return _CLAUSE_RE.findall(text)


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


# (tokenizer, k): anchor on tokens whose run of k consecutive tokens is unique on both sides.
# Lines are distinctive on their own; clauses and words are not (a long text repeats its
# vocabulary, JSON repeats its keys) but short runs of them nearly always are.  A gap
# with no anchor at one level is retried at the next; the last level hands over to dmp.
_LEVELS = ((_lines, 1), (_clauses, 2), (_words, 3))


def _keys(text: str, tokens: list[str], offsets: list[int], lo: int, hi: int, k: int) -> list:
    """Anchor keys for tokens lo..hi-1: key i is the text of tokens lo+i..lo+i+k-1 (the last
    k-1 tokens get no key; they can still be matched inside a gap).  Substrings rather than
    tuples: strings cache their hash, which matters at ~200k keys for 1 MB.  For k >= 2 equal
    keys imply equal first tokens (the first token ends inside the key, where tokenization
    depends only on the key's own text); _diff_edits re-checks the whole script anyway."""
    if k == 1:
        return tokens[lo:hi]
    return [text[offsets[i] : offsets[i + k]] for i in range(lo, hi - k + 1)]


def _unique_mask(keys: list[str]) -> list[bool]:
    """mask[i] is True when keys[i] occurs exactly once (its first and last index agree)."""
    n = len(keys)
    last = dict(zip(keys, range(n), strict=True))
    first = dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))
    return list(map(eq, map(last.__getitem__, keys), map(first.__getitem__, keys)))


def _patience_anchors(ka: list[str], kb: list[str]) -> tuple[list[int], list[int]]:
    """Anchors as two lists (is, js), both strictly increasing, with ka[i] == kb[j] occurring
    exactly once in ka and exactly once in kb.

    This is the longest increasing subsequence (patience sorting) of those unique common
    keys.  Written for speed (1 MB of text is ~200k word keys): the per-key work is all
    C-level map/compress/dict calls, and builds no tuples (which would feed the cyclic GC).
    """
    ma, mb = _unique_mask(ka), _unique_mask(kb)
    index_b = dict(zip(compress(kb, mb), compress(range(len(kb)), mb), strict=True))
    ia = list(compress(range(len(ka)), ma))
    ja = list(map(index_b.get, compress(ka, ma), repeat(-1)))
    keep = list(map(ge, ja, repeat(0)))
    ia = list(compress(ia, keep))
    js = list(compress(ja, keep))
    if all(map(lt, js, js[1:])):  # no moved blocks: the usual case, skip the LIS
        return ia, js
    tails: list[int] = []  # smallest j ending an increasing run of each length
    tail_idx: list[int] = []
    prev = [-1] * len(js)
    for n, j in enumerate(js):
        p = bisect_left(tails, j)
        if p == len(tails):
            tails.append(j)
            tail_idx.append(n)
        else:
            tails[p] = j
            tail_idx[p] = n
        prev[n] = tail_idx[p - 1] if p else -1
    picked = []
    n = tail_idx[-1]
    while n != -1:
        picked.append(n)
        n = prev[n]
    picked.reverse()
    return [ia[n] for n in picked], [js[n] for n in picked]


class _Differ:
    """Exact edit script base -> side as dmp tuples, with one deadline for the whole diff."""

    def __init__(self) -> None:
        # dmp compares its deadline with time.time(); <= 0 means no limit, as in dmp.
        self.deadline = time.time() + DIFF_TIMEOUT if DIFF_TIMEOUT > 0 else float("inf")

    def diff(self, a: str, b: str) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        self._diff_into(a, b, out, 0, 0)
        return out

    def _char_diff(self, a: str, b: str, out: list) -> None:
        diffs = _DMP.diff_main(a, b, False, self.deadline)
        if SEMANTIC_CLEANUP:
            _DMP.diff_cleanupSemantic(diffs)
        out.extend(diffs)

    def _diff_into(self, a: str, b: str, out: list, level: int, depth: int) -> None:
        if a == b:
            if a:
                out.append((_EQUAL, a))
            return
        if not a:
            out.append((_INSERT, b))
            return
        if not b:
            out.append((_DELETE, a))
            return
        if level >= len(_LEVELS) or len(a) + len(b) <= _CHAR_DIFF_MAX:
            self._char_diff(a, b, out)
            return
        if time.time() > self.deadline:
            # Out of time: replace what differs as one block (coarse but exact, like dmp).
            n = _DMP.diff_commonPrefix(a, b)
            m = _DMP.diff_commonSuffix(a[n:], b[n:])
            out.append((_EQUAL, a[:n]))
            out.append((_DELETE, a[n : len(a) - m]))
            out.append((_INSERT, b[n : len(b) - m]))
            out.append((_EQUAL, a[len(a) - m :]))
            return
        if depth >= _MAX_DEPTH:
            self._diff_into(a, b, out, level + 1, 0)
            return

        tokenize, k = _LEVELS[level]
        ta, tb = tokenize(a), tokenize(b)
        offa = list(accumulate(map(len, ta), initial=0))
        offb = list(accumulate(map(len, tb), initial=0))

        # Whole tokens of the common prefix / suffix are equal: take them out first (patience
        # would not anchor on them when they are repeated, e.g. blank lines).
        n = _DMP.diff_commonPrefix(a, b)
        p = min(bisect_right(offa, n), bisect_right(offb, n)) - 1
        while p > 0 and offa[p] != offb[p]:  # defensive: token boundaries agree in a prefix
            p -= 1
        m = _DMP.diff_commonSuffix(a[offa[p] :], b[offb[p] :])
        la, lb = len(a), len(b)
        qa, qb = len(ta), len(tb)
        while (
            qa > p and qb > p and la - offa[qa - 1] <= m and la - offa[qa - 1] == lb - offb[qb - 1]
        ):
            qa -= 1
            qb -= 1
        if p:
            out.append((_EQUAL, a[: offa[p]]))
        ia: list[int] = []
        ja: list[int] = []
        if p < qa and p < qb:
            ia, ja = _patience_anchors(_keys(a, ta, offa, p, qa, k), _keys(b, tb, offb, p, qb, k))
        if not ia:
            # Nothing to anchor on at this granularity: try the next, finer one.
            self._diff_into(a[offa[p] : offa[qa]], b[offb[p] : offb[qb]], out, level + 1, 0)
        else:
            # Anchors whose in-between texts are equal on both sides (typically: none, or
            # repeated tokens) form runs emitted as one equality each; the gaps between runs
            # are diffed recursively (uniqueness is then local to the gap).  Run boundaries
            # are found with C-level maps only: 1 MB of text gives ~150k anchors.
            n = len(ia)
            ia = [i + p for i in ia]
            ja = [j + p for j in ja]
            after_a = map(offa.__getitem__, map(add, ia, repeat(1)))
            after_b = map(offb.__getitem__, map(add, ja, repeat(1)))
            between_a = map(a.__getitem__, map(slice, after_a, map(offa.__getitem__, ia[1:])))
            between_b = map(b.__getitem__, map(slice, after_b, map(offb.__getitem__, ja[1:])))
            starts = [0, *compress(range(1, n), map(ne, between_a, between_b))]
            i0 = j0 = p  # next unmatched token on each side
            for r0, r1 in zip(starts, [*starts[1:], n], strict=True):
                i, j = ia[r0], ja[r0]
                if i != i0 or j != j0:
                    self._diff_into(
                        a[offa[i0] : offa[i]], b[offb[j0] : offb[j]], out, level, depth + 1
                    )
                i0, j0 = ia[r1 - 1] + 1, ja[r1 - 1] + 1
                out.append((_EQUAL, a[offa[i] : offa[i0]]))
            if i0 < qa or j0 < qb:
                self._diff_into(
                    a[offa[i0] : offa[qa]], b[offb[j0] : offb[qb]], out, level, depth + 1
                )
        if qa < len(ta):
            out.append((_EQUAL, a[offa[qa] :]))


Edit = tuple[int, int, str]  # (base_start, base_end, replacement)


def _edits(diffs: list[tuple[int, str]]) -> list[Edit]:
    """Turn an edit script into edits positioned in base; runs of changes between two
    (non-empty) equalities become one edit, so edits of one side never touch each other."""
    edits: list[Edit] = []
    pos = 0
    start = -1
    ins: list[str] = []
    for op, text in diffs:
        if not text:
            continue
        if op == _EQUAL:
            if start >= 0:
                edits.append((start, pos, "".join(ins)))
                start = -1
                ins = []
            pos += len(text)
        else:
            if start < 0:
                start = pos
            if op == _DELETE:
                pos += len(text)
            else:
                ins.append(text)
    if start >= 0:
        edits.append((start, pos, "".join(ins)))
    return edits


def _diff_edits(base: str, side: str) -> list[Edit]:
    edits = _edits(_Differ().diff(base, side))
    # Safety net, O(n) (~2 ms per MB): the edits must rebuild the side exactly.  The layered
    # diff above is tested to guarantee it; should it ever fail, use dmp's plain diff.
    if _side_text(base, 0, len(base), edits) != side:  # pragma: no cover
        edits = _edits(_DMP.diff_main(base, side, False))
    return edits


def _side_text(base: str, start: int, end: int, edits: list[Edit]) -> str:
    parts = []
    pos = start
    for s, e, rep in edits:
        parts.append(base[pos:s])
        parts.append(rep)
        pos = e
    parts.append(base[pos:end])
    return "".join(parts)


def _merge_edits(base: str, head_edits: list[Edit], inc_edits: list[Edit]) -> MergeResult:
    out: list[str] = []
    hunks: list[Hunk] = []
    pos = 0  # base copied to out up to here
    i = j = 0
    nh, ni = len(head_edits), len(inc_edits)
    while i < nh or j < ni:
        # Open a region with the edit that starts first, then absorb every edit (either side)
        # that overlaps or touches it: start <= region end.
        if j >= ni or (i < nh and head_edits[i][0] <= inc_edits[j][0]):
            first = head_edits[i]
            i += 1
            region_h, region_i = [first], []
        else:
            first = inc_edits[j]
            j += 1
            region_h, region_i = [], [first]
        start, end = first[0], first[1]
        while True:
            if i < nh and head_edits[i][0] <= end:
                e = head_edits[i]
                i += 1
                region_h.append(e)
            elif j < ni and inc_edits[j][0] <= end:
                e = inc_edits[j]
                j += 1
                region_i.append(e)
            else:
                break
            if e[1] > end:
                end = e[1]

        if not region_i or not region_h:
            text = _side_text(base, start, end, region_h or region_i)
        else:
            text = _side_text(base, start, end, region_h)
            inc_text = _side_text(base, start, end, region_i)
            if text != inc_text:
                hunks.append(Hunk(start, end, base[start:end], text, inc_text))
                continue
        if not hunks:
            out.append(base[pos:start])
            out.append(text)
            pos = end
    if hunks:
        return MergeResult(None, tuple(hunks))
    out.append(base[pos:])
    return MergeResult("".join(out), ())


def merge3(base: str, head: str, incoming: str) -> MergeResult:
    """Three-way merge of ``head`` and ``incoming``, both derived from ``base``."""
    # Identities, without diffing: same result on both sides, or one side unchanged.
    if head == incoming or incoming == base:
        return MergeResult(head, ())
    if head == base:
        return MergeResult(incoming, ())
    return _merge_edits(base, _diff_edits(base, head), _diff_edits(base, incoming))
