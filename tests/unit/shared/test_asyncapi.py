"""The AsyncAPI 3.0 document (shared/asyncapi.py): valid against the official schema, complete against the
topology and the HANDLERS tables, true to the factories' payloads, and committed up to date (docs/asyncapi.json)."""
from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path

import jsonschema
import pytest

import tests.events as factories
from shared.asyncapi import SERVICES, document
from shared.events import CATALOGUE
from tests.unit.apps import SERVICES as APP_SERVICES

HERE = Path(__file__).parent
ASYNCAPI_SCHEMA = json.loads((HERE / "asyncapi_schema" / "asyncapi-3.0.0.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)


def _handlers() -> dict[str, list[str]]:
    return {svc: list(importlib.import_module(f"services.{svc}.handlers").HANDLERS) for svc in SERVICES}


def _errors(doc: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in VALIDATOR.iter_errors(doc)]


def _pointers(node, found=None) -> set[str]:
    found = set() if found is None else found
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            _pointers(value, found)
    elif isinstance(node, list):
        for value in node:
            _pointers(value, found)
    return found


def _resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


@pytest.fixture(scope="module")
def whole() -> dict:
    return document(_handlers())


def test_the_whole_document_validates_against_the_asyncapi_3_schema(whole):
    assert _errors(whole) == []


@pytest.mark.parametrize("svc", SERVICES)
def test_each_service_part_validates(svc):
    assert _errors(document({svc: _handlers()[svc]}, only=svc)) == []


def test_the_schema_check_can_fail(whole):
    broken = copy.deepcopy(whole)
    broken["channels"]["courses.course_completed"]["bindings"]["amqp"]["is"] = "fanout"
    broken["operations"]["courses.send.courses.course_completed"]["action"] = "publish"  # AsyncAPI 2 wording
    assert len(_errors(broken)) == 2


def test_every_reference_resolves(whole):
    for ref in _pointers(whole):
        _resolve(whole, ref)


def test_every_routing_key_and_every_handlers_entry_appears(whole):
    handlers = _handlers()
    for etype, version in CATALOGUE:
        channel = whole["channels"][etype]
        assert channel["address"] == etype  # routing key = event type (shared/bus/topology.py)
        assert channel["bindings"]["amqp"]["exchange"] == {"name": "training.events", "type": "topic",
                                                           "durable": True, "autoDelete": False, "vhost": "/"}
        assert f"{etype}.v{version}" in channel["messages"]
        producer = etype.split(".")[0]
        assert whole["operations"][f"{producer}.send.{etype}"]["action"] == "send"
    for svc, types in handlers.items():
        queue = whole["channels"][f"{svc}.queue"]
        assert queue["address"] == svc and queue["bindings"]["amqp"]["queue"]["name"] == svc
        assert sorted(b["routingKey"] for b in queue["x-bindings"]) == sorted(types)
        assert queue["x-dead-letter-queue"] == f"{svc}.dlq"
        for etype in types:
            op = whole["operations"][f"{svc}.receive.{etype}"]
            assert op["action"] == "receive" and op["channel"] == {"$ref": f"#/channels/{svc}.queue"}
            assert svc in whole["channels"][etype]["x-subscribers"]
    receives = {k for k, op in whole["operations"].items() if op["action"] == "receive"}
    assert receives == {f"{svc}.receive.{t}" for svc, types in handlers.items() for t in types}


def test_a_service_part_has_only_what_it_publishes_and_consumes():
    doc = document({"evaluation": ["courses.course_completed"]}, only="evaluation", exchange="x.events",
                   queue_prefix="ci.")
    assert set(doc["operations"]) == {"evaluation.receive.courses.course_completed"} | {
        f"evaluation.send.{t}" for t, _ in CATALOGUE if t.startswith("evaluation.")}
    assert doc["channels"]["evaluation.queue"]["address"] == "ci.evaluation"
    assert doc["channels"]["courses.course_completed"]["bindings"]["amqp"]["exchange"]["name"] == "x.events"
    assert "needs.plan_approved" not in doc["channels"]


def test_a_subscription_to_an_unknown_event_is_refused():
    with pytest.raises(ValueError, match="courses.course_exploded"):
        document({"needs": ["courses.course_exploded"]})


FACTORIES = [name for name in dir(factories) if name.startswith("make_")]


def test_there_is_a_factory_for_every_catalogue_event():
    made = {json.loads(getattr(factories, name)()[1])["type"] for name in FACTORIES}
    assert made == {etype for etype, _ in CATALOGUE}


@pytest.mark.parametrize("name", FACTORIES)
def test_every_example_payload_validates_against_its_message_schema(whole, name):
    body = json.loads(getattr(factories, name)()[1])
    message = whole["components"]["messages"][f"{body['type']}.v{body['version']}"]
    # draft 07: a $ref beside other keywords is all there is, and `#` is the document carrying the components
    schema = {**whole, "$ref": f"#/components/messages/{body['type']}.v{body['version']}/payload"}
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker()).validate(body)
    assert message["payload"]["properties"]["type"]["const"] == body["type"]


def test_a_payload_missing_a_required_field_does_not_validate(whole):
    body = json.loads(factories.make_course_completed()[1])
    del body["payload"]["participants"]
    schema = {**whole, "$ref": "#/components/messages/courses.course_completed.v1/payload"}
    with pytest.raises(jsonschema.ValidationError, match="participants"):
        jsonschema.Draft7Validator(schema).validate(body)


def test_the_committed_document_is_up_to_date():
    from tools.asyncapi import OUTPUT, render
    assert OUTPUT.read_text(encoding="utf-8") == render(), "docs/asyncapi.json is stale: run `make asyncapi`"


@pytest.mark.parametrize("svc", APP_SERVICES)
def test_each_service_serves_its_part(shared_client, svc):
    response = shared_client(svc).get("/asyncapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert _errors(doc) == []
    assert {k for k, op in doc["operations"].items() if op["action"] == "receive"} == {
        f"{svc}.receive.{t}" for t in _handlers()[svc]}
    assert "guest" not in json.dumps(doc)  # the broker's credentials never leave with the host
