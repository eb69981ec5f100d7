"""One-click unsubscribe from reminder emails (RFC 8058), authenticated by a signed link.

``GET`` shows a confirmation button and changes nothing (link scanners and previews fetch
links). ``POST`` turns the user's reminders off: it is what mail clients send for
``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` — without cookies, so without a session
or a CSRF token. The signature (scoped by its salt, expiring after
``REMINDER_UNSUBSCRIBE_MAX_AGE``) is the authentication, and the only thing it can do is this.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import ReminderPreference
from .services import reminders

TEMPLATE = "dm_bridge/email/unsubscribe.html"


@csrf_exempt  # RFC 8058: the POST comes from a mail client; the signed token authenticates it
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    user = reminders.user_for_unsubscribe_token(token)
    if user is None:
        return render(request, TEMPLATE, {"invalid": True}, status=400)
    if request.method == "POST":
        reminders.set_reminder_frequency(user, ReminderPreference.Frequency.OFF)
        return render(request, TEMPLATE, {"done": True})
    response = render(request, TEMPLATE, {})
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response
