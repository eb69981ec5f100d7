"""The REST API's edge (issue 16, issue 11 item 9): every bad input is a JSON 4xx decided
before any expensive work, a refused caller learns nothing about other users, and a host's
REST_FRAMEWORK defaults neither throttle nor break dm_bridge's endpoints."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from dm_bridge.models import DmChannel, DmMember

from .conftest import World, logged_in

pytestmark = pytest.mark.django_db(transaction=True)

TOO_BIG_ID = 9223372036854775808  # 2**63: SQLite's OverflowError, once a 500


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"dm_bridge:{name}", kwargs=kwargs or None)


def post_json(client: Client, path: str, body: Any, method: str = "post") -> Any:
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def assert_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def test_ids_past_64_bits_are_a_json_400_or_404(world: World, whop: Any) -> None:
    alice = logged_in(world.a)
    opened = post_json(alice, url("channel-list"), {"user_ids": [TOO_BIG_ID]})
    assert assert_json_error(opened, 400) == {
        "user_ids": {"0": ["Ensure this value is less than or equal to 9223372036854775807."]}
    }
    added = post_json(alice, url("member-list", pk=world.ab.pk), {"user_id": TOO_BIG_ID})
    assert "user_id" in assert_json_error(added, 400)
    removed = alice.delete(f"/dm/api/channels/{world.ab.pk}/members/{TOO_BIG_ID}/")
    assert assert_json_error(removed, 404) == {
        "detail": "That user is not a member of this conversation."
    }
    for path in (f"/dm/api/channels/{TOO_BIG_ID}/", "/dm/api/channels/abc/", "/dm/api/channels/0/"):
        assert "detail" in assert_json_error(alice.get(path), 404), path


def test_a_form_body_is_a_json_415(world: World, whop: Any) -> None:
    answer = logged_in(world.a).post(url("channel-list"), {"user_ids": [TOO_BIG_ID]})
    assert "detail" in assert_json_error(answer, 415)


@pytest.mark.parametrize("size", [64 * 1024 + 1, 3 * 1024 * 1024])
def test_an_oversized_body_is_a_json_413_before_it_is_read(
    world: World, whop: Any, size: int
) -> None:
    body = json.dumps({"user_ids": [world.b.pk], "name": "x" * size})
    before = (len(whop.requests()), DmChannel.objects.count())
    answer = logged_in(world.a).post(
        url("channel-list"), data=body, content_type="application/json"
    )
    assert assert_json_error(answer, 413) == {
        "detail": "The request body is larger than 65536 bytes."
    }
    assert (len(whop.requests()), DmChannel.objects.count()) == before


def test_djangos_own_body_limit_is_json_too(world: World, whop: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # below dm_bridge's own limit
    client = logged_in(world.a, enforce_csrf_checks=True)  # so that the check reads the body
    client.cookies["csrftoken"] = "s" * 32
    answer = client.post(
        url("chat-token"),
        data={"padding": "x" * 5000},  # multipart, read by the CSRF check
        headers={"X-CSRFToken": "s" * 32},
    )
    assert "detail" in assert_json_error(answer, 413)


def test_a_huge_user_ids_list_is_refused_before_any_item_is_looked_at(
    world: World, whop: Any
) -> None:
    from dm_bridge.api.serializers import OpenChannelSerializer

    huge = list(range(1, 1_200_001))
    started = time.process_time()
    form = OpenChannelSerializer(data={"user_ids": huge})
    assert not form.is_valid()
    assert form.errors == {"user_ids": ["Ensure this field has no more than 200 elements."]}
    assert time.process_time() - started < 0.2  # was ~2.1 s: every item validated first


@pytest.mark.parametrize(
    "query", ["page_size=AAA", "page_size=0", "page_size=0.5", "page_size=101", "page=0", "page=x"]
)
def test_invalid_query_parameters_are_a_400_not_replaced(
    world: World, whop: Any, query: str
) -> None:
    answer = logged_in(world.a).get(url("channel-list") + "?" + query)
    name = query.split("=")[0]
    assert assert_json_error(answer, 400) == {
        name: [f"Enter a whole number from 1 to {100 if name == 'page_size' else 2**63 - 1}."]
    }


def test_a_page_past_the_end_is_a_404(world: World, whop: Any) -> None:
    answer = logged_in(world.a).get(url("channel-list"), {"page": 2})
    assert "detail" in assert_json_error(answer, 404)


@pytest.mark.parametrize(
    "body",
    [
        {"user_ids": ["1"]},
        {"user_ids": [True]},
        {"user_ids": [1], "name": 0},
        {"user_ids": [1], "key": " padded"},
        {"user_ids": [1], "key": "k\n"},
    ],
)
def test_values_the_schema_calls_invalid_are_not_coerced(
    world: World, whop: Any, body: dict[str, Any]
) -> None:
    before = DmChannel.objects.count()
    assert_json_error(post_json(logged_in(world.a), url("channel-list"), body), 400)
    assert DmChannel.objects.count() == before


def test_a_policy_that_refuses_tells_nobody_which_users_exist(
    world: World, whop: Any, settings: Any
) -> None:
    settings.DM_BRIDGE = {**settings.DM_BRIDGE, "POLICY": "marketplace.dm_policy.MarketplacePolicy"}
    carol = logged_in(world.c)
    real = post_json(carol, url("channel-list"), {"user_ids": [world.a.pk]})
    unknown = post_json(carol, url("channel-list"), {"user_ids": [987654]})
    mixed = post_json(carol, url("channel-list"), {"user_ids": [world.a.pk, 987654, 987655]})
    assert real.status_code == unknown.status_code == mixed.status_code == 403
    assert (
        real.json()
        == unknown.json()
        == mixed.json()
        == {"detail": "You may not open this conversation."}
    )


def test_a_policy_that_allows_still_names_unknown_users(world: World, whop: Any) -> None:
    """Under DefaultPolicy anyone may open a DM with anyone: naming the missing IDs is help."""
    answer = post_json(logged_in(world.a), url("channel-list"), {"user_ids": [world.b.pk, 987654]})
    assert assert_json_error(answer, 400) == {"user_ids": ["No active user with ID 987654."]}


def test_a_patch_without_a_name_changes_nothing(world: World, whop: Any) -> None:
    before = len(whop.requests())
    answer = post_json(logged_in(world.a), url("channel-detail", pk=world.ab.pk), {}, "patch")
    assert answer.status_code == 200 and answer.json()["name"] == "Vintage lamp"
    assert len(whop.requests()) == before


def test_options_is_not_an_operation(world: World, whop: Any) -> None:
    answer = logged_in(world.a).options(url("channel-detail", pk=world.ab.pk))
    assert_json_error(answer, 405)


HOSTILE_DEFAULTS = {
    # What a host may well have for its own API; none of it may reach dm_bridge's endpoints.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": "2/day", "anon": "1/day"},
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.BasicAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.QueryParameterVersioning",
    "DEFAULT_FILTER_BACKENDS": ["rest_framework.filters.OrderingFilter"],
    "EXCEPTION_HANDLER": "tests.web.test_api_edges.hostile_exception_handler",
    # No DEFAULT_SCHEMA_CLASS: DRF's own AutoSchema, which drf-spectacular cannot use.
}


def hostile_exception_handler(exc: Exception, context: Any) -> Any:
    raise AssertionError("the host's exception handler ran for a dm_bridge endpoint")


def test_the_hosts_drf_defaults_neither_throttle_nor_break_the_api(world: World, whop: Any) -> None:
    alice = logged_in(world.a)
    with override_settings(REST_FRAMEWORK=HOSTILE_DEFAULTS):
        for _ in range(5):  # the badge poll, well past the host's 2/day
            unread = alice.get(url("unread"))
            assert unread.status_code == 200 and unread.json() == {"unread": 0}
        listed = alice.get(url("channel-list"))
        assert listed.status_code == 200 and listed["Content-Type"] == "application/json"
        assert set(listed.json()) == {"count", "next", "previous", "results"}
        opened = post_json(alice, url("channel-list"), {"user_ids": [world.c.pk]})
        assert opened.status_code == 201, opened.content
        assert Client().get(url("unread")).status_code == 403  # AllowAny did not apply
        assert_json_error(alice.get(url("channel-detail", pk=0)), 404)
        schema = alice.get(url("schema"), {"format": "json"})
        assert schema.status_code == 200, schema.content[:500]
        assert "/dm/api/channels/" in schema.json()["paths"]
    assert DmMember.objects.filter(channel_id=opened.json()["id"]).count() == 2


PINNED = [
    "authentication_classes",
    "permission_classes",
    "parser_classes",
    "renderer_classes",
    "throttle_classes",
    "content_negotiation_class",
    "metadata_class",
    "versioning_class",
    "schema",
]


@pytest.mark.parametrize(
    "name",
    [
        "chat-token",
        "channel-list",
        "channel-detail",
        "member-list",
        "member-detail",
        "mark-read",
        "unread",
        "schema",
    ],
)
def test_every_view_pins_its_own_drf_machinery(name: str) -> None:
    """DRF reads most defaults into APIView's class attributes when it is first imported, so
    no runtime override can show a host's settings reaching a view: each attribute must be
    set by dm_bridge (or drf-spectacular's schema view) itself, never inherited from APIView."""
    from django.urls import resolve
    from rest_framework.views import APIView

    view = resolve(
        reverse(
            f"dm_bridge:{name}",
            kwargs={"pk": 1, "user_id": 1}
            if "member-d" in name
            else {"pk": 1}
            if name in ("channel-detail", "member-list")
            else None,
        )
    )
    view_class = view.func.view_class
    for attribute in PINNED:
        owner = next(k for k in view_class.__mro__ if attribute in vars(k))
        assert owner is not APIView and owner.__module__.startswith(
            ("dm_bridge.", "drf_spectacular.")
        ), (attribute, owner)
    if name == "channel-list":
        assert view_class.filter_backends == [] and view_class.pagination_class.__module__ == (
            "dm_bridge.api.views"
        )


def test_an_accept_header_without_json_is_a_json_406(world: World, whop: Any) -> None:
    answer = logged_in(world.a).get(url("unread"), headers={"Accept": "text/html"})
    assert "detail" in assert_json_error(answer, 406)


def test_the_schema_documents_every_error_code_with_its_body(make_user: Any) -> None:
    spec = logged_in(make_user("reader")).get(url("schema"), {"format": "json"}).json()
    expected = {
        ("/dm/api/token/", "post"): {"200", "400", "403", "406", "409", "413", "415", "429", "503"},
        ("/dm/api/channels/", "get"): {"200", "400", "403", "404", "406", "413"},
        ("/dm/api/channels/", "post"): {
            "200",
            "201",
            "400",
            "403",
            "406",
            "409",
            "413",
            "415",
            "503",
        },
        ("/dm/api/channels/{id}/", "get"): {"200", "403", "404", "406", "413"},
        ("/dm/api/channels/{id}/", "patch"): {
            "200",
            "400",
            "403",
            "404",
            "406",
            "409",
            "413",
            "415",
            "503",
        },
        ("/dm/api/channels/{id}/", "delete"): {"204", "403", "404", "406", "409", "413", "503"},
        ("/dm/api/channels/{id}/members/", "get"): {"200", "403", "404", "406", "413"},
        ("/dm/api/channels/{id}/members/", "post"): {
            "201",
            "400",
            "403",
            "404",
            "406",
            "409",
            "413",
            "415",
            "503",
        },
        ("/dm/api/channels/{id}/members/{user_id}/", "delete"): {
            "204",
            "403",
            "404",
            "406",
            "409",
            "413",
            "503",
        },
        ("/dm/api/read/", "post"): {"200", "400", "403", "406", "413", "415"},
        ("/dm/api/unread/", "get"): {"200", "403", "406", "413"},
    }
    for (path, method), codes in expected.items():
        operation = spec["paths"][path][method]
        assert set(operation["responses"]) == codes, (path, method)
        for code, answer in operation["responses"].items():
            if code.startswith(("4", "5")):
                body = answer["content"]["application/json"]["schema"]
                assert body.get("$ref") == "#/components/schemas/Error" or "detail" in body.get(
                    "properties", {}
                ), (path, method, code)
    opening = spec["components"]["schemas"]["OpenChannel"]["properties"]
    assert opening["user_ids"]["minItems"] == 1 and opening["user_ids"]["maxItems"] == 200
    assert opening["user_ids"]["items"]["maximum"] == 2**63 - 1
    assert opening["key"]["minLength"] == 1 and opening["key"]["maxLength"] == 196
    assert opening["key"]["pattern"].startswith("^(?![Uu][Ss][Ee][Rr][Ss]:)")
    detail = spec["paths"]["/dm/api/channels/{id}/"]["get"]["parameters"][0]
    assert detail["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
