"""Schemathesis against the live schema, as a signed-in device: every operation, with
generated valid and invalid input, answers no 5xx and nothing the schema does not say."""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import device_register

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


@pytest.fixture
def live_schema(live_server_proc, user):
    _, token = device_register(user=user, name="Schemathesis", kind="other", platform="test")
    headers = {"Authorization": f"Bearer {token}"}
    config = schemathesis.Config.from_dict(
        {
            "cache": {"enabled": False},
            "analysis": {"constants": {"enabled": False}},
            "base-url": live_server_proc.url,
            "request-timeout": 10,
        }
    )
    schema = schemathesis.openapi.from_url(
        f"{live_server_proc.url}/api/v1/schema/?format=json",
        config=config,
        headers=headers,
        timeout=10,
    )
    return schema, headers


def has_inputs(operation) -> bool:
    return any((operation.path_parameters, operation.query, operation.headers, operation.body))


def run_operation(operation, headers) -> list[str]:
    failures = []
    # An operation with no inputs has no invalid input to generate.
    modes = MODES if has_inputs(operation) else MODES[:1]
    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:
            notes = "\n".join(getattr(exc, "__notes__", []))
            failures.append(f"{operation.label} ({mode}): {exc}\n{notes}")
    return failures


def test_every_operation_conforms_to_the_schema(live_schema):
    schema, headers = live_schema
    failures = []
    started = time.monotonic()
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        failures += run_operation(operation, headers)
    print(f"{len(labels)} operations in {time.monotonic() - started:.1f}s")
    assert not failures, "\n\n".join(failures)
