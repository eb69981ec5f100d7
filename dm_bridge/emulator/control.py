"""The control API under /_emulator: reset, seed, faults, rate limits, request log, webhooks.

No auth, not rate limited, not in the request log: it exists for tests and dev tooling only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dm_bridge.emulator import validation as v
from dm_bridge.emulator.errors import ApiError, bad_request, conflict, not_found, unprocessable
from dm_bridge.emulator.faults import parse_rate_policy
from dm_bridge.emulator.operations import MAX_MEMBERS
from dm_bridge.emulator.store import iso_from_ms, ms_from_iso, new_id, now_ms

if TYPE_CHECKING:
    from dm_bridge.emulator.server import Emulator

Handler = Callable[[dict[str, Any], dict[str, str], str | None], Any]


class ControlApi:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.routes: dict[tuple[str, str], Handler] = {
            ("GET", "health"): lambda body, query, item: {"ok": True},
            ("POST", "reset"): self.reset,
            ("POST", "seed"): self.seed,
            ("POST", "faults"): self.add_fault,
            ("GET", "faults"): lambda body, query, item: {"data": self.emulator.faults.list()},
            ("DELETE", "faults"): self.clear_faults,
            ("DELETE", "faults/*"): self.remove_fault,
            ("POST", "rate_limits"): self.set_rate_limit,
            ("GET", "rate_limits"): lambda body, query, item: self.emulator.limiter.limits(),
            ("GET", "requests"): self.requests,
            ("DELETE", "requests"): self.clear_requests,
            ("POST", "webhooks"): self.add_webhook,
            ("GET", "webhooks"): self.list_webhooks,
            ("DELETE", "webhooks/*"): self.remove_webhook,
            ("GET", "webhook_deliveries"): lambda body, query, item: {
                "data": self.emulator.webhooks.deliveries()
            },
        }

    def handle(self, method: str, subpath: str, body: Any, query: dict[str, str]) -> Any:
        parts = [p for p in subpath.split("/") if p]
        item = None
        key = "/".join(parts)
        if len(parts) == 2:
            key, item = f"{parts[0]}/*", parts[1]
        handler = self.routes.get((method, key))
        if handler is None:
            known = {path for (_, path) in self.routes}
            if key in known:
                raise ApiError(405, f"{method} is not supported on /_emulator/{subpath}.")
            raise not_found(f"No such control endpoint: /_emulator/{subpath}.")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return handler(body, query, item)

    # --- state ------------------------------------------------------------------------------
    def reset(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        self.emulator.reset()
        return {"ok": True}

    def seed(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        emulator = self.emulator
        store = emulator.store
        out: dict[str, list[dict[str, Any]]] = {"users": [], "dm_channels": [], "messages": []}
        for name in out:
            if body.get(name) is not None and not isinstance(body[name], list):
                raise bad_request(f"{name} must be an array.", name)
        with emulator.lock, store.transaction():
            for index, spec in enumerate(body.get("users") or []):
                out["users"].append(self._seed_user(spec, f"users[{index}]"))
            for index, spec in enumerate(body.get("dm_channels") or []):
                out["dm_channels"].append(self._seed_channel(spec, f"dm_channels[{index}]"))
            for index, spec in enumerate(body.get("messages") or []):
                message, channel = self._seed_message(spec, f"messages[{index}]")
                out["messages"].append(store.message_json(message, channel["company_id"]))
        return out

    def _seed_user(self, spec: Any, where: str) -> dict[str, Any]:
        store = self.emulator.store
        if not isinstance(spec, dict):
            raise bad_request(f"{where} must be an object.")
        username = v.require_str(spec, "username")
        user_id = v.optional_str(spec, "id")
        fields: dict[str, str | None] = {
            name: value if v.present(value := v.optional_str(spec, name)) else None
            for name in ("name", "email", "bio")
        }
        picture = v.optional_str(spec, "profile_picture_url")
        if v.present(user_id) and user_id is not None:
            if not user_id.startswith("user_"):
                raise unprocessable(f"{where}.id must start with 'user_'.", "id")
            if store.user(user_id) is not None:
                raise conflict(f"{where}: user {user_id} already exists.", "id")
        if store.one("SELECT 1 FROM users WHERE username = ?", [username]):
            raise conflict(f"{where}: username {username!r} is taken.", "username")
        user = store.create_user(
            user_id=user_id if v.present(user_id) else None,
            username=username,
            name=fields["name"],
            email=fields["email"],
            bio=fields["bio"],
            profile_picture_url=picture if v.present(picture) else None,
        )
        return store.user_json(user)

    def _seed_channel(self, spec: Any, where: str) -> dict[str, Any]:
        emulator = self.emulator
        store = emulator.store
        if not isinstance(spec, dict):
            raise bad_request(f"{where} must be an object.")
        refs = v.require_str_list(spec, "member_user_ids")
        company_id = v.company_param(spec) or emulator.default_company_id
        if store.company(company_id) is None:
            raise unprocessable(f"{where}: unknown company {company_id}.", "company_id")
        channel_id = v.optional_str(spec, "id")
        if (
            v.present(channel_id)
            and channel_id is not None
            and store.channel(channel_id) is not None
        ):
            raise conflict(f"{where}: channel {channel_id} already exists.", "id")
        name = v.optional_str(spec, "custom_name")
        creator = v.optional_str(spec, "creator_user_id")
        user_ids = []
        for ref in refs:
            user = store.resolve_user(ref)
            if user is None:
                raise unprocessable(f"{where}: unknown user {ref!r}.", "member_user_ids")
            if user["id"] not in user_ids:
                user_ids.append(user["id"])
        if len(user_ids) > MAX_MEMBERS:
            raise unprocessable(f"{where}: at most {MAX_MEMBERS} members.", "member_user_ids")
        channel = store.create_channel(
            company_id=company_id,
            user_ids=user_ids,
            name=name if v.present(name) else None,
            creator_user_id=creator if v.present(creator) else None,
            channel_id=channel_id if v.present(channel_id) else None,
        )
        return store.channel_json(channel)

    def _seed_message(self, spec: Any, where: str) -> Any:
        store = self.emulator.store
        if not isinstance(spec, dict):
            raise bad_request(f"{where} must be an object.")
        channel_id = v.require_str(spec, "channel_id")
        user_ref = v.require_str(spec, "user_id")
        content = v.require_str(spec, "content")
        created_at = v.optional_str(spec, "created_at")
        message_type = v.choice(spec, "message_type", ("regular", "system", "automated"))
        channel = store.channel(channel_id)
        if channel is None:
            raise unprocessable(f"{where}: unknown channel {channel_id}.", "channel_id")
        user = store.resolve_user(user_ref)
        if user is None:
            raise unprocessable(f"{where}: unknown user {user_ref!r}.", "user_id")
        created_ms = None
        if v.present(created_at) and created_at is not None:
            try:
                created_ms = ms_from_iso(created_at)
            except ValueError:
                raise bad_request(f"{where}.created_at must be ISO 8601.", "created_at") from None
        message = store.create_message(
            channel=channel,
            user_id=user["id"],
            content=content,
            message_type=message_type if v.present(message_type) else "regular",
            created_ms=created_ms,
        )
        return message, channel

    # --- faults and rate limits ----------------------------------------------------------------
    def add_fault(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        return {"id": self.emulator.faults.add(body).id}

    def clear_faults(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        self.emulator.faults.clear()
        return {"ok": True}

    def remove_fault(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        if not self.emulator.faults.remove(item or ""):
            raise not_found(f"Fault {item} not found.")
        return {"ok": True}

    def set_rate_limit(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        """``{limit|per_minute?, window_seconds?, model?, burst?, style?, operation?}``: change
        the default policy, or one operation's (its unset fields follow the default)."""
        changes = parse_rate_policy(body)
        if not changes:
            raise bad_request(
                "Give at least one of: limit (or per_minute), window_seconds, model, burst, style.",
                "limit",
            )
        operation = body.get("operation")
        if operation is not None and (
            not isinstance(operation, str) or operation not in self.emulator.faults.known_operations
        ):
            raise unprocessable(f"Unknown operation {operation!r}.", "operation")
        self.emulator.limiter.configure(changes, operation)
        return self.emulator.limiter.limits()

    # --- request log ----------------------------------------------------------------------------
    def requests(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        return {"data": self.emulator.request_log.entries(query.get("operation") or None)}

    def clear_requests(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        self.emulator.request_log.clear()
        return {"ok": True}

    # --- webhooks -------------------------------------------------------------------------------
    def add_webhook(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        url = v.require_str(body, "url")
        if not url.startswith(("http://", "https://")):
            raise unprocessable("url must be an http(s) URL.", "url")
        secret = v.require_str(body, "secret")
        events = v.optional_str_list(body, "events")
        delays = body.get("retry_delays")
        if delays is not None and (
            not isinstance(delays, list)
            or not all(
                isinstance(d, int | float) and not isinstance(d, bool) and d >= 0 for d in delays
            )
        ):
            raise bad_request(
                "retry_delays must be an array of non-negative numbers.", "retry_delays"
            )
        webhook_id = new_id("hook_")
        store = self.emulator.store
        with self.emulator.lock, store.transaction():
            store.insert(
                "webhooks",
                {
                    "id": webhook_id,
                    "url": url,
                    "secret": secret,
                    "events": json.dumps(events) if v.present(events) else None,
                    "retry_delays": json.dumps(delays) if delays is not None else None,
                    "created_at": iso_from_ms(now_ms()),
                },
            )
        return {"id": webhook_id}

    def list_webhooks(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        return {"data": [e.to_json() for e in self.emulator.webhook_endpoints()]}

    def remove_webhook(self, body: dict[str, Any], query: dict[str, str], item: str | None) -> Any:
        with self.emulator.lock, self.emulator.store.transaction():
            deleted = self.emulator.store.run("DELETE FROM webhooks WHERE id = ?", [item]).rowcount
        if not deleted:
            raise not_found(f"Webhook {item} not found.")
        return {"ok": True}
