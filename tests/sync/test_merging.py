"""Tests for sync.merging.merge3 (pure Python: no Django, no database)."""

import ast
import json
import random
from collections import Counter
from dataclasses import fields
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import merging
from sync.merging import Hunk, MergeResult, merge3

SETTINGS = settings(max_examples=200, deadline=None, database=None)


@pytest.fixture(autouse=True, scope="module")
def _generous_diff_budget():
    """The merge's time budget only trades conflicts for speed; these tests assert exact
    outcomes, so give them a budget no loaded CI machine can exhaust. The test of the
    timed-out path sets its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(merging, "DIFF_TIMEOUT", 5.0)
        yield


def apply_edits(text: str, edits) -> str:
    """Apply (start, end, replacement) edits, given in base coordinates, to text."""
    out = []
    pos = 0
    for start, end, replacement in sorted(edits):
        assert start >= pos, "test bug: overlapping edits"
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def hunks(result: MergeResult) -> list[dict]:
    return [h.as_dict() for h in result.hunks]


def general(base: str, head: str, incoming: str) -> MergeResult:
    """merge3 without its up-front equality shortcuts: the general algorithm."""
    return merging._merge_edits(
        base, merging._diff_edits(base, head), merging._diff_edits(base, incoming)
    )


# --- API --------------------------------------------------------------------------------------


def test_result_and_hunk_api():
    clean = merge3("a b c", "A b c", "a b C")
    assert clean == MergeResult("A b C", ())
    assert clean.clean and clean.hunks == ()

    conflict = merge3("ab", "aXb", "aYb")
    assert not conflict.clean and conflict.text is None
    assert conflict.hunks == (Hunk(1, 1, "", "X", "Y"),)
    as_dict = conflict.hunks[0].as_dict()
    assert as_dict == {"base_start": 1, "base_end": 1, "base": "", "head": "X", "incoming": "Y"}
    assert list(as_dict) == [f.name for f in fields(Hunk)]
    assert json.loads(json.dumps(as_dict)) == as_dict
    with pytest.raises(AttributeError):
        conflict.hunks[0].base = "z"  # frozen


def test_module_imports_only_stdlib_and_diff_match_patch():
    tree = ast.parse(Path(merging.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "bisect",
        "dataclasses",
        "diff_match_patch",
        "itertools",
        "operator",
        "re",
        "time",
    }


# --- clean merges -----------------------------------------------------------------------------


def test_non_overlapping_edits_merge():
    base = "The quick brown fox jumps over the lazy dog.\nSecond line stays.\nThird line.\n"
    head = "The slow brown fox jumps over the lazy dog.\nSecond line stays.\nThird line.\n"
    incoming = "The quick brown fox jumps over the sleepy dog.\nSecond line stays.\nLast line.\n"
    assert merge3(base, head, incoming).text == (
        "The slow brown fox jumps over the sleepy dog.\nSecond line stays.\nLast line.\n"
    )


def test_edits_in_adjacent_lines_merge():
    base = "alpha\nbeta\ngamma\ndelta\n"
    assert merge3(base, "alpha\nBETA\ngamma\ndelta\n", "alpha\nbeta\nGAMMA\ndelta\n").text == (
        "alpha\nBETA\nGAMMA\ndelta\n"
    )


def test_only_insertions():
    base = "a b c d e f"
    head = "a 1 b c 2 d e f"
    incoming = "a b 3 c d e f 4"
    assert merge3(base, head, incoming).text == "a 1 b 3 c 2 d e f 4"
    assert merge3("", "", "x").text == "x"


def test_only_deletions():
    base = "one two three four five six"
    head = "one three four five six"  # deletes "two "
    incoming = "one two three five"  # deletes "four " and " six"
    assert merge3(base, head, incoming).text == "one three five"


def test_insertion_and_deletion_separated_by_one_unchanged_char():
    assert merge3("abc def ghi", "abc! def ghi", "abc def_ghi").text == "abc! def_ghi"


def test_identical_change_on_both_sides_applied_once():
    base = "hello world, hello moon"
    head = "hello there world, hello moon"
    incoming = "hello there world, hello sun"
    assert merge3(base, head, incoming).text == "hello there world, hello sun"
    # identical insertion at the same point, plus a different change elsewhere
    assert merge3("ab cd", "aXb cd", "aXb cD").text == "aXb cD"
    # identical deletion on both sides
    assert merge3("keep drop keep end", "keep keep end", "keep keep END").text == "keep keep END"


# --- conflicts --------------------------------------------------------------------------------


def test_overlapping_edits_conflict():
    base = "one two three four five\n"
    result = merge3(base, "one TWO THREE four five\n", "one two 3 four five\n")
    assert result.text is None
    assert hunks(result) == [
        {
            "base_start": 4,
            "base_end": 13,
            "base": "two three",
            "head": "TWO THREE",
            "incoming": "two 3",
        }
    ]


def test_touching_replacements_conflict():
    # head replaces [0, 3), incoming replaces [3, 4): no unchanged character between them.
    result = merge3("abc def ghi", "XYZ def ghi", "abc_def ghi")
    assert hunks(result) == [
        {"base_start": 0, "base_end": 4, "base": "abc ", "head": "XYZ ", "incoming": "abc_"}
    ]


def test_insertion_touching_a_replacement_conflicts():
    # insertion at 3 vs replacement starting at 3
    result = merge3("abc def ghi", "abc! def ghi", "abc-ghi")
    assert hunks(result) == [
        {"base_start": 3, "base_end": 8, "base": " def ", "head": "! def ", "incoming": "-"}
    ]
    # insertion at 7 vs replacement ending at 7
    result = merge3("abc def ghi", "abc def! ghi", "abc DEF ghi")
    assert hunks(result) == [
        {"base_start": 4, "base_end": 7, "base": "def", "head": "def!", "incoming": "DEF"}
    ]


def test_same_point_insertions_conflict_unless_identical():
    assert hunks(merge3("ab", "aXb", "aYb")) == [
        {"base_start": 1, "base_end": 1, "base": "", "head": "X", "incoming": "Y"}
    ]
    assert hunks(merge3("", "a", "b")) == [
        {"base_start": 0, "base_end": 0, "base": "", "head": "a", "incoming": "b"}
    ]
    assert merge3("ab", "aXb", "aXb").text == "aXb"
    assert general("ab", "aXb", "aXb").text == "aXb"


def test_delete_vs_edit_of_same_range_conflicts():
    result = merge3("keep this. drop me. end", "keep this. end", "keep this. keep me. end")
    assert hunks(result) == [
        {
            "base_start": 10,
            "base_end": 19,
            "base": " drop me.",
            "head": "",
            "incoming": " keep me.",
        }
    ]
    assert hunks(merge3("abc", "", "abX")) == [
        {"base_start": 0, "base_end": 3, "base": "abc", "head": "", "incoming": "abX"}
    ]


def test_chained_regions_are_one_hunk_and_all_hunks_are_reported():
    # head edits c and h, incoming edits defg, which touches both: one region [2, 8).
    # The x at the end (incoming only) is a separate region and applies cleanly, but since
    # the merge conflicts there is no text at all.
    result = merge3("abcdefghij klm", "abCdefgHij klm", "abcDEFGhij klX")
    assert result.text is None
    assert hunks(result) == [
        {"base_start": 2, "base_end": 8, "base": "cdefgh", "head": "CdefgH", "incoming": "cDEFGh"}
    ]
    # two independent conflicts: both reported, in base order
    two = merge3("x1 x2 x3 x4", "y1 x2 y3 x4", "z1 x2 z3 x4")
    assert [(h.base_start, h.base_end, h.base, h.head, h.incoming) for h in two.hunks] == [
        (0, 1, "x", "y", "z"),
        (6, 7, "x", "y", "z"),
    ]


# --- identities -------------------------------------------------------------------------------

SAMPLES = [
    "",
    "a",
    "hello world",
    "line 1\r\nline 2\r\n",
    "emoji 😀 and flags 🇫🇷🇩🇪, skin tone 👍🏽",
    "cafe\u0301 and café (NFD vs NFC)",
    "\n\n\n",
]


@pytest.mark.parametrize("b", SAMPLES)
@pytest.mark.parametrize("a", SAMPLES)
def test_identities(a, b):
    for merge in (merge3, general):
        assert merge(b, a, b).text == a
        assert merge(b, b, a).text == a
        assert merge(b, a, a).text == a
        assert merge(b, b, b).text == b


# --- Unicode, line endings, empty strings -----------------------------------------------------


def test_non_bmp_characters_are_byte_exact():
    base = "smile 😀 here\nflag 🇫🇷 there\nmusic 𝄞 end\n"
    head = "smile 😂 here\nflag 🇫🇷 there\nmusic 𝄞 end\n"
    incoming = "smile 😀 here\nflag 🇫🇷 there 👍🏽\nmusic 𝄞 end\n"
    expected = "smile 😂 here\nflag 🇫🇷 there 👍🏽\nmusic 𝄞 end\n"
    result = merge3(base, head, incoming)
    assert result.text.encode("utf-8") == expected.encode("utf-8")


def test_non_bmp_conflict_offsets_are_code_points():
    result = merge3("a😀b", "a😂b", "a😎b")
    assert hunks(result) == [
        {"base_start": 1, "base_end": 2, "base": "😀", "head": "😂", "incoming": "😎"}
    ]
    base = "𝄞𝄞 x 🇫🇷 y"
    result = merge3(base, "𝄞𝄞 x 🇩🇪 y", "𝄞𝄞 x 🇫🇷🇮🇹 y")
    assert result.text is None
    for h in result.hunks:
        assert base[h.base_start : h.base_end] == h.base


def test_emoji_sequences_merge_exactly():
    base = "👨‍👩‍👧 family, 👍 ok, 🏳️‍🌈 flag"
    head = "👨‍👩‍👧‍👦 family, 👍 ok, 🏳️‍🌈 flag"
    incoming = "👨‍👩‍👧 family, 👍🏿 ok, 🏳️‍🌈 flag!"
    expected = "👨‍👩‍👧‍👦 family, 👍🏿 ok, 🏳️‍🌈 flag!"
    assert merge3(base, head, incoming).text.encode("utf-8") == expected.encode("utf-8")


def test_combining_characters():
    base = "cafe\u0301 noe\u0308l re\u0301sume\u0301\n"
    head = "cafe\u0301s noe\u0308l re\u0301sume\u0301\n"
    incoming = "cafe\u0301 noe\u0308l re\u0301sume\u0301!\n"
    expected = "cafe\u0301s noe\u0308l re\u0301sume\u0301!\n"
    assert merge3(base, head, incoming).text.encode("utf-8") == expected.encode("utf-8")
    # a combining mark added on both sides to the same letter, differently: conflict
    assert merge3("e", "e\u0301", "e\u0300").text is None


def test_crlf_line_endings_are_preserved():
    base = "line1\r\nline2\r\nline3\r\nline4\r\n"
    head = "LINE1\r\nline2\r\nline3\r\nline4\r\n"
    incoming = "line1\r\nline2\r\nline3\r\nline 4\r\n"
    assert merge3(base, head, incoming).text == "LINE1\r\nline2\r\nline3\r\nline 4\r\n"
    # one side converts a line ending, the other edits a different line: both kept
    assert merge3(base, "line1\nline2\r\nline3\r\nline4\r\n", incoming).text == (
        "line1\nline2\r\nline3\r\nline 4\r\n"
    )
    # converting a line ending vs editing the same line's text right before it: conflict
    result = merge3(base, "line1\n" + base[7:], "line1!" + base[5:])
    assert hunks(result) == [
        {"base_start": 5, "base_end": 6, "base": "\r", "head": "", "incoming": "!\r"}
    ]


def test_empty_strings():
    assert merge3("", "", "").text == ""
    assert merge3("", "abc", "").text == "abc"
    assert merge3("", "", "abc").text == "abc"
    assert merge3("abc", "", "abc").text == ""
    assert merge3("abc", "abc", "").text == ""
    assert merge3("abc", "", "").text == ""


# --- large inputs -----------------------------------------------------------------------------


def _prose(rng: random.Random, size: int) -> str:
    vocab = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 9))) for _ in range(3000)
    ]
    lines = []
    total = 0
    while total < size:
        line = " ".join(rng.choices(vocab, k=rng.randint(5, 14))) + rng.choice(".,;:!?") + "\n"
        if rng.random() < 0.05:
            line = "\n"
        lines.append(line)
        total += len(line)
    return "".join(lines)


def _scattered_edits(rng: random.Random, size: int, slot: int = 100):
    """Edits on both sides in distinct slots, each in its slot's middle (far from any other)."""
    head, incoming = [], []
    for s in rng.sample(range(size // slot), size // slot // 5):  # ~1% per side
        start = s * slot + rng.randint(30, 50)
        end = start + rng.choice([0, rng.randint(1, 12)])
        side = rng.random() < 0.5
        repl = "".join(rng.choices("HIJKLMN😀" if side else "PQRSTUV🎉", k=rng.randint(0, 8)))
        if start == end and not repl:
            repl = "Z"
        (head if side else incoming).append((start, end, repl))
    return head, incoming


def test_one_megabyte_with_scattered_edits():
    rng = random.Random(1234)
    base = _prose(rng, 1_000_000)
    head_edits, inc_edits = _scattered_edits(rng, len(base))
    assert len(head_edits) > 800 and len(inc_edits) > 800
    head = apply_edits(base, head_edits)
    incoming = apply_edits(base, inc_edits)
    expected = apply_edits(base, head_edits + inc_edits)
    result = merge3(base, head, incoming)
    assert result.clean
    assert result.text == expected


def test_moved_block_and_far_edit():
    # Exercises the anchored (patience) diff with out-of-order anchors.
    lines = [f"line {n} with some text\n" for n in range(400)]
    base = "".join(lines)
    moved = lines[:10] + lines[20:300] + lines[10:20] + lines[300:]
    head = "".join(moved)
    inc_lines = list(lines)
    inc_lines[150] = "line 150 was edited\n"
    incoming = "".join(inc_lines)
    expected = list(moved)
    expected[expected.index(lines[150])] = "line 150 was edited\n"
    assert len(layered_edits(base, head)) == 2  # lines 10-19: deleted, inserted elsewhere
    assert merge3(base, head, incoming).text == "".join(expected)
    # and the moved lines themselves, edited by the other side: conflict
    inc_lines = list(lines)
    inc_lines[15] = "line 15 was edited\n"
    assert merge3(base, head, "".join(inc_lines)).text is None


def test_single_line_json_and_repeated_lines():
    rng = random.Random(7)
    objs = [{"id": k, "name": f"item{k}", "score": rng.random()} for k in range(3000)]
    base = json.dumps(objs, separators=(",", ":"))
    h, i = json.loads(base), json.loads(base)
    for k in range(0, 3000, 30):
        h[k]["score"] = 1.5
    for k in range(15, 3000, 30):
        i[k]["name"] = "renamed"
    expected = json.loads(base)
    for k in range(0, 3000, 30):
        expected[k]["score"] = 1.5
    for k in range(15, 3000, 30):
        expected[k]["name"] = "renamed"

    def dump(o):
        return json.dumps(o, separators=(",", ":"))

    assert "\n" not in base and len(base) > 100_000
    assert merge3(base, dump(h), dump(i)).text == dump(expected)

    base = "x = 1\n" * 20_000
    head = base[:30_000] + "y = 2\n" + base[30_000:]
    incoming = base[:90_000] + "z = 3\n" + base[96_000:]
    assert merge3(base, head, incoming).text == (
        base[:30_000] + "y = 2\n" + base[30_000:90_000] + "z = 3\n" + base[96_000:]
    )


def test_timed_out_diff_stays_correct():
    """A diff cut short by Diff_Timeout is coarse but exact: merges stay correct."""
    rng = random.Random(99)
    base = _prose(rng, 30_000)
    head_edits, inc_edits = _scattered_edits(rng, len(base))
    head = apply_edits(base, head_edits)
    incoming = apply_edits(base, inc_edits)
    expected = apply_edits(base, head_edits + inc_edits)
    with mock.patch.object(merging, "DIFF_TIMEOUT", 1e-9):
        edits = merging._diff_edits(base, head)
        assert merging._side_text(base, 0, len(base), edits) == head
        assert general(base, head, base).text == head  # one-sided: always exact
        result = general(base, head, incoming)
    if result.clean:
        assert result.text == expected
    else:
        for h in result.hunks:
            assert base[h.base_start : h.base_end] == h.base
    assert merge3(base, head, incoming).text == expected  # normal budget: clean


# --- properties -------------------------------------------------------------------------------

# small alphabets make collisions (and hence interesting diffs) likely
ALPHABET = st.sampled_from([*"ab \n\r.,é", "e\u0301", "😀", "🇫", "🇷", "𝄞"])
TEXT = st.lists(ALPHABET, max_size=40).map("".join)
ANY_TEXT = st.text(max_size=40)


@SETTINGS
@given(st.one_of(TEXT, ANY_TEXT), st.one_of(TEXT, ANY_TEXT))
def test_prop_identities(b, a):
    for merge in (merge3, general):
        assert merge(b, a, b).text == a
        assert merge(b, b, a).text == a
        assert merge(b, a, a).text == a
        assert merge(b, b, b).text == b


# Base of distinct code points (CJK + some non-BMP), replacements from a disjoint alphabet:
# the minimal diff of each side is then unique, so the edits the merge sees are exactly the
# generated ones.  Gaps between edits are longer than any edit, so semantic cleanup (which
# may fold an equality no longer than the edits around it) cannot join them either.
BASE_CHARS = st.one_of(
    st.integers(0x4E00, 0x4FFF), st.integers(0x1F300, 0x1F3FF), st.integers(0x10000, 0x100FF)
).map(chr)
REPL_TEXT = st.lists(st.sampled_from([*"xyz XYZ\n", "😀", "🎉", "e\u0301"]), max_size=4)
MAX_EDIT = 4


@st.composite
def disjoint_edits(draw):
    base = "".join(draw(st.lists(BASE_CHARS, unique=True, max_size=150)))
    head, incoming = [], []
    pos = 0
    first = True
    while draw(st.booleans()) or first:
        gap = draw(st.integers(0 if first else MAX_EDIT + 1, 3 * MAX_EDIT))
        first = False
        start = pos + gap
        if start > len(base):
            break
        end = start + draw(st.integers(0, min(MAX_EDIT, len(base) - start)))
        repl = "".join(draw(REPL_TEXT))
        if start == end and not repl:
            repl = "x"
        (head if draw(st.booleans()) else incoming).append((start, end, repl))
        pos = end
    return base, head, incoming


@SETTINGS
@given(disjoint_edits())
def test_prop_disjoint_edits_merge_to_expected(case):
    base, head_edits, inc_edits = case
    head = apply_edits(base, head_edits)
    incoming = apply_edits(base, inc_edits)
    expected = apply_edits(base, head_edits + inc_edits)
    result = merge3(base, head, incoming)
    assert result.clean, result.hunks
    assert result.text.encode("utf-8") == expected.encode("utf-8")
    assert general(base, head, incoming).text == expected


@st.composite
def edited(draw, base: str):
    """base with a few arbitrary (possibly adjacent) edits applied."""
    edits = []
    pos = 0
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(pos, len(base)))
        end = draw(st.integers(start, min(len(base), start + 6)))
        edits.append((start, end, draw(TEXT.filter(lambda t: len(t) <= 6))))
        pos = end
        if pos >= len(base):
            break
    return apply_edits(base, edits)


@st.composite
def three_texts(draw):
    base = draw(TEXT)
    if draw(st.booleans()):  # unrelated texts
        return base, draw(TEXT), draw(TEXT)
    return base, draw(edited(base)), draw(edited(base))


@SETTINGS
@given(three_texts())
def test_prop_merge_is_sound(case):
    base, head, incoming = case
    result = merge3(base, head, incoming)
    swapped = merge3(base, incoming, head)
    # symmetric in head/incoming
    assert swapped.text == result.text
    assert [(h.base_start, h.base_end, h.incoming, h.head) for h in swapped.hunks] == [
        (h.base_start, h.base_end, h.head, h.incoming) for h in result.hunks
    ]
    if result.clean:
        assert isinstance(result.text, str)
        assert result.hunks == ()
        m, h, i, b = Counter(result.text), Counter(head), Counter(incoming), Counter(base)
        for c in m:  # nothing appears from nowhere
            assert m[c] <= h[c] + i[c]
        for c in h | i:  # what a side inserted that base never had is kept
            if c not in b:
                assert max(h[c], i[c]) <= m[c]
    else:
        assert result.text is None
        assert result.hunks
        prev_end = -1
        for hunk in result.hunks:
            assert 0 <= hunk.base_start <= hunk.base_end <= len(base)
            assert hunk.base == base[hunk.base_start : hunk.base_end]
            assert hunk.base_start > prev_end  # sorted, disjoint, not touching
            prev_end = hunk.base_end
            assert hunk.head != hunk.incoming
            assert hunk.head in head
            assert hunk.incoming in incoming


def layered_edits(a: str, b: str):
    """Edits from the anchored diff itself, bypassing _diff_edits' safety-net fallback."""
    edits = merging._edits(merging._Differ().diff(a, b))
    assert merging._side_text(a, 0, len(a), edits) == b
    return edits


def test_patience_anchors():
    # unique common keys, in order where possible: longest increasing subsequence
    assert merging._patience_anchors(list("abcdefg"), list("abefgcd")) == (
        [0, 1, 4, 5, 6],
        [0, 1, 2, 3, 4],
    )
    # keys repeated on either side are never anchors
    assert merging._patience_anchors(list("xaxbc"), list("abxc")) == ([1, 3, 4], [0, 1, 3])
    assert merging._patience_anchors(list("aab"), list("ab")) == ([2], [1])
    assert merging._patience_anchors([], list("ab")) == ([], [])


def test_layered_diff_on_large_inputs_is_exact_without_fallback():
    rng = random.Random(5)
    base = _prose(rng, 200_000)
    head_edits, _ = _scattered_edits(rng, len(base))
    head = apply_edits(base, head_edits)
    assert layered_edits(base, head) == merging._diff_edits(base, head)
    lines = base.splitlines(keepends=True)
    rng.shuffle(lines)
    layered_edits(base, "".join(lines))  # moved blocks everywhere
    flat = base.replace("\n", " ")
    layered_edits(flat, head.replace("\n", " "))  # one line: clause / word levels
    layered_edits(flat.replace(".", "").replace(",", ""), head.replace("\n", " "))


LAYERED_TEXT = st.lists(
    st.sampled_from(
        ["alpha ", "beta ", "gamma", ", ", ".\n", "\n", "\r\n", "😀", "x", '{"k":', "1}", " "]
    ),
    max_size=60,
).map("".join)
# lines, mostly unique, in random orders: anchors out of order (moved blocks)
LINES_TEXT = st.lists(
    st.sampled_from([f"line {n}\n" for n in range(15)] + ["\n", "a, b. c\n", "😀\r\n"]),
    max_size=30,
).map("".join)


@SETTINGS
@given(
    st.one_of(st.tuples(LAYERED_TEXT, LAYERED_TEXT), st.tuples(LINES_TEXT, LINES_TEXT)),
    st.sampled_from([0, 8, 40]),
)
def test_prop_layered_diff_is_exact(texts, char_diff_max):
    """The anchored diff (lines, clauses, words), forced on small texts, is an exact script,
    and its edits are sorted and separated by unchanged text."""
    a, b = texts
    with mock.patch.object(merging, "_CHAR_DIFF_MAX", char_diff_max):
        edits = layered_edits(a, b)
        assert merging._diff_edits(a, b) == edits
    prev_end = -1
    for start, end, repl in edits:
        assert prev_end < start <= end <= len(a)
        assert repl or start < end
        prev_end = end
