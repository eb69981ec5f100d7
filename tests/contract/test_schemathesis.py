"""dm_bridge's REST API keeps the contract its own OpenAPI schema states (schemathesis).

Every operation is fuzzed as a signed-in user with a valid CSRF header, under DefaultPolicy,
with positive and negative data (explicit examples, schemathesis' coverage phase, then
Hypothesis fuzzing) and every check: no 5xx, every status code and body documented, invalid
input refused, valid input accepted, auth enforced. On top, an object-level check of our own:
each request the owner made on a channel is replayed as another signed-in user, who must get
the same 404 as for a channel that does not exist — never a 2xx. A stateful run then chains
operations through the links schemathesis infers (open → detail → members → …).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import hypothesis
import pytest
from django.test import Client

from dm_bridge.policy import DefaultPolicy

from .conftest import Contract, generated_schema, load_schema
from .summary import record, record_peer

pytestmark = [
    pytest.mark.django_db(transaction=True, reset_sequences=True),
    pytest.mark.timeout(300),
]

schema = load_schema()


def test_the_fuzzed_schema_is_the_one_the_api_serves(contract: Contract) -> None:
    client = Client()
    client.force_login(contract.owner.user)
    served = client.get("/dm/api/schema/", {"format": "json"})
    assert served.status_code == 200
    assert served.json() == generated_schema()


@schema.parametrize()
# One world per operation, on purpose: what the fuzzer opens, renames or deletes accumulates.
@hypothesis.settings(
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture], deadline=None
)
def test_every_operation_keeps_the_schemas_contract(case: Any, contract: Contract) -> None:
    response = case.call_and_validate()
    record(case, response)
    peer_cannot_reach_the_owners_channel(case, response, contract)


def peer_cannot_reach_the_owners_channel(case: Any, response: Any, contract: Contract) -> None:
    if not 200 <= response.status_code < 300:
        return
    peer = contract.peer.user
    if case.method == "GET" and case.operation.path == "/dm/api/channels/":
        # The same page of the list, as the peer: none of the owner's channels in it.
        owners = {c["id"] for c in response.json()["results"]}
        peers = replay(case, peer)
        record_peer(peers.status_code, listing=True)
        if peers.status_code == 200:
            visible = set(DefaultPolicy().visible_channels(peer).values_list("pk", flat=True))
            assert not (owners - visible) & {c["id"] for c in peers.json()["results"]}
        return
    channel_id = (case.path_parameters or {}).get("id")
    if channel_id is None:
        return
    if DefaultPolicy().visible_channels(peer).filter(pk=channel_id).exists():
        return  # the fuzzer made the peer a member (POST members): not the owner's alone
    as_peer = replay(case, peer)
    record_peer(as_peer.status_code)
    missing = replay(case, peer, path_parameters={**case.path_parameters, "id": 0})
    assert as_peer.status_code == 404, (case.method, case.formatted_path, as_peer.content)
    assert as_peer.json() == missing.json(), "a 404 that tells an existing channel apart"


def replay(case: Any, user: Any, **changes: Any) -> Any:
    """The same request from another signed-in user (Django's client: CSRF is not the point)."""
    client = Client()
    client.force_login(user)
    path_parameters = changes.get("path_parameters", case.path_parameters)
    path = case.operation.path.format(**path_parameters)
    body = {} if case.body is None or not isinstance(case.body, dict | list) else case.body
    return client.generic(
        case.method,
        path + ("?" + urlencode(case.query, doseq=True) if case.query else ""),
        data=json.dumps(body) if case.method in ("POST", "PATCH") else "",
        content_type="application/json",
    )


class Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Chains of calls along the links schemathesis infers from the schema (the IDs in
    responses feed the next request's path), validated with the same checks."""

    def after_call(self, response: Any, case: Any) -> None:
        record(case, response, stateful=True)
        super().after_call(response, case)


def test_the_stateful_phase_chains_operations(contract: Contract) -> None:
    assert schema.statistic.transitions.total > 0, "no links inferred: nothing would be chained"
    Workflow.run(
        settings=hypothesis.settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
