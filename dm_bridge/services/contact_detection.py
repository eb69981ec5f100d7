"""Contact-info detection on incoming messages: emails, phone numbers and links off the site.

``detect(text)`` is pure and deterministic (no I/O, no randomness, no settings read except
the allowlist passed in): it normalises the common evasions first, then matches. The
normalisation, in order:

1. Unicode NFKC (full-width ``＠``/``．``/digits become ASCII), other scripts' decimal digits
   (Arabic-Indic, Devanagari, …) become ASCII digits, zero-width characters are dropped, and
   everything is lower-cased.
2. A run of three or more spelled-out digits ("four one five", "zero seven nine") becomes
   those digits, joined.
3. A run of ten or more single digits with one separator each ("4 1 5 5 5 …") is joined.

Then: an email is ``local AT domain DOT tld`` where AT is ``@``, ``at``, ``(at)``, ``[at]``
and DOT is ``.``, ``dot``, ``(dot)``, ``[.]``; "name at gmail" (a known mail provider without
its TLD) counts too. A link is a scheme (``http``, ``hxxp``), ``www.`` or a bare domain with a
common TLD (also spelled "example dot com" or "example[.]com"), unless its host is on the
allowlist. A phone number is 10–15 digits in at most five groups (or 8+ after ``+``) that is
not an order/tracking number, not part of a longer digit run and not an evenly spaced list
such as sizes or years ("36 38 40 42 44").

``check_message`` is the webhook reaction (``CONTACT_DETECTION``: ``off`` / ``flag`` /
``warn``): it files a detector report into the moderation queue and, in ``warn``, posts
``CONTACT_WARNING_MESSAGE`` in the DM once per message.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from whop_sdk import PostChatMessageCreatedPayload

from ..conf import dm_bridge_settings
from ..exceptions import DmBridgeError
from ..models import DmChannel

logger = logging.getLogger("dm_bridge")

EMAIL = "email"
PHONE = "phone"
LINK = "link"
KINDS = (EMAIL, PHONE, LINK)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_DIGIT_WORD = "|".join(_DIGIT_WORDS)
_SPELLED_RUN = re.compile(rf"\b(?:(?:{_DIGIT_WORD})\b[\s,.\-]*){{3,}}")
_SPACED_DIGITS = re.compile(r"(?<![\d.,])\d(?:[ .\-]\d){9,}(?![\d])")

# Common TLDs only: a bare "word.tld" is a link only with one of these (keeps "e.g", "3.5",
# "photo.jpg" and "next.js" out). Messenger short links are matched on their own.
_TLDS = (
    "com|net|org|info|biz|io|co|me|ly|gg|tv|app|dev|shop|store|online|site|xyz|link|page|"
    "uk|de|fr|es|nl|ru|ca|au|ch|se|pl|br|mx|ar|cz|at|eu|us"
)
_MAIL_PROVIDERS = "gmail|googlemail|yahoo|hotmail|outlook|live|icloud|aol|proton|protonmail|gmx"
_AT = r"(?:\s*@\s*|\s*[(\[{]\s*at\s*[)\]}]\s*)"
_DOT = r"(?:\s*\.\s*|\s*[(\[{]\s*(?:dot|\.)\s*[)\]}]\s*|\s+dot\s+)"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LOCAL = rf"(?<![\w.])[a-z0-9][a-z0-9_%+-]*(?:{_DOT}[a-z0-9_%+-]+)*"
# A plain word "at" is everyday English ("pay at venmo.com"): there only a mail provider's
# domain makes an email; the rest of such text is still caught as a link.
_EMAIL = re.compile(
    rf"{_LOCAL}{_AT}(?:{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}(?:{_TLDS})\b|(?:{_MAIL_PROVIDERS})\b)"
    rf"|{_LOCAL}\s+at\s+(?:{_MAIL_PROVIDERS})\b(?:{_DOT}{_LABEL})*"
)
_URL_SCHEME = re.compile(r"\b(?:h[tx]{2}ps?|ftp)\s*:\s*/\s*/\s*([^\s/?#]+)")
_WWW = re.compile(rf"\bwww{_DOT}((?:{_LABEL}{_DOT})*{_LABEL})")
_BARE_DOMAIN = re.compile(
    rf"(?<![\w@.])((?:{_LABEL}(?:\.|\[\.\]|\(\.\)|\s*[(\[{{]dot[)\]}}]\s*|\s+dot\s+))+(?:{_TLDS}))"
    r"(?![\w-])"
)
_MESSENGER = re.compile(r"\b(?:wa\.me|t\.me|telegram\.me|m\.me|signal\.me|line\.me)/\S+")
_DOT_SPELLINGS = re.compile(rf"{_DOT}")
_PHONE = re.compile(r"(?<![\w#$€£/.,-])(\+\s?)?\(?\d[\d\s.\-()]{6,}\d\)?(?![\w])")
_GROUP = re.compile(r"\d+")
# "order #123…", "tracking number is 9400…": a keyword shortly before, in the same sentence.
_NOT_A_PHONE_BEFORE = re.compile(
    r"(?:#|\b(?:order|invoice|tracking|track|ref|reference|sku|item|model|serial|part|no|qty|"
    r"receipt|transaction|id|iban|account|acct)\b)[^.!?\n\d]{0,16}$"
)


@dataclass(frozen=True)
class Detection:
    """What ``detect`` found: the kinds (a sorted tuple, e.g. ``("email", "link")``) and the
    matched snippets of the *normalised* text, for the moderator's note and tests."""

    kinds: tuple[str, ...]
    matches: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.kinds)


def normalize(text: str) -> str:
    """The text with the evasions in the module docstring undone (lower-cased)."""
    text = unicodedata.normalize("NFKC", text or "").translate(_ZERO_WIDTH)
    text = "".join(_ascii_digit(ch) for ch in text).lower()
    text = _SPELLED_RUN.sub(_join_spelled, text)
    return _SPACED_DIGITS.sub(lambda m: re.sub(r"\D", "", m.group()), text)


def detect(text: str, allowed_domains: Iterable[str] = ()) -> Detection:
    """Emails, phone numbers and links (outside ``allowed_domains`` and their subdomains)."""
    allowed = tuple(d.lower().strip().lstrip(".") for d in allowed_domains if d.strip())
    norm = normalize(text)
    found: dict[str, list[str]] = {}
    emails = [m.group() for m in _EMAIL.finditer(norm)]
    if emails:
        found[EMAIL] = emails
    # Links: blank out the emails first so their domains do not count as links too.
    rest = _EMAIL.sub(" ", norm)
    links = [m.group() for m in _MESSENGER.finditer(rest)]
    rest = _MESSENGER.sub(" ", rest)  # a wa.me/<number> link is one finding, not two
    for pattern in (_URL_SCHEME, _WWW, _BARE_DOMAIN):
        for m in pattern.finditer(rest):
            host = _DOT_SPELLINGS.sub(".", m.group(1)).strip(". ")
            if not _is_allowed(host, allowed):
                links.append(m.group())
    if links:
        found[LINK] = links
    phones = [m.group().strip() for m in _PHONE.finditer(rest) if _looks_like_phone(rest, m)]
    if phones:
        found[PHONE] = phones
    kinds = tuple(sorted(found))
    return Detection(kinds=kinds, matches=tuple(s for k in kinds for s in found[k]))


def allowed_domains() -> list[str]:
    """``CONTACT_DETECTION_ALLOWED_DOMAINS`` plus the host of ``SITE_URL`` (the site itself)."""
    domains = [str(d) for d in dm_bridge_settings.CONTACT_DETECTION_ALLOWED_DOMAINS]
    site = urlsplit(str(dm_bridge_settings.SITE_URL or "")).hostname
    if site:
        domains.append(site)
    return domains


def check_message(
    channels: list[DmChannel], payload: PostChatMessageCreatedPayload, author_user_ids: set[Any]
) -> Detection | None:
    """React to one new message (called from ``incoming.message_received``).

    Only messages by local users are checked: the app's own messages (context notes, the
    reminder below) and unknown authors are not. Returns what was found (None when off or
    not checked).
    """
    mode = dm_bridge_settings.CONTACT_DETECTION
    message = payload.data.message
    if mode == "off" or not author_user_ids or not (message.content or "").strip():
        return None
    found = detect(message.content or "", allowed_domains())
    if not found:
        return found
    from .moderation import file_report  # moderation imports channels; keep import order flat

    note = "Automatic: the message seems to contain " + ", ".join(
        {EMAIL: "an email address", PHONE: "a phone number", LINK: "a link"}[k] for k in found.kinds
    )
    for channel in channels:
        try:
            file_report(
                channel,
                category="off_platform",
                note=note + ".",
                whop_message_id=message.id,
                source="detector",
            )
        except DmBridgeError as exc:  # e.g. an odd message ID: never fail the webhook for it
            logger.warning("contact report on channel %s not filed: %s", channel.pk, exc)
            continue
        if mode == "warn":
            _warn(channel, message.id)
    return found


def _warn(channel: DmChannel, message_id: str) -> None:
    from .channels import post_message

    try:
        post_message(
            channel,
            str(dm_bridge_settings.CONTACT_WARNING_MESSAGE),
            dedupe_key=f"contact-warning:{message_id}"[:200],
        )
    except DmBridgeError as exc:  # e.g. the DM was closed meanwhile: the report still stands
        logger.info("no contact reminder in channel %s: %s", channel.pk, exc)


def _ascii_digit(ch: str) -> str:
    if ch.isdigit() and not ch.isascii():
        value = unicodedata.decimal(ch, None)
        if value is not None:
            return str(value)
    return ch


def _join_spelled(match: re.Match[str]) -> str:
    words = re.findall(_DIGIT_WORD, match.group())
    return "".join(_DIGIT_WORDS[w] for w in words) + " "


def _is_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.split(":")[0].split("@")[-1].rstrip(".")
    return any(host == d or host.endswith("." + d) for d in allowed)


def _looks_like_phone(text: str, match: re.Match[str]) -> bool:
    candidate = match.group()
    groups = _GROUP.findall(candidate)
    digits = sum(len(g) for g in groups)
    plus = bool(match.group(1))
    if not (10 <= digits <= 15 or (plus and 8 <= digits <= 15)) or len(groups) > 5:
        return False
    if re.search(r"[\s.\-()]{3,}", candidate):  # phones use one separator between groups
        return False
    if _NOT_A_PHONE_BEFORE.search(text[max(0, match.start() - 30) : match.start()]):
        return False
    # Single digits apart are a list ("1 2 3 …"), unless they lead (+1 415 …) or were joined.
    if any(len(g) == 1 for g in groups[1:]):
        return False
    # An evenly spaced list of same-length numbers: sizes, years, quantities.
    if len(groups) >= 3 and len({len(g) for g in groups}) == 1:
        steps = {int(b) - int(a) for a, b in zip(groups, groups[1:], strict=False)}
        if len(steps) == 1 and 0 < abs(next(iter(steps))) <= 10:
            return False
    # Decimals ("12.5 13.5") are prices and sizes: a phone's dot groups are 2+ digits wide.
    return not re.search(r"\d\.\d(?!\d)", candidate)
