"""Emails and keys never reach the recorded events."""

from __future__ import annotations

import pytest
from fakes import WORK, FakeSource, Step, fake_factory, make_plan

from fallback_kit.contracts.events import ListSink, Outcome
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.sources.base import SourceResult
from fallback_kit.web.redact import redact, redact_url


def test_redact_url_params_and_userinfo():
    """email, mailto, api_key values and user-info are replaced."""
    assert redact_url("https://api.unpaywall.org/v2/10.1/x?email=me@lab.org") == (
        "https://api.unpaywall.org/v2/10.1/x?email=REDACTED")
    assert redact_url("https://a.org/w?mailto=me@x.org&rows=2&api_key=s3cret") == (
        "https://a.org/w?mailto=REDACTED&rows=2&api_key=REDACTED")
    assert redact_url("https://user:pw@host.org/x.pdf") == "https://REDACTED@host.org/x.pdf"
    assert redact_url("https://journals.plos.org/a?id=10.1/x&type=printable") == (
        "https://journals.plos.org/a?id=10.1/x&type=printable")
    assert redact({"tried": [("https://x.org/?token=abc", "ok")]}) == {
        "tried": [("https://x.org/?token=REDACTED", "ok")]}


@pytest.mark.looptime
async def test_recorded_attempts_are_redacted():
    """An attempt whose URL and meta carry an email is recorded without it."""
    leak = SourceResult(outcome=Outcome.NONRETRYABLE, reason="http_422", status=422,
                        url="https://api.unpaywall.org/v2/10.1/x?email=me@lab.org",
                        meta={"final_url": "https://h.org/?mailto=me@lab.org"})
    src = FakeSource("unpaywall", [Step(0, leak)])
    sink = ListSink()
    o = Orchestrator(make_plan([{"name": "t", "sources": ["unpaywall"]}]),
                     sources={"unpaywall": src}, sink=sink, fetcher_factory=fake_factory)
    await o.resolve(WORK)
    attempt = sink.attempts[0]
    assert "me@lab.org" not in repr(attempt)
    assert attempt.url.endswith("email=REDACTED")
