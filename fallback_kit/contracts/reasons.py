"""The vocabulary of reasons: the short machine-readable word that says why a try, a
check, a download or a work ended as it did.

Every reason the package records is a `Reason` or is built by one of the functions
below (`http_reason`, `download_reason`), so `stats --by reason`, the docs and the
code agree on the spelling (there was a `not_pdf` and a `not_a_pdf`). `Reason` is a
StrEnum: it is stored, compared and printed as its plain string.

Two kinds of reason are free text on purpose: a try that raised an unexpected
exception records the exception's class name (outcome `error`), and a resolution that
found nothing says `<outcome>:<reason>` of its most telling attempt.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Reason", "download_reason", "http_reason"]


class Reason(StrEnum):
    """Why a try, a check, a download or a work ended as it did."""

    # the PDF gate's verdict on the first bytes (web/edge.py)
    OK = "ok"
    EMPTY_BODY = "empty_body"
    TRUNCATED_PDF = "truncated_pdf"
    NOT_PDF = "not_pdf"  # neither a PDF nor HTML
    HTML_INSTEAD_OF_PDF = "html_instead_of_pdf"
    BLOCKED = "blocked"  # a bot challenge or a login page
    BAD_URL = "bad_url"
    # the whole file (record/downloads.py)
    ENCRYPTED_PDF = "encrypted_pdf"
    UNREADABLE_PDF = "unreadable_pdf"
    TOO_SMALL = "too_small"
    TOO_LARGE = "too_large"
    NETWORK_ERROR = "network_error"
    ALREADY_DOWNLOADED = "already_downloaded"
    # the gates in front of a request (web/gates.py, web/edge.py)
    BREAKER_OPEN = "breaker_open"
    RATE_WAIT = "rate_wait"
    QUOTA = "quota"  # the service's daily quota for this email is used up
    HOST_CAP = "host_cap"  # the work has sent its share of requests to this host
    ROBOTS = "robots"
    OFFLINE = "offline"
    OFFLINE_METADATA_ONLY = "offline_metadata_only"
    OFFLINE_NOT_CACHED = "offline_not_cached"
    UNSAFE_URL = "unsafe_url"
    # transport and redirects
    TIMEOUT = "timeout"
    TRANSPORT_ERROR = "transport_error"
    NET_ERROR = "net_error"
    BAD_RESPONSE = "bad_response"
    REDIRECT_ERROR = "redirect_error"
    REDIRECT_LOOP = "redirect_loop"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    CONNECTION_ERROR = "connection_error"
    DNS_FAILURE = "dns_failure"  # the host's name did not resolve
    CONNECTION_REFUSED = "connection_refused"
    HTTP_TIMEOUT = "http_timeout"
    SOURCE_TIMEOUT = "source_timeout"
    # what a source found (sources/)
    NO_OA_LOCATION = "no_oa_location"
    NOT_IN_SERVICE = "not_in_service"  # the service's 404
    NO_PMCID = "no_pmcid"
    NO_PDF_LINK = "no_pdf_link"
    TDM_ONLY = "tdm_only"
    NOT_A_PUBLICATION = "not_a_publication"  # a Zenodo record that is no paper
    CLOSED_ACCESS = "closed_access"
    NO_PDF_FILE = "no_pdf_file"
    NO_API_KEY = "no_api_key"  # a source that needs the user's key has none
    NO_TDM_LINK = "no_tdm_link"  # Crossref lists no text-mining link on the publisher's API
    NO_LANDING_URL = "no_landing_url"
    NO_SNAPSHOT = "no_snapshot"
    PDF_NOT_ARCHIVED = "pdf_not_archived"
    PAYWALL = "paywall"
    # the right-paper check (web/paper_check.py): another paper, a body that does not
    # parse, a plan that wants verified PDFs only; a licence the plan does not accept
    WRONG_PAPER = "wrong_paper"
    UNVERIFIED = "unverified"
    # the orchestrator's scheduling
    WORK_DEADLINE = "work_deadline"
    NOT_STARTED = "not_started"
    SIBLING_WON = "sibling_won"
    LOCAL_FAILURE = "local_failure"  # a sibling failed on our side: no source can do better
    ATTEMPT_BUDGET = "attempt_budget"
    # a whole work (Resolution.reason)
    DEADLINE = "deadline"
    ATTEMPTS = "attempts"
    NO_SOURCE_APPLICABLE = "no_source_applicable"
    ALL_SKIPPED = "all_skipped"
    NO_PDF = "no_pdf"


def http_reason(status: int) -> str:
    """`http_<status>`: an HTTP status that ended a request."""
    return f"http_{status}"


def download_reason(reason: str) -> str:
    """`download_<reason>`: a found PDF that the whole-file download rejected."""
    return f"download_{reason}"
