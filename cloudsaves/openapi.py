"""How the OpenAPI schema at /api/v1/schema/ names and shapes things, for the clients that
app developers generate from it (openapi-python-client, openapi-generator's Swift and
Kotlin, openapi-typescript...).

- One operation-id pattern: the path's words after /api/v1/, then what the call does —
  `list`, `retrieve`, `create`, `update`, `partial_update`, `destroy` — or, for a POST to
  an action (`/conflicts/{id}/resolve`, `/sync/push`), the action's name alone:
  `items_list`, `items_content_update`, `conflicts_resolve`, `handoff_offers_accept`.
- A nullable enum is `oneOf: [the enum, {type: 'null'}]` (OpenAPI 3.1), never a separate
  `NullEnum` component: an enum with no values fails to compile in generated Swift and
  Kotlin.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

NULL_ENUM = "#/components/schemas/NullEnum"


class ApiSchema(AutoSchema):
    def get_operation_id(self) -> str:
        words = [word.replace("-", "_") for word in self._tokenize_path()] or ["root"]
        kind = getattr(self.view, "operation_kind", None)
        if self.method == "POST" and kind == "action":
            return "_".join(words)
        if self.method == "GET" and kind == "list":
            return "_".join([*words, "list"])
        return "_".join([*words, self.method_mapping[self.method.lower()]])


def _plain_nulls(node: Any) -> Any:
    if isinstance(node, dict):
        one_of = node.get("oneOf")
        if isinstance(one_of, list) and {"$ref": NULL_ENUM} in one_of:
            node["oneOf"] = [
                {"type": "null"} if entry == {"$ref": NULL_ENUM} else entry for entry in one_of
            ]
        for value in node.values():
            _plain_nulls(value)
    elif isinstance(node, list):
        for value in node:
            _plain_nulls(value)
    return node


def postprocess(result: dict, generator, request, public) -> dict:
    """Runs after drf-spectacular's own enum postprocessing (see SPECTACULAR_SETTINGS)."""
    _plain_nulls(result.get("paths", {}))
    _plain_nulls(result.get("components", {}))
    result.get("components", {}).get("schemas", {}).pop("NullEnum", None)
    _database_unavailable(result.get("paths", {}))
    return result


_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _database_unavailable(paths: dict) -> None:
    """Any operation may meet a database that is restarting: 503 with Retry-After
    (`cloudsaves.middleware`, `cloudsaves.exceptions`), which generated clients should
    know as a typed, retryable answer."""
    for operations in paths.values():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            operation.setdefault("responses", {}).setdefault(
                "503",
                {
                    "description": "`service_unavailable`: the database cannot be reached; "
                    "nothing was changed. Retry after `Retry-After` seconds.",
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}
                    },
                },
            )
