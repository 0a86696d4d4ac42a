"""The orjson renderer answers with the same bytes as DRF's JSON renderer."""

import datetime
import decimal
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from cloudsaves.renderers import OrjsonRenderer

SAMPLES = [
    {},
    [],
    {"changes": [{"id": str(uuid.uuid4()), "content": 'héllo 👋\n\t"quoted" \\ /'}]},
    {"uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"), "n": 2**40, "f": 1.5},
    {"when": datetime.datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=datetime.UTC)},
    {"naive": datetime.datetime(2026, 11, 25, 10, 0), "day": datetime.date(2026, 11, 25)},
    {"amount": decimal.Decimal("1.10"), "lazy": gettext_lazy("Not found.")},
    {"separators": "a\u2028b\u2029c", "nul": "\x00", "bools": [True, False, None]},
    {1: "int keys become strings"},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_same_bytes_as_drf(data):
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)


def test_what_orjson_refuses_gets_drfs_answer():
    data = {"text": "\ud800"}  # a lone surrogate cannot be UTF-8
    with pytest.raises(Exception) as drf:
        JSONRenderer().render(data)
    with pytest.raises(drf.type):
        OrjsonRenderer().render(data)


def test_non_finite_floats_are_null():
    # The one documented difference: DRF refuses NaN, orjson writes null. No response of
    # this API carries a float that could be NaN.
    assert OrjsonRenderer().render({"x": float("nan")}) == b'{"x":null}'


def test_nothing_renders_as_an_empty_body():
    assert OrjsonRenderer().render(None) == b""


def test_indent_is_honoured():
    context = {"indent": 2}
    assert OrjsonRenderer().render({"a": 1}, "application/json", context) == (
        JSONRenderer().render({"a": 1}, "application/json", context)
    )
