"""Request bodies as the API accepts them: JSON with a bounded nesting depth.

A body nested deeper than Python's recursion limit made the standard parser raise
RecursionError (a 500); one merely deep could be stored (a handoff state) and then fail
to render. Both are a 400 here, before any view sees them."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` nests lists and objects deeper than `limit` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.") from exc
        if json_depth_exceeds(data):
            raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
