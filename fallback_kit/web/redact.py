"""Keep contact emails and API keys out of the run store and logs.

URLs of API calls carry `email=`, `mailto=`, `api_key=` and the like; a run store is
shared with colleagues and papers' supplements, so those values are replaced by
`REDACTED` before anything is recorded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = ["SECRET_PARAMS", "RedactingFilter", "install_log_redaction", "redact", "redact_url",
           "secret_pattern"]

SECRET_PARAMS = ("email", "mailto", "api_key", "apikey", "key", "token", "access_token",
                 "tool_email", "password", "secret")
_PARAM = re.compile(r"([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#;\s]*", re.I)
_USERINFO = re.compile(r"^(https?://)[^/@\s]+@", re.I)


def secret_pattern(secrets: Iterable[str | None]) -> re.Pattern[str] | None:
    """A pattern matching each secret value (the contact email, API keys) as written,
    URL-encoded or form-encoded, in any case: a server may echo the email in a path, in
    a parameter of another name or in a message. None when there is no secret."""
    forms: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= 4:  # a too-short value would redact common text
            forms.update({secret, quote(secret), quote(secret, safe=""), quote_plus(secret)})
    if not forms:
        return None
    alternatives = sorted(forms, key=len, reverse=True)  # the longest form first
    return re.compile("|".join(re.escape(f) for f in alternatives), re.I)


def redact_url(url: str, secrets: re.Pattern[str] | None = None) -> str:
    """The URL with secret query values and user-info replaced by REDACTED, and every
    value of `secrets` (see `secret_pattern`) wherever it appears."""
    if secrets is not None:
        url = secrets.sub("REDACTED", url)
    if "=" not in url and "@" not in url:
        return url
    return _USERINFO.sub(r"\1REDACTED@", _PARAM.sub(r"\1REDACTED", url))


def redact(value: Any, secrets: re.Pattern[str] | None = None) -> Any:
    """Redact every URL-looking string inside a value (dicts, lists, tuples, strings),
    and every value of `secrets` in any string or key."""
    if isinstance(value, str):
        if secrets is not None:
            value = secrets.sub("REDACTED", value)
        return redact_url(value) if "://" in value else value
    if isinstance(value, Mapping):
        return {redact(k, secrets): redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v, secrets) for v in value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs in a record's message and arguments (httpx logs
    every request URL at INFO, `email=` included), and the registered secret values."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_secrets(self, secrets: Iterable[str | None]) -> None:
        self.secrets.update(s for s in secrets if s)
        self._pattern = secret_pattern(self.secrets)

    def _hides(self, text: str) -> bool:
        return "://" in text or (self._pattern is not None and bool(self._pattern.search(text)))

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and self._hides(record.msg):
            record.msg = redact(record.msg, self._pattern)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(
                redact(str(a), self._pattern)
                if not isinstance(a, int | float) and self._hides(str(a)) else a
                for a in args
            )
        return True


_FILTER = RedactingFilter()


def install_log_redaction(names: tuple[str, ...] = ("httpx", "httpcore", "fallback_kit"),
                          secrets: Iterable[str | None] = ()) -> None:
    """Attach the redacting filter to the loggers that may print request URLs (once);
    `secrets` (the contact email, API keys) are hidden wherever they appear."""
    _FILTER.add_secrets(secrets)
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
