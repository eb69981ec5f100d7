"""Users (global and per-company profiles) and connected-account companies."""

from __future__ import annotations

from datetime import datetime

from conftest import COMPANY, assert_error


def test_user_shape_and_retrieve_by_id_or_username(api, users):
    (alice,) = users("alice")
    assert set(alice) == {"id", "username", "name", "bio", "created_at", "profile_picture"}
    assert alice["id"].startswith("user_")
    datetime.fromisoformat(alice["created_at"])
    assert api.get(f"/users/{alice['id']}").json() == alice
    assert api.get("/users/alice").json()["id"] == alice["id"]
    assert_error(api.get("/users/user_nobody"), 404, "not_found")


def test_company_profile_override(api, users):
    (alice,) = users("alice")
    patched = api.patch(
        f"/users/{alice['id']}",
        json={
            "account_id": COMPANY,
            "name": "Alice (Shop)",
            "profile_picture": {"url": "https://img.test/a.png"},
        },
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Alice (Shop)"
    assert patched.json()["profile_picture"] == {"url": "https://img.test/a.png"}
    assert api.get(f"/users/{alice['id']}").json()["name"] == "Alice"  # global unchanged
    assert (
        api.get(f"/users/{alice['id']}", params={"company_id": COMPANY}).json()["name"]
        == "Alice (Shop)"
    )
    assert_error(
        api.patch(f"/users/{alice['id']}", json={"company_id": "biz_other", "name": "x"}),
        403,
        "forbidden",
    )


def test_global_update_and_username_rules(api, users, client_for):
    alice, bob = users("alice", "bob")
    assert api.patch(f"/users/{alice['id']}", json={"bio": "Hi"}).json()["bio"] == "Hi"
    assert_error(api.patch(f"/users/{alice['id']}", json={"username": "bob"}), 409, "conflict")
    assert_error(
        api.patch(f"/users/{alice['id']}", json={"username": "no spaces"}), 422, "invalid_request"
    )
    assert_error(api.patch(f"/users/{alice['id']}", json={"name": 12}), 400, "invalid_request")
    as_bob = client_for(bob["id"])
    assert_error(as_bob.patch(f"/users/{alice['id']}", json={"name": "x"}), 403, "forbidden")
    assert as_bob.patch(f"/users/{bob['id']}", json={"name": "Bobby"}).json()["name"] == "Bobby"


def test_user_search(api, users):
    users("alice", "alicia", "bob")
    found = api.get("/users", params={"query": "ali"}).json()
    assert [u["username"] for u in found["data"]] == ["alice", "alicia"]
    assert found["page_info"]["has_next_page"] is False
    assert (
        api.get("/users", params={"query": "alice@example.test"}).json()["data"] == []
    )  # not by email


def test_create_connected_account(api, users):
    response = api.post(
        "/companies",
        json={
            "email": "Seller.One@example.test",
            "parent_company_id": COMPANY,
            "title": "Seller One",
            "metadata": {"internal_user_id": "42"},
            "send_customer_emails": False,
        },
    )
    assert response.status_code == 200
    company = response.json()
    assert set(company) == {
        "id",
        "title",
        "parent_company_id",
        "metadata",
        "created_at",
        "owner_user",
    }
    assert company["id"].startswith("biz_")
    assert company["parent_company_id"] == COMPANY
    assert company["metadata"] == {"internal_user_id": "42"}
    owner = company["owner_user"]
    assert set(owner) == {"id", "name", "username"}
    assert owner["id"].startswith("user_") and owner["username"] == "seller-one"
    # The owner is a real user: can be used in DMs and receive tokens.
    assert api.get(f"/users/{owner['id']}").status_code == 200
    assert api.post("/access_tokens", json={"user_id": owner["id"]}).status_code == 200
    assert api.get(f"/companies/{company['id']}").json() == company


def test_companies_are_not_idempotent_and_reuse_the_user_by_email(api):
    body = {"email": "dup@example.test", "parent_company_id": COMPANY, "title": "Dup"}
    one, two = api.post("/companies", json=body).json(), api.post("/companies", json=body).json()
    assert one["id"] != two["id"]
    assert one["owner_user"]["id"] == two["owner_user"]["id"]
    other = api.post("/companies", json={**body, "email": "dup2@example.test"}).json()
    assert other["owner_user"]["username"] != one["owner_user"]["username"]


def test_list_companies_paginated(api):
    ids = [
        api.post(
            "/companies",
            json={
                "email": f"s{i}@example.test",
                "parent_company_id": COMPANY,
                "metadata": {"internal_user_id": str(i)},
            },
        ).json()["id"]
        for i in range(5)
    ]
    first = api.get("/companies", params={"parent_company_id": COMPANY, "first": 2}).json()
    assert [c["id"] for c in first["data"]] == ids[:2]
    rest = api.get(
        "/companies",
        params={
            "parent_company_id": COMPANY,
            "first": 10,
            "after": first["page_info"]["end_cursor"],
        },
    ).json()
    assert [c["id"] for c in rest["data"]] == ids[2:]
    assert [c["metadata"]["internal_user_id"] for c in rest["data"]] == ["2", "3", "4"]


def test_company_validation(api):
    assert_error(
        api.post("/companies", json={"parent_company_id": COMPANY}), 400, "invalid_request"
    )
    assert_error(
        api.post("/companies", json={"email": "not-an-email", "parent_company_id": COMPANY}),
        422,
        "invalid_request",
    )
    assert_error(
        api.post("/companies", json={"email": "a@b.io", "parent_company_id": "biz_someone_else"}),
        403,
        "forbidden",
    )
    assert_error(
        api.post(
            "/companies", json={"email": "a@b.io", "parent_company_id": COMPANY, "metadata": [1]}
        ),
        400,
        "invalid_request",
    )
    assert_error(
        api.get("/companies", params={"parent_company_id": "biz_someone_else"}), 403, "forbidden"
    )
    assert_error(api.get("/companies/biz_unknown"), 404, "not_found")
