"""The web edge: one gated path for every request.

Gates (breaker, rate limit, offline, robots), the SSRF guard, size caps, redirect
policy and request counters; the HTTP client, landing-page parsing and redaction.
"""
