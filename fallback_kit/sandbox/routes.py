"""URL -> Node: what each simulated host answers, decided from the World's facts.

One function per host. Nodes carry no bytes: `render.py` turns them into responses,
`truth.py` walks them. The `key` of a node names the URL for delays and transient
counts without the parameters a client adds for politeness (email, mailto, tool).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from ._hash import u01
from .platforms import alias
from .publishers import PUBLISHER_HOSTS, PUBLISHERS, Publisher

if TYPE_CHECKING:  # pragma: no cover
    from .world import World

from .model import (
    HAL_BASE,
    ROBOTS_PREFIX,
    SERVICE_HOSTS,
    ZENODO_BASE,
    Node,
    pii_index,
)

Q = list[tuple[str, str]]


def _q(qs: Q, name: str) -> str | None:
    for k, v in qs:
        if k == name:
            return v
    return None


def _not_found(host: str, path: str, variant: str = "html") -> Node:
    return Node("error", variant, status=404, key=host + path, host=host)


def route(world: World, host: str, path: str, qs: Q, raw_query: str) -> Node:
    handler = _HANDLERS.get(host)
    if handler is not None:
        return handler(world, host, path, qs, raw_query)
    return _publisher(world, host, path, qs, raw_query)


# -- Unpaywall --------------------------------------------------------------------------------
def _unpaywall(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if not path.startswith("/v2/") or len(path) <= 4:
        return _not_found(host, path, "unpaywall")
    doi = unquote(path[4:]).lower()
    key = f"{host}/v2/{doi}"
    email = _q(qs, "email")
    if not email or "@" not in email or email.endswith("@example.com"):
        return Node("error", "unpaywall_email", status=422, key=key, host=host, data=doi)
    idx = world.idx_by_doi(doi)
    if idx is None or not world.facts(idx).unpaywall:
        node = Node("error", "unpaywall", status=404, key=key, host=host, data=doi)
    else:
        node = Node("json", "unpaywall", idx=idx, key=key, host=host, role="api")
    return world.api_faults(node)


# -- arXiv ---------------------------------------------------------------------------------------
def _arxiv(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.startswith("/abs/"):
        idx = world.idx_by_arxiv(path[5:])
        if idx is None:
            return _not_found(host, path)
        return Node("html", "arxiv_abs", idx=idx, key=host + path, host=host, role="landing")
    if path.startswith("/pdf/"):
        ident = path[5:]
        idx = world.idx_by_arxiv(ident)
        if idx is None:
            return _not_found(host, path)
        node = Node("pdf", "arxiv", idx=idx, key=host + path, host=host, role="pdf",
                    data=True)
        world.pdf_fault(node, f"arxiv:{idx}")
        if not ident.endswith(".pdf"):
            world.transients(node, "arxiv_pdf")
        return node
    return _not_found(host, path)


def _arxiv_export(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.rstrip("/") != "/api/query":
        return _not_found(host, path)
    ids = [i for i in (_q(qs, "id_list") or "").split(",") if i.strip()]
    found = [i for i in (world.idx_by_arxiv(x) for x in ids) if i is not None]
    node = Node("atom", "arxiv_query", key=f"{host}/api/query?id_list={','.join(ids)}",
                host=host, role="api", data=found)
    return world.api_faults(node)


# -- NCBI: idconv and the old PMC paths ---------------------------------------------------------
def _ncbi(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.rstrip("/") == "/pmc/utils/idconv/v1.0":
        ids = _q(qs, "ids") or ""
        node = Node("json", "idconv", key=f"{host}/pmc/utils/idconv/v1.0/?ids={ids}",
                    host=host, role="api", data=[i.strip() for i in ids.split(",") if i.strip()])
        return world.api_faults(node)
    if path.startswith("/pmc/articles/"):
        rest = path[len("/pmc/articles/"):]
        if rest.startswith("pmid/"):
            pmid, _, tail = rest[5:].partition("/")
            idx = world.idx_by_pmid(pmid)
            pmcid = world.facts(idx).pmcid if idx is not None else None
            if idx is None or pmcid is None:
                return _not_found(host, path)
            target = f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" + (
                "pdf/" if tail.startswith("pdf") else "")
            return Node("redirect", "moved", status=301, idx=idx, location=target,
                        key=host + path, host=host)
        pmcid, _, tail = rest.partition("/")
        idx = world.idx_by_pmcid(pmcid)
        if idx is None:
            return _not_found(host, path)
        pmcid = world.facts(idx).pmcid or pmcid
        target = f"https://pmc.ncbi.nlm.nih.gov/articles/{pmcid}/" + (
            "pdf/" if tail.startswith("pdf") else "")
        return Node("redirect", "moved", status=301, idx=idx, location=target,
                    key=host + path, host=host)
    return _not_found(host, path)


def _pmc(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if not path.startswith("/articles/"):
        return _not_found(host, path)
    pmcid, _, tail = path[len("/articles/"):].partition("/")
    idx = world.idx_by_pmcid(pmcid)
    if idx is None:
        return _not_found(host, path)
    f = world.facts(idx)
    if tail == "":
        return Node("html", "pmc_article", idx=idx, key=host + path, host=host, role="repo")
    if tail in ("pdf", "pdf/"):
        if not f.pmc_pdf:
            return _not_found(host, path)
        return Node("redirect", "found", status=302, idx=idx,
                    location=f"https://pmc.ncbi.nlm.nih.gov/articles/{f.pmcid}/pdf/{f.pmc_file}",
                    key=host + path, host=host, role="pdf")
    if tail.startswith("pdf/") and f.pmc_pdf and tail[4:] == f.pmc_file:
        node = Node("pdf", "pmc", idx=idx, key=host + path, host=host, role="pdf", data=True)
        return world.pdf_fault(node, f"pmc:{idx}")
    return _not_found(host, path)


# -- doi.org and the publisher hops ------------------------------------------------------------
def _doi(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    doi = unquote(path.lstrip("/")).lower()
    key = f"doi.org/{doi}"
    idx = world.idx_by_doi(doi)
    if idx is None or not doi.startswith("10."):
        node = Node("error", "doi", status=404, key=key, host="doi.org", data=doi)
        return world.transients(node, "doi")
    f = world.facts(idx)
    if f.landing_url is None:
        node = Node("error", "doi", status=404, key=key, host="doi.org", data=doi)
        return world.transients(node, "doi")
    first = f.doi_hops[0] if f.doi_hops else f.landing_url
    node = Node("redirect", "doi", status=302, idx=idx, location=first, key=key,
                host="doi.org", role="doi")
    world.api_faults(node, "doi")
    if node.fault == "redirect_loop":
        node.location = _loop_url(f.pub_host or "doi.org", doi, 0)
    return node


def _loop_url(host: str, doi: str, n: int) -> str:
    return f"https://{host}/action/cookieAbsent?doi={doi}&n={n % 2}"


def _linkinghub(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.startswith("/retrieve/pii/"):
        pii = path[len("/retrieve/pii/"):]
        idx = pii_index(pii)
        if idx is not None and idx < len(world.works) and world.facts(idx).key == pii:
            f = world.facts(idx)
            return Node("redirect", "hop", status=302, idx=idx, location=f.landing_url,
                        key=host + path, host=host, role="hop")
    return _not_found(host, path)


def _sd_assets(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    pii = path.strip("/").split("/", 1)[0]
    idx = pii_index(pii)
    if idx is None or idx >= len(world.works):
        return _not_found(host, path)
    f = world.facts(idx)
    if f.key != pii or not path.endswith(f"1-s2.0-{pii}-main.pdf"):
        return _not_found(host, path)
    node = Node("pdf", "publisher", idx=idx, key=host + path, host=host, role="pdf",
                data=True)
    return world.pdf_fault(node, f"pub:{idx}")


# -- publishers (and any other host a work's landing_url names) ---------------------------------
def _match(target: str, tpl: tuple[str, str], host: str) -> str | None:
    prefix, suffix = tpl[0], tpl[1].replace("{host}", host)
    if target.startswith(prefix) and target.endswith(suffix) and len(target) > len(prefix) + len(
            suffix):
        return target[len(prefix):len(target) - len(suffix)] if suffix else target[len(prefix):]
    return None


def _key_index(world: World, pub: Publisher, key: str) -> int | None:
    if pub.key_kind == "pii":
        idx = pii_index(key)
    elif pub.key_kind == "index":
        idx = int(key) if key.isdigit() else None
    else:
        idx = world.idx_by_doi(unquote(key))
    return idx if idx is not None and idx < len(world.works) else None


def _publisher(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    target = path + ("?" + raw if raw else "")
    key = host + target
    idx = world.idx_by_landing(f"https://{host}{target}")
    if idx is not None:
        return _landing(world, world.facts(idx), host, key)
    if path == "/action/cookieAbsent":
        doi = (_q(qs, "doi") or "").lower()
        n = int(_q(qs, "n") or "0")
        idx = world.idx_by_doi(doi)
        if idx is None:
            return _not_found(host, path)
        return Node("redirect", "loop", status=302, idx=idx, location=_loop_url(host, doi, n + 1),
                    key=key, host=host, role="hop")
    if path.startswith("/resolve/doi/"):
        idx = world.idx_by_doi(unquote(path[len("/resolve/doi/"):]))
        if idx is not None and world.facts(idx).pub_host == host:
            f = world.facts(idx)
            return Node("redirect", "hop", status=301, idx=idx, location=f.landing_url,
                        key=key, host=host, role="hop")
        return _not_found(host, path)
    shaped = _shaped(world, host, target, key)  # a platform's own page, PDF or reader URL
    if shaped is not None:
        return shaped
    restricted = target.startswith(ROBOTS_PREFIX + "/")
    if restricted:
        target = target[len(ROBOTS_PREFIX):]
    pkey = PUBLISHER_HOSTS.get(host)
    candidates = [PUBLISHERS[pkey]] if pkey else []
    candidates.append(PUBLISHERS["generic"])
    for pub in candidates:
        for role, tpl in (("pdf", pub.pdf), ("viewer", pub.viewer), ("landing", pub.landing)):
            if tpl is None or (role == "landing" and not tpl[0]):
                continue
            k = _match(target, tpl, host)
            if k is None:
                continue
            idx = _key_index(world, pub, k)
            if idx is None:
                continue
            f = world.facts(idx)
            if f.pub_host != host or f.key != (unquote(k).lower() if pub.key_kind == "doi"
                                               else k):
                continue
            if role == "pdf":
                if restricted != f.robots:
                    continue
                return _pdf(world, f, host, key)
            if restricted:
                continue
            if role == "viewer":
                if f.blocked:
                    return _challenge(f, host, key, "viewer")
                return Node("html", "viewer", idx=idx, key=key, host=host, role="viewer")
            return _landing(world, f, host, key)
    return _not_found(host, path)


def _shaped(world: World, host: str, target: str, key: str) -> Node | None:
    """What a platform's own URL answers (`platforms.alias`): its landing page, the PDF,
    an HTML reader, or HAL's `/document`, a 302 to the file."""
    shaped = alias(world, host, target)
    if shaped is None:
        return None
    f = world.facts(shaped[0])
    if shaped[1] == "pdf":
        node = _pdf(world, f, host, key)
        if f.platform == "hal" and node.kind == "pdf":
            node.data = False  # HAL's files ignore Range, as its repository copies do
        return node
    if shaped[1] == "landing":
        return _landing(world, f, host, key)
    if shaped[1] == "document":
        return Node("redirect", "found", status=302, idx=f.idx, location=f.pdf_url, key=key,
                    host=host, role="pdf")
    if f.blocked:
        return _challenge(f, host, key, "viewer")
    return Node("html", "viewer", idx=f.idx, key=key, host=host, role="viewer")


def _challenge(f, host: str, key: str, role: str) -> Node:  # type: ignore[no-untyped-def]
    return Node("html", "challenge", status=403, idx=f.idx, key=key, host=host, role=role)


def _landing(world: World, f, host: str, key: str) -> Node:  # type: ignore[no-untyped-def]
    if f.blocked:
        return _challenge(f, host, key, "landing")
    return Node("html", "landing", idx=f.idx, key=key, host=host, role="landing")


def _pdf(world: World, f, host: str, key: str) -> Node:  # type: ignore[no-untyped-def]
    if f.blocked:
        return _challenge(f, host, key, "pdf")
    if not f.is_open:
        return Node("html", "paywall", idx=f.idx, key=key, host=host, role="pdf")
    if f.pub.asset_host:
        loc = f"https://{f.pub.asset_host}/{f.key}/1-s2.0-{f.key}-main.pdf"
        return Node("redirect", "asset", status=302, idx=f.idx, location=loc, key=key, host=host,
                    role="pdf")
    node = Node("pdf", "publisher", idx=f.idx, key=key, host=host, role="pdf",
                data=f.pub.honours_range)
    return world.pdf_fault(node, f"pub:{f.idx}")


# -- repositories -------------------------------------------------------------------------------
def _zenodo(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    parts = unquote(path).strip("/").split("/")
    if len(parts) == 4 and parts[0] == "records" and parts[2] == "files" and parts[1].isdigit():
        idx = int(parts[1]) - ZENODO_BASE
        if 0 <= idx < len(world.works) and world.facts(idx).repo_url == f"https://{host}{path}":
            node = Node("pdf", "repository", idx=idx, key=host + path, host=host, role="pdf",
                        data=True)
            return world.pdf_fault(node, f"repo:{idx}")
    found = _zenodo_record(world, parts)
    if found is not None:
        return found
    return _not_found(host, path, "json" if parts[0] == "api" else "html")


def _zenodo_record(world: World, parts: list[str]) -> Node | None:
    """A Zenodo-DOI work's record: `/api/records/N` (JSON), `/records/N` (the page), and
    its files at `/records/N/files/<key>` and `/api/records/N/files/<key>/content`."""
    from .answers import zenodo_record

    api = parts[0] == "api"
    rest = parts[1:] if api else parts
    if len(rest) < 2 or rest[0] != "records" or not rest[1].isdigit():
        return None
    idx = world.idx_by_doi(f"10.5281/zenodo.{int(rest[1])}")
    rec = zenodo_record(world.facts(idx)) if idx is not None else None
    if idx is None or rec is None:
        return None
    host = "zenodo.org"
    if len(rest) == 2:
        key = f"{host}{'/api' if api else ''}/records/{rec.recid}"
        if api:
            return world.api_faults(Node("json", "zenodo_record", idx=idx, key=key, host=host,
                                         role="api"))
        return Node("html", "zenodo_page", idx=idx, key=key, host=host, role="landing")
    name = rest[3] if len(rest) >= 4 and rest[2] == "files" else None
    shape = (api and len(rest) == 5 and rest[4] == "content") or (not api and len(rest) == 4)
    pdf = next((z for z in rec.files if z.key == name and z.mime == "application/pdf"), None)
    if pdf is None or not shape or rec.access != "open":
        return None
    node = Node("pdf", "repository", idx=idx, key=f"{host}/records/{rec.recid}/files/{name}",
                host=host, role="pdf", data=True)
    return world.pdf_fault(node, f"zenodo:{idx}:{name}")


# -- Wiley's text-and-data-mining API -------------------------------------------------------
def _wiley_api(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/onlinelibrary/tdm/v1/articles/<doi>` (the DOI's slash encoded or not): the
    article's PDF. The token header is checked by the app (the World sees URLs only)."""
    from .answers import WILEY_TDM, wiley_tdm_url

    prefix = WILEY_TDM[len("https://api.wiley.com"):]
    doi = unquote(path[len(prefix):]).lower() if path.startswith(prefix) else ""
    idx = world.idx_by_doi(doi) if doi else None
    if idx is None or wiley_tdm_url(world.facts(idx)) is None:
        return _not_found(host, path, "json")
    node = Node("pdf", "tdm", idx=idx, key=f"{host}{prefix}{doi}", host=host, role="pdf",
                data=False)
    return world.pdf_fault(node, f"tdm:{idx}")


def _hal(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    parts = path.strip("/").split("/")
    if len(parts) == 2 and parts[0].startswith("hal-") and parts[1] == "document":
        digits = parts[0][4:]
        if digits.isdigit():
            idx = int(digits) - HAL_BASE
            if 0 <= idx < len(world.works) and world.facts(idx).repo_url == \
                    f"https://{host}{path}":
                node = Node("pdf", "repository", idx=idx, key=host + path, host=host,
                            role="pdf", data=False)
                return world.pdf_fault(node, f"repo:{idx}")
    target = path + ("?" + raw if raw else "")  # a HAL item page, its /document and files
    item = world.idx_by_landing(f"https://{host}{target}")
    if item is not None:
        return _landing(world, world.facts(item), host, host + target)
    return _shaped(world, host, target, host + target) or _not_found(host, path)


# -- Europe PMC --------------------------------------------------------------------------------
def _ebi(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.rstrip("/") != "/europepmc/webservices/rest/search":
        return _not_found(host, path, "json")
    query = (_q(qs, "query") or "").strip()
    idx = _epmc_query(world, query)
    if idx is not None and not world.facts(idx).epmc_found:
        idx = None
    node = Node("json", "epmc_search", idx=-1 if idx is None else idx,
                key=f"{host}/europepmc/webservices/rest/search?query={query}", host=host,
                role="api", data=query)
    return world.api_faults(node)


def _epmc_query(world: World, query: str) -> int | None:
    q = query.strip()
    upper = q.upper()
    if upper.startswith("DOI:"):
        return world.idx_by_doi(q[4:].strip().strip('"'))
    if upper.startswith("PMCID:"):
        return world.idx_by_pmcid(q[6:].strip().strip('"'))
    if upper.startswith("EXT_ID:"):
        ext = q[7:].split()[0].strip('"') if q[7:].split() else ""
        return world.idx_by_pmid(ext)
    if upper.startswith("PMID:"):
        return world.idx_by_pmid(q[5:].strip().strip('"'))
    return None


def _europepmc(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.startswith("/articles/"):
        pmcid = path[len("/articles/"):].strip("/")
        idx = world.idx_by_pmcid(pmcid)
        if idx is None:
            return _not_found(host, path)
        f = world.facts(idx)
        if _q(qs, "pdf") == "render":
            if not f.epmc_oa:
                return _not_found(host, path)
            node = Node("pdf", "europepmc", idx=idx, key=f"{host}{path}?pdf=render", host=host,
                        role="pdf", data=False)
            return world.pdf_fault(node, f"epmc:{idx}")
        return Node("html", "pmc_article", idx=idx, key=host + path, host=host, role="repo")
    return _not_found(host, path)


# -- Wayback Machine -----------------------------------------------------------------------------
def archived(world: World, url: str) -> tuple[int, str, str] | None:
    """(work index, kind, timestamp) if the Wayback Machine holds this URL, else None."""
    try:
        node = world.lookup_url(url if "://" in url else "https://" + url)
    except ValueError:
        return None
    if node.idx < 0:
        return None
    f = world.facts(node.idx)
    if node.role in ("landing", "hop", "doi") and f.archived_landing and node.variant != "loop":
        return node.idx, "landing", f.ts_landing
    if node.role == "pdf" and f.archived_pdf and f.pdf_url is not None:
        if _same(url, f.pdf_url):
            return node.idx, "pdf", f.ts_pdf
    return None


def _same(a: str, b: str) -> bool:
    pa, pb = urlsplit(a if "://" in a else "https://" + a), urlsplit(b)
    return (pa.hostname, pa.path, pa.query) == (pb.hostname, pb.path, pb.query)


def _archive_org(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.rstrip("/") != "/wayback/available":
        return _not_found(host, path, "json")
    url = _q(qs, "url") or ""
    node = Node("json", "wb_available", key=f"{host}/wayback/available?url={url}", host=host,
                role="api", data=(url, archived(world, url)))
    return world.api_faults(node)


def _web_archive(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if path.rstrip("/") == "/cdx/search/cdx":
        url = _q(qs, "url") or ""
        filters = [v for k, v in qs if k == "filter"]
        node = Node("json" if _q(qs, "output") == "json" else "text", "cdx",
                    key=f"{host}/cdx/search/cdx?url={url}", host=host, role="api",
                    data=(url, archived(world, url), filters))
        return world.api_faults(node)
    if path.startswith("/web/"):
        rest = path[5:]
        ts, _, original = rest.partition("/")
        if raw:
            original += "?" + raw
        stamp = ts[:-3] if ts.endswith("id_") else ts
        hit = archived(world, original)
        if not stamp.isdigit() or hit is None:
            return Node("error", "wayback", status=404, key=host + path, host=host)
        idx, kind, _ts = hit
        key = f"{host}/web/{stamp}id_/{original}"
        if kind == "landing":
            return Node("html", "snapshot", idx=idx, key=key, host=host, role="snapshot")
        node = Node("pdf", "wayback", idx=idx, key=key, host=host, role="snapshot", data=False)
        return world.pdf_fault(node, f"wb:{idx}")
    return _not_found(host, path)


# -- OpenAlex, Crossref, Semantic Scholar ----------------------------------------------------------
def _openalex(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    if not path.startswith("/works/"):
        return _not_found(host, path, "openalex")
    ident = unquote(path[len("/works/"):])
    low = ident.lower()
    for prefix in ("doi:", "https://doi.org/", "http://doi.org/"):
        if low.startswith(prefix):
            low = low[len(prefix):]
            break
    key = f"{host}/works/doi:{low}"
    idx = world.idx_by_doi(low) if low.startswith("10.") else None
    if idx is None or not world.facts(idx).openalex:
        node = Node("error", "openalex", status=404, key=key, host=host)
    else:
        node = Node("json", "openalex", idx=idx, key=key, host=host, role="api")
    return world.api_faults(node)


def _crossref(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    p = path[3:] if path.startswith("/v1/") else path
    if not p.startswith("/works/"):
        return _not_found(host, path, "crossref")
    doi = unquote(p[len("/works/"):]).lower()
    key = f"{host}/works/{doi}"
    idx = world.idx_by_doi(doi)
    if idx is None or not world.facts(idx).crossref:
        node = Node("error", "crossref", status=404, key=key, host=host)
    else:
        node = Node("json", "crossref", idx=idx, key=key, host=host, role="api")
    return world.api_faults(node)


def _s2(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    prefix = "/graph/v1/paper/"
    if not path.startswith(prefix):
        return _not_found(host, path, "s2")
    ident = unquote(path[len(prefix):])
    kind, _, value = ident.partition(":")
    kind = kind.upper()
    idx: int | None = None
    if kind == "DOI":
        idx = world.idx_by_doi(value)
    elif kind == "ARXIV":
        idx = world.idx_by_arxiv(value)
    elif kind == "PMCID":
        idx = world.idx_by_pmcid(value)
    elif kind == "PMID":
        idx = world.idx_by_pmid(value)
    key = f"{host}{prefix}{kind}:{value.lower() if kind == 'DOI' else value}"
    if idx is None or not world.facts(idx).s2:
        node = Node("error", "s2", status=404, key=key, host=host, data=ident)
    else:
        node = Node("json", "s2", idx=idx, key=key, host=host, role="api")
    return world.api_faults(node)


# -- DOAJ ------------------------------------------------------------------------------------------
def _doaj(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/api/search/articles/<query>`: the sandbox answers `doi:"<doi>"` queries; an
    article outside DOAJ is an empty result list (200), as DOAJ's search answers."""
    prefix = "/api/search/articles/"
    if not path.startswith(prefix):
        return _not_found(host, path, "doaj")
    query = unquote(path[len(prefix):])
    doi = query[4:].strip('"').lower() if query.lower().startswith("doi:") else ""
    from .answers import doaj_fulltext

    idx = world.idx_by_doi(doi) if doi else None
    if idx is not None and doaj_fulltext(world.facts(idx)) is None:
        idx = None
    node = Node("json", "doaj", idx=-1 if idx is None else idx, key=f"{host}{prefix}doi:{doi}",
                host=host, role="api", data=query)
    return world.api_faults(node)


# -- bioRxiv / medRxiv ------------------------------------------------------------------------
def _biorxiv_api(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/details/<server>/<doi>/na/JSON`: the preprint's versions, or an empty collection."""
    parts = unquote(path).strip("/").split("/")
    if len(parts) < 5 or parts[0] != "details" or parts[-2:] != ["na", "JSON"]:
        return _not_found(host, path, "json")
    server, doi = parts[1], "/".join(parts[2:-2]).lower()
    from .answers import preprint

    idx = world.idx_by_doi(doi)
    pre = preprint(world.facts(idx)) if idx is not None else None
    found = pre is not None and pre[0] == server
    node = Node("json", "biorxiv_details", idx=idx if found and idx is not None else -1,
                key=f"{host}/details/{server}/{doi}", host=host, role="api", data=server)
    return world.api_faults(node)


#: share of preprint pages behind a bot challenge (bioRxiv and medRxiv pages are; their
#: API and `.full.pdf` files are not): a simulation choice, like the publishers' shares
PREPRINT_CHALLENGE = 0.3


def _preprint_pdf(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/content/<doi>v<n>.full.pdf` of a preprint served by this host, and the page of
    a preprint placed here (`/content/<doi>v<n>`, sometimes a bot challenge)."""
    from .answers import preprint

    page = _preprint_page(world, host, path)
    if page is not None:
        rate = world.faults.override("blocked", host)
        rate = PREPRINT_CHALLENGE if rate is None else rate
        if u01(world.seed, "blocked", world.facts(page).work.work_id) < rate:
            return Node("html", "challenge", status=403, idx=page, key=host + path, host=host,
                        role="landing")
        return Node("html", "biorxiv_page", idx=page, key=host + path, host=host,
                    role="landing")
    if path.startswith("/content/") and path.endswith(".full.pdf"):
        doi = unquote(path[len("/content/"):-len(".full.pdf")]).rsplit("v", 1)[0].lower()
        idx = world.idx_by_doi(doi)
        pre = preprint(world.facts(idx)) if idx is not None else None
        if idx is not None and pre is not None and pre[2] == f"https://{host}{path}":
            node = Node("pdf", "preprint", idx=idx, key=host + path, host=host, role="pdf",
                        data=True)
            return world.pdf_fault(node, f"preprint:{idx}")
    return _not_found(host, path)


def _preprint_page(world: World, host: str, path: str) -> int | None:
    """The work whose preprint page `/content/<doi>v<n>` is (its landing page), if any."""
    if not path.startswith("/content/10.1101/") or path.endswith(".pdf"):
        return None
    doi = unquote(path[len("/content/"):]).rsplit("v", 1)[0].lower()
    idx = world.idx_by_doi(doi)
    if idx is None or world.facts(idx).landing_url != f"https://{host}{path}":
        return None
    return idx


# -- CORE ------------------------------------------------------------------------------------------
def _core_api(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/v3/search/works?q=doi:"<doi>"`: the aggregated work, or no result. The sandbox
    does not check the API key (a live run needs one; the source sends it)."""
    if path.rstrip("/") != "/v3/search/works":
        return _not_found(host, path, "json")
    q = (_q(qs, "q") or "").strip()
    doi = q[4:].strip('"').lower() if q.lower().startswith("doi:") else ""
    from .answers import core_copies

    idx = world.idx_by_doi(doi) if doi else None
    if idx is not None and core_copies(world.facts(idx)) is None:
        idx = None
    node = Node("json", "core_search", idx=-1 if idx is None else idx,
                key=f"{host}/v3/search/works?q=doi:{doi}", host=host, role="api")
    return world.api_faults(node)


def _core_download(world: World, host: str, path: str, qs: Q, raw: str) -> Node:
    """`/download/<id>.pdf`: CORE's cached copy of a repository file."""
    from .answers import core_copies
    from .model import CORE_BASE

    name = path[len("/download/"):-len(".pdf")] if path.startswith("/download/") else ""
    if path.endswith(".pdf") and name.isdigit():
        idx = int(name) - CORE_BASE
        if 0 <= idx < len(world.works) and core_copies(world.facts(idx)) is not None:
            node = Node("pdf", "repository", idx=idx, key=host + path, host=host, role="pdf",
                        data=True)
            return world.pdf_fault(node, f"core:{idx}")
    return _not_found(host, path)


_HANDLERS = {
    "api.unpaywall.org": _unpaywall,
    "arxiv.org": _arxiv,
    "export.arxiv.org": _arxiv_export,
    "www.ncbi.nlm.nih.gov": _ncbi,
    "pmc.ncbi.nlm.nih.gov": _pmc,
    "doi.org": _doi,
    "dx.doi.org": _doi,
    "linkinghub.elsevier.com": _linkinghub,
    "pdf.sciencedirectassets.com": _sd_assets,
    "www.ebi.ac.uk": _ebi,
    "europepmc.org": _europepmc,
    "archive.org": _archive_org,
    "web.archive.org": _web_archive,
    "api.openalex.org": _openalex,
    "api.crossref.org": _crossref,
    "api.semanticscholar.org": _s2,
    "zenodo.org": _zenodo,
    "hal.science": _hal,
    "doaj.org": _doaj,
    "api.biorxiv.org": _biorxiv_api,
    "www.biorxiv.org": _preprint_pdf,
    "www.medrxiv.org": _preprint_pdf,
    "api.core.ac.uk": _core_api,
    "core.ac.uk": _core_download,
    "api.wiley.com": _wiley_api,
}
assert set(_HANDLERS) == set(SERVICE_HOSTS), set(_HANDLERS) ^ set(SERVICE_HOSTS)
