"""Property-based: requests generated from /openapi.json never get a 5xx or an answer it does not declare.

Schemathesis reads the description the app serves, and Hypothesis generates requests for every operation:
valid ones (positive) and ones that break the description (negative). Each answer must be a declared status
code with a declared content type, headers and body schema. The examples are bounded and derandomized with a
fixed seed, so CI runs the same requests every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from helpdesk.search.documents import iter_kb
from helpdesk.search.services import SearchService

KB = Path(__file__).resolve().parent.parent / "data" / "kb"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
#: Per operation and mode: 16 operations x 2 modes x 12 examples stays well under a minute per database.
EXAMPLES = 30


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_answer_is_declared(app: Flask, staff_token: str, mode: GenerationMode) -> None:
    SearchService(app.extensions["helpdesk"].settings.index_dir).rebuild(iter_kb(KB))
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {staff_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 16  # 11 on tickets, queues, search and programmes; 5 on applications

    for operation in operations:

        @seed(20240601)
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()
