"""Credentials: company API keys, and user access tokens (HS256 JWTs signed by the emulator).

Also the table of what a user token may do, by operation (scopes, and the operations that are
API-key only).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dm_bridge.emulator.errors import forbidden, unauthorized
from dm_bridge.emulator.store import new_id

# Everything a company API key may do; a token minted without scoped_actions gets all of it.
ALL_SCOPES = ("dms:read", "dms:message:manage", "dms:channel:manage", "user:profile:update")

# The scopes a token needs (all of them), per operation: the DM scopes in each SDK 2.6 method's
# "Required permissions". Operations missing here are API-key only; an empty tuple needs none.
TOKEN_SCOPES: dict[str, tuple[str, ...]] = {
    "dm_channels.create": ("dms:channel:manage",),
    "dm_channels.retrieve": ("dms:read",),
    "dm_channels.update": ("dms:channel:manage",),
    "dm_channels.list": ("dms:read",),
    "dm_channels.delete": ("dms:channel:manage",),
    "dm_members.create": ("dms:message:manage",),
    "dm_members.retrieve": ("dms:read",),
    "dm_members.update": ("dms:read",),
    "dm_members.list": ("dms:read",),
    "dm_members.delete": ("dms:read",),
    "messages.create": ("dms:message:manage",),
    "messages.retrieve": ("dms:read",),
    "messages.update": ("dms:message:manage",),
    "messages.list": ("dms:read",),
    "messages.delete": ("dms:message:manage", "dms:read"),
    "reactions.create": ("dms:read",),
    "reactions.retrieve": ("dms:read",),
    "reactions.list": ("dms:read",),
    "reactions.delete": ("dms:read",),
    # users.*: the SDK lists no required permission, so the emulator requires none.
    "users.retrieve": (),
    "users.me": (),
    "users.list": (),
    "users.update": (),
    "users.update_me": (),
    "accounts.list": (),
    "accounts.retrieve": (),
}

TOKEN_ISSUER = "whop-emulator"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a company (API key, or a token minted for the account) or a user acting
    within one company (user token). Tokens carry scopes; API keys hold every permission."""

    company_id: str
    user_id: str | None = None
    scopes: frozenset[str] = field(default_factory=lambda: frozenset(ALL_SCOPES))
    is_token: bool = False

    @property
    def is_api_key(self) -> bool:
        """Acts as the company itself (an API key or an account token): no user."""
        return self.user_id is None

    @property
    def subject(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"company:{self.company_id}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(
    secret: bytes,
    *,
    user_id: str | None,
    company_id: str,
    scopes: Iterable[str],
    expires_at: float,
) -> str:
    """A user token, or (``user_id`` None) an account token acting as the company."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": TOKEN_ISSUER,
        "sub": user_id or company_id,
        "token_type": "user" if user_id else "account",
        "company_id": company_id,
        "account_id": company_id,
        "scopes": list(scopes),
        "iat": int(time.time()),
        "exp": expires_at,
        "jti": new_id("tok_"),
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def decode_token(secret: bytes, token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise unauthorized("Malformed access token.")
    try:
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        signature = _unb64(parts[2])
    except (binascii.Error, ValueError, UnicodeError):
        raise unauthorized("Malformed access token.") from None
    expected = hmac.new(secret, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise unauthorized("Invalid access token: the signature does not match.")
    try:  # signed by us, so well-formed unless the secret leaked
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
    except (binascii.Error, ValueError, UnicodeError, RecursionError):
        raise unauthorized("Malformed access token.") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        raise unauthorized("Malformed access token.")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or not isinstance(claims.get("sub"), str):
        raise unauthorized("Malformed access token.")
    if time.time() >= exp:
        raise unauthorized("Access token expired; mint a new one.")
    if not isinstance(claims.get("company_id"), str) or not isinstance(claims.get("scopes"), list):
        raise unauthorized("Malformed access token.")
    return claims


def authenticate(header: str | None, api_keys: Mapping[str, str], secret: bytes) -> Principal:
    """Turn the Authorization header into a Principal, or raise a 401 that says why."""
    if not header or not header.strip():
        raise unauthorized(
            "Missing Authorization header; send 'Authorization: Bearer <API key or access token>'."
        )
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential:
        raise unauthorized("The Authorization header must be 'Bearer <credential>'.")
    if credential.count(".") == 2:
        claims = decode_token(secret, credential)
        return Principal(
            company_id=claims["company_id"],
            user_id=None if claims.get("token_type") == "account" else claims["sub"],
            scopes=frozenset(s for s in claims["scopes"] if isinstance(s, str)),
            is_token=True,
        )
    company_id = api_keys.get(credential)
    if company_id is None:
        raise unauthorized(
            "Unknown API key. Keys are valid only in the environment that issued them."
        )
    return Principal(company_id=company_id)


def authorize_operation(principal: Principal, operation: str) -> None:
    """The scope check for tokens (API keys hold every permission)."""
    if not principal.is_token:
        return
    if operation not in TOKEN_SCOPES:
        raise forbidden(f"Access tokens cannot call {operation}; use the company API key.")
    for scope in TOKEN_SCOPES[operation]:
        if scope not in principal.scopes:
            raise forbidden(
                f"This access token is missing the scope {scope!r} needed for {operation}."
            )
