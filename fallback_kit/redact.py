"""Keep contact emails and API keys out of the run store and logs.

URLs of API calls carry `email=`, `mailto=`, `api_key=` and the like; a run store is
shared with colleagues and papers' supplements, so those values are replaced by
`REDACTED` before anything is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SECRET_PARAMS", "redact", "redact_url"]

SECRET_PARAMS = ("email", "mailto", "api_key", "apikey", "key", "token", "access_token",
                 "tool_email", "password", "secret")
_PARAM = re.compile(r"([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#;\s]*", re.I)
_USERINFO = re.compile(r"^(https?://)[^/@\s]+@", re.I)


def redact_url(url: str) -> str:
    """The URL with secret query values and user-info replaced by REDACTED."""
    if "=" not in url and "@" not in url:
        return url
    return _USERINFO.sub(r"\1REDACTED@", _PARAM.sub(r"\1REDACTED", url))


def redact(value: Any) -> Any:
    """Redact every URL-looking string inside a value (dicts, lists, tuples, strings)."""
    if isinstance(value, str):
        return redact_url(value) if "://" in value else value
    if isinstance(value, Mapping):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value
