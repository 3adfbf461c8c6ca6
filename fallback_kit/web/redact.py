"""Keep contact emails and API keys out of the run store and logs.

URLs of API calls carry `email=`, `mailto=`, `api_key=` and the like; a run store is
shared with colleagues and papers' supplements, so those values are replaced by
`REDACTED` before anything is recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SECRET_PARAMS", "RedactingFilter", "install_log_redaction", "redact", "redact_url"]

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


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs in a record's message and arguments (httpx logs
    every request URL at INFO, `email=` included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "://" in record.msg:
            record.msg = redact(record.msg)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                redact(str(a)) if "://" in str(a) and not isinstance(a, int | float) else a
                for a in args
            )
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: tuple[str, ...] = ("httpx", "httpcore", "fallback_kit")) -> None:
    """Attach the redacting filter to the loggers that may print request URLs (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
