"""The faults of the real web, their default rates per kind of host, and overrides.

Faults are decided per *site* (one URL of one work) by hashing (seed, kind, site), so
a fault is where it is, every run, whoever asks first. Each site draws at most one
permanent fault; a rate of 1.0 forces a kind ahead of every other.

Kinds and where they can happen:

- transient (the first N requests to the URL, N = 1..3, then normal answers):
  `rate_limited` (429 + Retry-After, seconds or HTTP-date, in World seconds),
  `server_error` (a 500/502/503/504 burst), `reset` (the TCP connection is reset).
  Only on the first request of a procedure: API calls, doi.org, arxiv.org/pdf/{id}.
- API answers (JSON/XML): `hang`, `slow_body`, `malformed_json`, `oversized`, `gzip_bomb`.
- doi.org: `hang`, `redirect_loop`.
- PDF files: `html_as_pdf` (an HTML page sent as application/pdf), `truncated_pdf`
  (a few KB of PDF, no %%EOF, whole body sent), `gzip_bomb`, `slow_body`, `hang`;
  and two traps for the right-paper check, off unless asked for: `wrong_paper` (a whole,
  valid PDF of another work: the location points at the wrong article) and `no_text`
  (the work's PDF as a scan, without a text layer); and `title_variant` (the work's own
  PDF printing its title otherwise than the metadata: upper case, accents, the ﬁ/ﬂ
  ligatures and a subtitle; the check must never reject it); and `volume` (a whole
  proceedings volume, many pages and other works' titles and DOIs first, the work on a
  later page: it holds the work, yet is no better than any other candidate).
- the order of a work's open locations in Unpaywall and OpenAlex: `preprint_first`
  (a trap, off unless asked for: the submitted version is listed, and is Unpaywall's
  best location, before the published one; two PDFs, different bytes, the same title).
- publisher hosts: `robots_disallow` (the PDF lies under a path robots.txt forbids),
  `blocked` (a 403 bot-challenge page on every request of that work to that host).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._hash import u01

__all__ = [
    "API_FAULTS",
    "DEFAULT_RATES",
    "FAULT_KINDS",
    "FaultRates",
    "HANG_MS",
    "ORDER_FAULTS",
    "PDF_FAULTS",
    "PDF_STILL_VALID",
    "SLOW_BODY_MS",
    "TRANSIENT_FAULTS",
]

TRANSIENT_FAULTS = ("rate_limited", "server_error", "reset")
API_FAULTS = ("hang", "slow_body", "malformed_json", "oversized", "gzip_bomb")
DOI_FAULTS = ("hang", "redirect_loop")
PDF_FAULTS = ("hang", "slow_body", "html_as_pdf", "truncated_pdf", "gzip_bomb", "wrong_paper",
              "no_text", "title_variant", "volume")
#: PDF faults that still serve the work's own, whole PDF (accepted; `no_text` and
#: `volume` unverified)
PDF_STILL_VALID = ("no_text", "title_variant", "volume")
PUBLISHER_FAULTS = ("robots_disallow", "blocked")
ORDER_FAULTS = ("preprint_first",)
FAULT_KINDS = tuple(
    dict.fromkeys(TRANSIENT_FAULTS + API_FAULTS + DOI_FAULTS + PDF_FAULTS + PUBLISHER_FAULTS
                  + ORDER_FAULTS)
)

#: a hang lasts this long in World time (x time_scale; at time_scale 0 still 600 s):
#: longer than any sane timeout, cut short when the client leaves or the server stops
HANG_MS = 600_000.0
#: a slow body trickles over this long in World time (a chunk every 2 s)
SLOW_BODY_MS = 120_000.0
SLOW_CHUNK_MS = 2_000.0

#: default rates by site class; hosts below override some
_SITE_DEFAULTS: dict[str, dict[str, float]] = {
    "api": {
        "rate_limited": 0.03, "server_error": 0.02, "reset": 0.005,
        "hang": 0.004, "slow_body": 0.003, "malformed_json": 0.004,
        "oversized": 0.002, "gzip_bomb": 0.001,
    },
    "doi": {"rate_limited": 0.01, "server_error": 0.01, "reset": 0.003,
            "hang": 0.002, "redirect_loop": 0.005},
    "arxiv_pdf": {"rate_limited": 0.02, "server_error": 0.01, "reset": 0.003},
    "pdf": {"hang": 0.003, "slow_body": 0.004, "html_as_pdf": 0.03, "truncated_pdf": 0.01,
            "gzip_bomb": 0.002},
    "publisher": {"robots_disallow": 0.03, "blocked": 0.0},  # blocked: per-publisher habit
}
_HOST_DEFAULTS: dict[str, dict[str, float]] = {
    "api.semanticscholar.org": {"rate_limited": 0.12, "server_error": 0.03},
    "www.ebi.ac.uk": {"server_error": 0.03, "hang": 0.006},
    "web.archive.org": {"server_error": 0.05, "hang": 0.02, "slow_body": 0.02,
                        "rate_limited": 0.04, "html_as_pdf": 0.08, "truncated_pdf": 0.04},
    "archive.org": {"server_error": 0.04, "hang": 0.01},
    "api.crossref.org": {"server_error": 0.03, "rate_limited": 0.02},
    "export.arxiv.org": {"rate_limited": 0.05},
    "arxiv.org": {"html_as_pdf": 0.01, "truncated_pdf": 0.002},
    "pmc.ncbi.nlm.nih.gov": {"html_as_pdf": 0.01},
    "europepmc.org": {"html_as_pdf": 0.02, "slow_body": 0.01},
}
DEFAULT_RATES: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {k: MappingProxyType(v) for k, v in _SITE_DEFAULTS.items()}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultRates:
    """Fault rates with overrides: global per kind, per host per kind, or all off.

    Built from the `faults` argument of World.build: `{"html_as_pdf": 1.0}` forces a kind
    everywhere it can happen, `{"api.unpaywall.org": {"rate_limited": 0.5}}` changes one
    host, `{"all": 0.0}` switches every fault off (later keys still apply).
    """

    overrides: Mapping[str, float] = field(default_factory=dict)
    per_host: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    scale_all: float | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> FaultRates:
        if not spec:
            return cls()
        overrides: dict[str, float] = {}
        per_host: dict[str, dict[str, float]] = {}
        scale_all: float | None = None
        for key, value in spec.items():
            if key == "all":
                scale_all = _rate(value, "faults.all")
            elif isinstance(value, Mapping):
                per_host[key] = {}
                for kind, rate in value.items():
                    _check_kind(kind, f"faults[{key!r}]")
                    per_host[key][kind] = _rate(rate, f"faults[{key!r}][{kind!r}]")
            elif key in FAULT_KINDS:
                overrides[key] = _rate(value, f"faults[{key!r}]")
            else:
                raise ValueError(
                    f"faults[{key!r}]: not a fault kind (valid: {', '.join(FAULT_KINDS)}) and"
                    " not a host with a mapping of kinds; e.g. {'html_as_pdf': 1.0} or"
                    " {'api.unpaywall.org': {'rate_limited': 0.5}}"
                )
        return cls(overrides=overrides, per_host=per_host, scale_all=scale_all)

    def rate(self, kind: str, host: str, site: str) -> float:
        """The rate of `kind` at a site of class `site` on `host`."""
        host_over = self.per_host.get(host)
        if host_over is not None and kind in host_over:
            return host_over[kind]
        if kind in self.overrides:
            return self.overrides[kind]
        if self.scale_all is not None:
            return self.scale_all
        base = _SITE_DEFAULTS.get(site, {})
        if kind not in base:
            return 0.0
        return _HOST_DEFAULTS.get(host, {}).get(kind, base[kind])

    def override(self, kind: str, host: str) -> float | None:
        """The rate set for `kind` on `host` by the overrides, or None if not overridden."""
        host_over = self.per_host.get(host)
        if host_over is not None and kind in host_over:
            return host_over[kind]
        if kind in self.overrides:
            return self.overrides[kind]
        return self.scale_all

    def draw(
        self, seed: int, host: str, site: str, key: str, kinds: tuple[str, ...]
    ) -> str | None:
        """The permanent fault at this site (or None): one independent draw per kind."""
        rates = [(k, self.rate(k, host, site)) for k in kinds]
        forced = [k for k, r in rates if r >= 1.0]
        if forced:
            return forced[0]
        for kind, rate in rates:
            if rate > 0 and u01(seed, "fault", kind, key) < rate:
                return kind
        return None

    def is_default(self) -> bool:
        return not self.overrides and not self.per_host and self.scale_all is None


def _check_kind(kind: str, where: str) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"{where}: unknown fault kind {kind!r}; valid: {', '.join(FAULT_KINDS)}")


def _rate(value: Any, where: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: rate must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{where}: rate must be in [0, 1], got {rate}")
    return rate
