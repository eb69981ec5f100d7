"""Users (global and per-company profiles) and connected accounts (/accounts and /companies)."""

from __future__ import annotations

from datetime import datetime

from emulator_support import COMPANY, assert_error


def test_user_shape_and_retrieve_by_id_or_username(api, users):
    (alice,) = users("alice")
    assert alice["id"].startswith("user_")
    datetime.fromisoformat(alice["created_at"])
    # No picture set: still an object with a generated placeholder URL (SDK: always present).
    assert alice["profile_picture"]["url"].startswith("https://")
    assert alice["id"] in alice["profile_picture"]["url"]
    assert (alice["balances"], alice["social_links"]) == ([], [])
    assert alice["email"] is None  # only on the self view
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
    as_alice, as_bob = client_for(alice["id"]), client_for(bob["id"])
    # SDK: with an API key account_id is required; only a user token edits the global profile.
    error = assert_error(
        api.patch(f"/users/{alice['id']}", json={"bio": "Hi"}), 400, "invalid_request"
    )
    assert error["param"] == "account_id"
    assert as_alice.patch(f"/users/{alice['id']}", json={"bio": "Hi"}).json()["bio"] == "Hi"
    assert api.get(f"/users/{alice['id']}").json()["bio"] == "Hi"
    assert_error(as_alice.patch("/users/me", json={"username": "bob"}), 409, "conflict")
    assert_error(
        as_alice.patch("/users/me", json={"username": "no spaces"}), 422, "invalid_request"
    )
    assert_error(as_alice.patch("/users/me", json={"name": 12}), 400, "invalid_request")
    assert_error(as_bob.patch(f"/users/{alice['id']}", json={"name": "x"}), 403, "forbidden")
    assert as_bob.patch(f"/users/{bob['id']}", json={"name": "Bobby"}).json()["name"] == "Bobby"
    assert as_bob.patch("/users/me", json={"name": "Bob B"}).json()["name"] == "Bob B"
    assert_error(api.patch("/users/me", json={"name": "x"}), 403, "forbidden")  # no user


def test_me_is_the_self_view(api, users, client_for):
    (alice,) = users("alice")
    me = client_for(alice["id"]).get("/users/me").json()
    assert me["id"] == alice["id"] and me["email"] == "alice@example.test"
    assert client_for(alice["id"]).get(f"/users/{alice['id']}").json()["email"] is None
    assert_error(api.get("/users/me"), 403, "forbidden")


def test_a_user_token_lists_only_users_it_shares_a_dm_with(api, users, client_for):
    """An emulator choice: API keys search every user; a user token only its DM partners."""
    alice, bob, carol = users("alice", "bob", "carol")
    api.post("/dm_channels", json={"with_user_ids": ["alice", "bob"]})
    as_alice = client_for(alice["id"])
    assert [u["id"] for u in as_alice.get("/users").json()["data"]] == [alice["id"], bob["id"]]
    assert as_alice.get("/users", params={"query": "carol"}).json()["data"] == []
    as_carol = client_for(carol["id"])
    assert [u["id"] for u in as_carol.get("/users").json()["data"]] == [carol["id"]]
    everyone = api.get("/users", params={"query": "a"}).json()["data"]
    assert {alice["id"], carol["id"]} <= {u["id"] for u in everyone}


def test_user_search(api, users):
    users("alice", "alicia", "bob")
    found = api.get("/users", params={"query": "ali"}).json()
    assert [u["username"] for u in found["data"]] == ["alice", "alicia"]
    assert found["page_info"]["has_next_page"] is False
    assert (
        api.get("/users", params={"query": "alice@example.test"}).json()["data"] == []
    )  # not by email


def test_create_connected_account_via_accounts(api, users):
    (alice,) = users("alice")
    created = api.post(
        "/accounts",
        json={"email": "alice@example.test", "metadata": {"external_id": "site-7"}},
    )
    assert created.status_code == 200
    account = created.json()
    assert account["title"] == "site-7"  # defaults to metadata.external_id
    assert account["owner"]["id"] == alice["id"]  # the existing user with that email
    assert account["owner"]["profile_picture"]["url"].startswith("https://")
    assert account["parent_account"]["id"] == COMPANY
    assert account["route"] and account["email"] == "alice@example.test"
    assert api.get(f"/accounts/{account['id']}").json() == account
    assert api.get(f"/accounts/{account['route']}").json()["id"] == account["id"]
    # Both forms share the rows.
    assert api.get(f"/companies/{account['id']}").json()["owner_user"] == account["owner"]
    me = api.get("/accounts/me").json()
    assert me["id"] == COMPANY and me["parent_account"] is None
    titled = api.post("/accounts", json={"email": "x@example.test"}).json()
    assert titled["title"] == "x@example.test"  # no external_id: the email


def test_list_accounts_own_and_children_and_query(api):
    one = api.post("/accounts", json={"email": "a@example.test", "title": "Shop 50%"}).json()
    two = api.post("/accounts", json={"email": "b@example.test", "title": "Shop 500"}).json()
    listed = api.get("/accounts").json()
    assert [a["id"] for a in listed["data"]] == [COMPANY, one["id"], two["id"]]
    assert listed["page_info"]["end_cursor"] is None  # the last page
    children = api.get("/accounts", params={"parent_account_id": COMPANY}).json()["data"]
    assert [a["id"] for a in children] == [one["id"], two["id"]]
    # % matches literally (SDK), so "50%" finds only the first.
    found = api.get("/accounts", params={"query": "50%"}).json()["data"]
    assert [a["id"] for a in found] == [one["id"]]
    assert [a["id"] for a in api.get("/accounts", params={"query": two["id"]}).json()["data"]] == [
        two["id"]
    ]
    assert_error(
        api.get("/accounts", params={"parent_account_id": "biz_someone_else"}), 403, "forbidden"
    )
    assert_error(api.get("/accounts/biz_unknown"), 404, "not_found")
    assert_error(api.post("/accounts", json={"title": "no email"}), 400, "invalid_request")


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
    assert {"id", "title", "parent_company_id", "metadata", "created_at", "owner_user"} <= set(
        company
    )
    assert company["title"] == "Seller One"
    assert company["id"].startswith("biz_")
    assert company["parent_company_id"] == COMPANY
    assert company["metadata"] == {"internal_user_id": "42"}
    owner = company["owner_user"]
    assert set(owner) == {"id", "name", "username", "profile_picture"}
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
