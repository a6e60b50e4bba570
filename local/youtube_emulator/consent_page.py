"""The pages of the authorization endpoint: Google's account chooser and consent screen on one page (a
person or a browser test picks a channel and clicks "Allow" or "Deny"), and its error page."""

from __future__ import annotations

from html import escape
from typing import Final

from local.youtube_emulator.live import Channel
from local.youtube_emulator.oauth import KNOWN_SCOPES, Account, PendingConsent

CONSENT_ACTION: Final = "/o/oauth2/v2/auth/consent"
_STYLE: Final = """
body { font-family: system-ui, sans-serif; background: #f1f3f4; margin: 0; }
main { max-width: 28rem; margin: 3rem auto; background: #fff; border-radius: 8px; padding: 2rem; }
h1 { font-size: 1.4rem; font-weight: 400; }
fieldset { border: 1px solid #dadce0; border-radius: 8px; margin: 1rem 0; }
label { display: block; padding: .4rem 0; }
.actions { display: flex; justify-content: flex-end; gap: 1rem; margin-top: 1.5rem; }
button { font-size: 1rem; padding: .5rem 1.5rem; border-radius: 4px; border: 1px solid #dadce0; }
button[value=allow] { background: #1a73e8; color: #fff; border-color: #1a73e8; }
.note { color: #5f6368; font-size: .85rem; }
"""


def consent_page(consent: PendingConsent, accounts: list[tuple[Account, Channel]]) -> str:
    choices = "".join(
        f'<label><input type="radio" name="account" value="{escape(account.email)}"'
        f"{' checked' if index == 0 else ''}> {escape(channel.title)} ({escape(account.email)})</label>"
        for index, (account, channel) in enumerate(accounts)
    )
    scopes = "".join(f"<li>{escape(KNOWN_SCOPES.get(scope, scope))}</li>" for scope in consent.scopes)
    app = escape(consent.client.name)
    return _page(
        f"Sign in - {app} wants access",
        f"""<h1>{app} wants to access your Google Account</h1>
<form method="post" action="{CONSENT_ACTION}">
<input type="hidden" name="consent" value="{escape(consent.consent_id)}">
<fieldset><legend>Choose an account</legend>{choices}</fieldset>
<p>This will allow {app} to:</p>
<ul>{scopes}</ul>
<p class="note">Redirects to {escape(consent.redirect_uri)}.
This is Playout's YouTube emulator, not Google.</p>
<div class="actions">
<button type="submit" name="decision" value="deny">Deny</button>
<button type="submit" name="decision" value="allow">Allow</button>
</div>
</form>""",
    )


def error_page(error: str, description: str, status: int) -> str:
    return _page(
        "Error",
        f"""<h1>Access blocked: this app's request is invalid</h1>
<p><strong>Error {status}: {escape(error)}</strong></p>
<p>{escape(description)}</p>""",
    )


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>
<body><main>{body}</main></body>
</html>
"""
