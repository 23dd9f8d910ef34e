"""Secrets out of text: URL passwords and secret parameters, masked wherever text is shown.

Pure and standard-library only, so the lowest layer (settings messages) and every output path
above it share one rule. `newsworker.worker.output` adds the settings' own secret values.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "***"

# scheme://userinfo@ — userinfo runs to the last "@" before the path, so an unencoded "@" in a
# password is masked whole; quotes and brackets end it, so repr() and markup stay intact.
_USERINFO = re.compile(
    r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^/?#\s'\"<>\[\]]*)@", re.IGNORECASE
)
_SECRET_PARAMS = re.compile(
    r"(?i)([?&;](?:token|access_token|key|apikey|api_key|secret|password|passwd|sig|signature)=)"
    r"[^&#\s'\"]+"
)
# libpq keyword strings: "host=db password=s3cret".
_KEYWORD_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|[^\s'\"]+)")


# A userinfo with no password this long is a token ("https://ghp_...@host"), not a user name.
TOKEN_LENGTH = 16


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match.group("scheme"), match.group("userinfo")
    user, colon, _password = userinfo.partition(":")
    if colon:
        return f"{scheme}{user}:{MASK}@"
    return f"{scheme}{MASK}@" if len(userinfo) >= TOKEN_LENGTH else match.group()


def redact_urls(text: str) -> str:
    """Mask URL passwords (`postgresql://u:***@host/db`) and secret query or keyword values."""
    if "=" not in text and "@" not in text:
        return text
    text = _USERINFO.sub(_mask_userinfo, text)
    text = _SECRET_PARAMS.sub(rf"\1{MASK}", text)
    return _KEYWORD_PASSWORD.sub(rf"\1{MASK}", text)


def url_password(url: str | None) -> list[str]:
    """The password in a URL's userinfo, as written and decoded (empty when there is none)."""
    if not url:
        return []
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
