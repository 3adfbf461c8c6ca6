"""Work normalisation and reading works tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallback_kit.contracts.works import (
    Work,
    WorkError,
    WorksFileError,
    identify,
    normalize_arxiv_id,
    normalize_doi,
    normalize_pmcid,
    normalize_pmid,
    read_works,
    work_from_mapping,
)

doi_suffix = st.text(
    alphabet=st.characters(
        whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-._;()/<>:"
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s and s[-1] not in ".,;:()")  # see trailing punctuation


@given(
    prefix=st.integers(1000, 99999),
    suffix=doi_suffix,
    form=st.sampled_from(
        ["{}", "https://doi.org/{}", "doi:{}", "DOI:{}", "  {}  ", "http://dx.doi.org/{}"]
    ),
)
def test_doi_forms_normalise_to_one(prefix, suffix, form):
    """Every spelling of a DOI normalises to the same lower-case DOI."""
    doi = f"10.{prefix}/{suffix}"
    assert normalize_doi(form.format(doi)) == doi.lower()
    assert normalize_doi(normalize_doi(doi)) == doi.lower()


def test_url_encoded_and_sici_dois():
    """URL-encoded and SICI DOIs survive normalisation."""
    assert (
        normalize_doi("https://doi.org/10.1002%2F%28SICI%291097-4636") == "10.1002/(sici)1097-4636"
    )
    sici = "10.1002/(SICI)1097-4636(199603)30:3<405::AID-JBM14>3.0.CO;2-D"
    assert normalize_doi(sici) == sici.lower()


@given(
    yymm=st.integers(701, 2512).filter(lambda n: 1 <= n % 100 <= 12),
    num=st.integers(1, 99999),
    version=st.one_of(st.none(), st.integers(1, 9)),
    form=st.sampled_from(["{}", "arXiv:{}", "https://arxiv.org/abs/{}", "10.48550/arXiv.{}"]),
)
def test_new_arxiv_ids_round_trip(yymm, num, version, form):
    """New-style arXiv ids come back the same from every form."""
    aid = f"{yymm:04d}.{num:05d}" + (f"v{version}" if version else "")
    assert normalize_arxiv_id(form.format(aid)) == aid


def test_old_arxiv_ids():
    """Old-style ids keep archive and number; versions are kept."""
    assert normalize_arxiv_id("hep-th/9901001") == "hep-th/9901001"
    assert normalize_arxiv_id("arXiv:math.GT/0309136v2") == "math.gt/0309136v2"


@given(n=st.integers(1, 10**9), prefix=st.sampled_from(["", "PMC", "pmc", " PMC"]))
def test_pmcid_forms(n, prefix):
    """PMCIDs with or without PMC normalise to PMC + digits."""
    assert normalize_pmcid(f"{prefix}{n}") == f"PMC{n}"


def test_arxiv_id_taken_from_datacite_doi():
    """A 10.48550/arXiv DOI also fills arxiv_id."""
    w = Work.create(doi="https://doi.org/10.48550/arXiv.2106.01234")
    assert w.arxiv_id == "2106.01234" and w.doi == "10.48550/arxiv.2106.01234"


def test_bad_rows_are_reported_and_good_rows_kept(tmp_path):
    """A bad row names its row and field; the others are kept."""
    f = tmp_path / "w.csv"
    f.write_text(
        "work_id,doi,pmcid\na,10.1000/x,\nb,not-a-doi,\nc,,PMCX\nd,10.2000/y,PMC5\n",
        encoding="utf-8",
    )
    report = read_works(f)
    assert [w.work_id for w in report] == ["a", "d"]
    assert [(e.row, e.field) for e in report.errors] == [(3, "doi"), (4, "pmcid")]
    assert str(report.errors[0]).startswith("row 3, field 'doi': ")


def test_bom_and_duplicates(tmp_path):
    """A UTF-8 BOM is accepted; a duplicate work id is reported, not merged."""
    f = tmp_path / "w.csv"
    f.write_bytes("\ufeffwork_id,doi\na,10.1000/x\na,10.1000/y\n".encode())
    report = read_works(f)
    assert len(report) == 1 and report.errors[0].field == "work_id"
    assert "duplicate work_id 'a'" in str(report.errors[0])


def test_dataframe_input():
    """A DataFrame reads like a CSV, NaN meaning empty."""
    df = pd.DataFrame(
        {"work_id": ["a", "b"], "arxiv_id": ["2106.01234", None], "pmid": [None, "123"]}
    )
    report = read_works(df)
    assert [(w.arxiv_id, w.pmid) for w in report] == [("2106.01234", None), (None, "123")]


@pytest.mark.parametrize(
    "content,expect",
    [
        (b"", "empty"),
        (b"title,kind\nx,y\n", "no identifier column"),
        ("work_id,doi\na,10.1000/\xe9\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unusable_files(tmp_path, content, expect):
    """Empty files, files without identifiers and non-UTF-8 files fail clearly."""
    f = tmp_path / "w.csv"
    f.write_bytes(content)
    with pytest.raises(WorksFileError, match=expect):
        read_works(f)


def test_row_without_identifier():
    """A row with only a title is refused."""
    with pytest.raises(WorkError, match="no identifier"):
        Work.create(title="Just a title")


# ---- rules that mutation testing found unguarded (issue 17) ------------------------------


@pytest.mark.parametrize("raw,kind,value", [
    ("10.1000/X", "doi", "10.1000/x"),  # a bare DOI, no prefix
    ("2106.01234", "arxiv_id", "2106.01234"),  # a bare new-style arXiv id
    ("hep-th/9901001", "arxiv_id", "hep-th/9901001"),  # a bare old-style arXiv id
    ("pmc123", "pmcid", "PMC123"),  # any case
    ("pmid:5", "pmid", "5"),
    ("PMID: 42", "pmid", "42"),
    ("https://example.org/paper", "landing_url", "https://example.org/paper"),
    ("\u200b10.1000/Y\u200b", "doi", "10.1000/y"),  # zero-width spaces pasted from a PDF
])
def test_a_pasted_identifier_is_recognised_without_its_prefix(raw, kind, value):
    """Researchers paste ids bare, in any case, with invisible characters: each is found."""
    assert identify(raw) == (kind, value)


def test_a_string_that_is_no_identifier_says_what_it_is_not():
    """The error names the string and the kinds it was tried as (one clear line)."""
    with pytest.raises(ValueError) as info:
        identify("hello")
    assert str(info.value) == "'hello' is not a DOI, arXiv id, PMCID, PMID or URL"


@pytest.mark.parametrize("raw,doi", [
    ("https://doi.org/10.1000/x#sec1#fig2", "10.1000/x"),  # the fragment starts at the first #
    ("https://doi.org/10.1000/x).", "10.1000/x"),  # sentence punctuation after a link
    ("10.1000/x.", "10.1000/x"),
    ("10.1000/(ab)", "10.1000/(ab)"),  # a balanced bracket is part of the DOI
    ("10.1000/ab)", "10.1000/ab"),  # an unbalanced one closes the sentence
])
def test_doi_fragment_and_trailing_punctuation(raw, doi):
    """A URL fragment and the sentence around a pasted DOI are not part of it."""
    assert normalize_doi(raw) == doi


@pytest.mark.parametrize("raw,message", [
    ("nope", "'nope' is not a DOI (expected 10.NNNN/suffix)"),
    ("PMCX", "'PMCX' is not a PMCID (expected PMC followed by digits)"),
])
def test_a_bad_identifier_is_named_in_its_error(raw, message):
    """The error quotes the bad value and says the expected form."""
    normalize = normalize_doi if raw == "nope" else normalize_pmcid
    with pytest.raises(ValueError) as info:
        normalize(raw)
    assert str(info.value) == message


@pytest.mark.parametrize("raw,pmid", [("1", "1"), ("PMID:007", "7"), ("pmid: 12", "12")])
def test_pmid_forms(raw, pmid):
    """Any positive number is a PMID (1 included), with or without a `PMID:` prefix."""
    assert normalize_pmid(raw) == pmid


@pytest.mark.parametrize("raw", ["0", "00", "12a", "pmid:"])
def test_pmid_zero_and_non_digits_are_refused(raw):
    """PubMed numbers start at 1; anything else is not a PMID."""
    with pytest.raises(ValueError, match="is not a PMID"):
        normalize_pmid(raw)


def test_arxiv_ids_from_2015_have_five_digits():
    """From 1501 on, an id with four digits after the dot lost a trailing zero; before, four
    digits are right."""
    assert normalize_arxiv_id("1412.0123") == "1412.0123"
    assert normalize_arxiv_id("1501.01234") == "1501.01234"
    with pytest.raises(ValueError, match="ids since 2015 have five digits"):
        normalize_arxiv_id("1501.0123")


def test_arxiv_pdf_links_lose_their_pdf_suffix():
    """A link to the PDF names the same paper as the abstract page."""
    assert normalize_arxiv_id("https://arxiv.org/pdf/hep-th/9901001v2.pdf") == "hep-th/9901001v2"
    assert normalize_arxiv_id("arXiv:2106.01234.pdf") == "2106.01234"


def _table(tmp_path, text: str):
    f = tmp_path / "w.csv"
    f.write_text(text, encoding="utf-8")
    return read_works(f)


def test_an_identifier_or_url_column_alone_is_enough(tmp_path):
    """`identifier` (or its alias `Identifiers`) and `url`/`Link` hold ids of any kind; a bad
    identifier is a bad row, a `url` that is no URL only a note."""
    ids = _table(tmp_path, "Identifiers,Title\n10.1000/a,T\npmc7,U\nnonsense,V\n")
    assert [(w.doi, w.pmcid, w.title) for w in ids] == [("10.1000/a", None, "T"),
                                                       (None, "PMC7", "U")]
    assert [str(e) for e in ids.errors] == [
        "row 4: 'nonsense' is not a DOI, arXiv id, PMCID, PMID or URL"]
    links = _table(tmp_path, "Link,PubMed\nnot a url,12\nhttps://ex.org/a,\n")
    assert [(w.pmid, w.landing_url) for w in links] == [("12", None), (None, "https://ex.org/a")]
    assert links.ok
    assert [w.doi for w in _table(tmp_path, "URL\nhttps://doi.org/10.1000/A\n")] == ["10.1000/a"]


def test_a_pasted_identifier_does_not_replace_an_id_column(tmp_path):
    """The id columns say what the user meant; an `identifier` of the same kind only fills
    a gap."""
    report = _table(tmp_path, "doi,identifier\n10.1000/a,10.1000/b\n,10.1000/c\n")
    assert [w.doi for w in report] == ["10.1000/a", "10.1000/c"]


def test_column_names_match_in_any_case_and_the_first_filled_alias_wins(tmp_path):
    report = _table(tmp_path, "PMC,PMCID,ArXiv,Kind\n,PMC5,,book\nPMC6,PMC7,2106.01234,\n")
    assert [(w.pmcid, w.arxiv_id, w.kind) for w in report] == [
        ("PMC5", None, "book"), ("PMC6", "2106.01234", None)]


def test_the_title_is_cut_after_1000_characters_and_a_field_refused_after_2000(tmp_path):
    """A pasted document in the title keeps the work; in an id field it is a bad row."""
    url = "https://ex.org/"
    report = _table(tmp_path, "work_id,title,landing_url\n"
                              f"a,{'x' * 1000},{url}{'a' * (2000 - len(url))}\n"
                              f"b,{'y' * 1001},{url}b\n"
                              f"c,,{url}{'c' * (2001 - len(url))}\n")
    assert [(w.work_id, w.title[-2:], len(w.title)) for w in report] == [
        ("a", "xx", 1000), ("b", "y…", 1001)]
    assert [str(e) for e in report.errors] == [
        "row 4, field 'landing_url': value is 2,001 characters long (at most 2000)"]


def test_default_work_ids_name_the_kind_of_the_first_identifier():
    assert [Work.create(**ids).work_id for ids in (
        {"doi": "10.1000/A", "pmid": "5"}, {"arxiv_id": "2106.01234"}, {"pmcid": "5"},
        {"pmid": "7"}, {"landing_url": "https://ex.org/a"})] == [
        "doi:10.1000/a", "arxiv:2106.01234", "pmcid:PMC5", "pmid:7",
        "landing_url:https://ex.org/a"]
    assert Work.create("mine", doi="10.1000/a").work_id == "mine"
    assert Work.create(doi="10.1000/a").columns == {}


def test_an_arxiv_doi_fills_arxiv_id_only_when_none_is_given():
    w = Work.create(doi="10.48550/arXiv.2106.01234", arxiv_id="1706.03762")
    assert w.arxiv_id == "1706.03762"


def test_duplicates_are_reported_where_they_are_and_reading_goes_on(tmp_path):
    """A repeated work_id names its row and the row it repeats; the rows after it are read."""
    report = _table(tmp_path, "work_id,doi\na,10.1000/a\nb,10.1000/b\na,10.1000/c\nc,nope\n"
                              "d,10.1000/d\n")
    assert [w.work_id for w in report] == ["a", "b", "d"]
    assert [(e.row, e.field, e.entry) for e in report.errors] == [(4, "work_id", None),
                                                                  (5, "doi", None)]
    assert [str(e) for e in report.errors] == [
        "row 4, field 'work_id': duplicate work_id 'a' (first seen in row 2); this one was "
        "left out",
        "row 5, field 'doi': 'nope' is not a DOI (expected 10.NNNN/suffix)"]


def test_a_repeated_csl_json_id_names_the_entries(tmp_path):
    """Items without rows are named by their id, the repeat and the first alike."""
    f = tmp_path / "library.json"
    f.write_text(json.dumps([{"id": "smith2020", "type": "article-journal", "DOI": "10.1000/a"},
                             {"id": "smith2020", "type": "article-journal", "DOI": "10.1000/b"}]),
                 encoding="utf-8")
    report = read_works(f)
    assert [w.doi for w in report] == ["10.1000/a"]
    assert [(e.row, e.entry) for e in report.errors] == [(None, "smith2020")]
    assert "(first seen in entry 'smith2020')" in str(report.errors[0])


@pytest.mark.parametrize("row,message", [
    ({"doi": "10.1000/a", None: ["x"]},  # csv.DictReader's extra cells
     "entry 'k', line 3: more values than columns"),
    ({"identifier": "nonsense"},
     "entry 'k', line 3: 'nonsense' is not a DOI, arXiv id, PMCID, PMID or URL"),
    ({"identifier": "https://ex.org/" + "a" * 1986},
     "entry 'k', line 3: value is 2,001 characters long (at most 2000)"),
    ({"doi": "10.1000/" + "a" * 1993},
     "entry 'k', line 3, field 'doi': value is 2,001 characters long (at most 2000)"),
    ({"arxiv_id": 1501.0123},
     "entry 'k', line 3, field 'arxiv_id': arXiv id read as a number (1501.0123): its trailing "
     "zeros may be lost; read the column as text (e.g. pandas dtype=str)"),
])
def test_work_from_mapping_names_the_entry_in_every_error(row, message):
    """A caller's own rows (work_from_mapping is public) are named as they name them."""
    with pytest.raises(WorkError) as info:
        work_from_mapping(row, row_number=3, entry="k")
    assert str(info.value) == message and info.value.entry == "k"


def test_a_pasted_identifier_of_2000_characters_is_still_read():
    """2000 characters is the limit, not past it."""
    url = "https://ex.org/" + "a" * 1985
    assert work_from_mapping({"identifier": url}).landing_url == url


def test_a_row_without_identifiers_is_named_by_its_row(tmp_path):
    report = _table(tmp_path, "doi,title\n,only a title\n")
    [error] = report.errors
    assert (error.row, error.field, error.entry) == (2, None, None)
    assert str(error) == ("row 2: no identifier: give at least one of doi, arxiv_id, pmcid, "
                          "pmid, landing_url")


def test_the_report_says_how_the_input_was_read(tmp_path):
    """Format, header, options and key are kept so that misses can be written back alike."""
    report = _table(tmp_path, "Key;DOI\nk1;10.1000/a\n;10.1000/b\n")
    assert (report.format, report.header, report.key) == ("csv", ["Key", "DOI"], None)
    assert report.options["delimiter"] == ";" and report.source.endswith("w.csv")
    keyed = read_works(tmp_path / "w.csv", key="Key")
    assert keyed.key == "Key" and [w.work_id for w in keyed] == ["k1"]
    assert [str(e) for e in keyed.errors] == ["row 3: no value in the key column 'Key'"]


def test_a_table_without_an_identifier_column_says_what_it_expects(tmp_path):
    """No hint unless the first line holds identifiers (a landing URL is no sign of one)."""
    for header in ("title,year", "https://ex.org/a,title"):
        with pytest.raises(WorksFileError) as info:
            _table(tmp_path, f"{header}\nx,2020\n")
        assert str(info.value).startswith(f"{tmp_path / 'w.csv'}: no identifier column; ")
        assert str(info.value).endswith(
            "], expected at least one of doi, arxiv_id, pmcid, pmid, landing_url")


def test_the_key_column_is_named_as_in_the_header(tmp_path):
    """--key names the user's column exactly as written (spaces around it aside)."""
    f = tmp_path / "w.csv"
    f.write_text(" My Key ,doi\nk1,10.1000/a\n", encoding="utf-8")
    assert [w.work_id for w in read_works(f, key="My Key")] == ["k1"]
    with pytest.raises(WorksFileError, match="no key column 'my key'"):
        read_works(f, key="my key")


def test_a_list_of_works_is_taken_as_it_is():
    works = [Work.create(doi="10.1000/a"), Work.create(doi="10.1000/b")]
    report = read_works(works)
    assert report.works == works and report.source == "<works>"


def test_work_errors_name_entry_line_row_and_field():
    """A citation key names an entry and its line; a table row is a row."""
    e = WorkError("bad", row=3, field="doi", entry="smith2020")
    assert str(e) == "entry 'smith2020', line 3, field 'doi': bad"
    assert (e.row, e.field, e.entry, e.detail) == (3, "doi", "smith2020", "bad")
    assert str(WorkError("bad", row=3)) == "row 3: bad"
    assert str(WorkError("bad")) == "bad"


def test_numbers_read_as_floats_are_ids_only_when_exact():
    """A PMID column read as float gives its integer below 2**53 (exact floats); an arXiv id
    read as a number is taken only if no trailing zero can have been lost (five digits
    after the dot from 1501 on, four before)."""
    df = pd.DataFrame({"work_id": ["a", "b", "c", "d"],
                       "pmid": [12345.0, 12.5, 2.0**53, 2.0**53 - 1],
                       "arxiv_id": [1412.0123, 1501.01234, None, None]})
    report = read_works(df)
    assert [(w.pmid, w.arxiv_id) for w in report] == [("12345", "1412.0123"),
                                                     ("9007199254740991", None)]
    assert [str(e) for e in report.errors] == [
        "row 3, field 'pmid': '12.5' is not a PMID (expected digits)",
        "row 4, field 'pmid': '9007199254740992.0' is not a PMID (expected digits)"]
    bad = read_works(pd.DataFrame({"arxiv_id": [1501.0123, 1412.012, 12.5]}))
    assert [(e.row, e.field) for e in bad.errors] == [(2, "arxiv_id"), (3, "arxiv_id"),
                                                      (4, "arxiv_id")]
    assert all(str(e).endswith("its trailing zeros may be lost; read the column as text "
                               "(e.g. pandas dtype=str)") for e in bad.errors)
    assert str(bad.errors[0]).startswith(
        "row 2, field 'arxiv_id': arXiv id read as a number (1501.0123)")


def test_landing_urls_are_http_or_https_with_a_host():
    """A landing page is fetched over the web: another scheme or no host is a bad row."""
    assert Work.create(landing_url="http://ex.org/a").landing_url == "http://ex.org/a"
    for bad in ("ftp://ex.org/a", "https://", "ex.org/a"):
        with pytest.raises(WorkError, match="is not an http\\(s\\) URL"):
            Work.create(landing_url=bad)


def test_an_entry_without_its_key_is_named_and_a_key_is_at_most_2000_characters(tmp_path):
    """With --key on a CSL-JSON file, an item lacking that field is an error naming the
    item, never a work called 'None'; an overlong key is refused."""
    f = tmp_path / "library.json"
    items = [{"id": "a", "type": "book", "DOI": "10.1000/a", "title": "T" * 2000},
             {"id": "b", "type": "book", "DOI": "10.1000/b"},
             {"id": "c", "type": "book", "DOI": "10.1000/c", "title": "T" * 2001}]
    f.write_text(json.dumps(items), encoding="utf-8")
    report = read_works(f, key="title")
    assert [w.doi for w in report] == ["10.1000/a"]
    assert [str(e) for e in report.errors] == [
        "entry 'b': no value in the key column 'title'",
        "entry 'c': key is 2,001 characters long (at most 2000)"]


def test_csl_json_ids_are_the_work_ids_only_when_every_item_has_one(tmp_path):
    """CSL-JSON `id` is optional: if an item lacks it (or it is empty), every work gets an id
    made from its identifiers instead, and none is refused."""
    f = tmp_path / "library.json"
    for missing in ({}, {"id": ""}):
        items = [{"id": "smith2020", "type": "book", "DOI": "10.1000/a"},
                 {**missing, "type": "book", "DOI": "10.1000/b"}]
        f.write_text(json.dumps(items), encoding="utf-8")
        report = read_works(f)
        assert report.key is None and report.ok
        assert [w.work_id for w in report] == ["doi:10.1000/a", "doi:10.1000/b"]


def test_a_list_of_identifiers_has_no_key_column(tmp_path):
    """--key on pasted ids (a file or a Python list) is refused as a whole, not per line."""
    f = tmp_path / "pasted.txt"
    f.write_text("10.1000/a\n10.1000/b\n", encoding="utf-8")
    for source in (["10.1000/a"], f):
        with pytest.raises(WorksFileError, match="a list of identifiers has no key column 'x'"):
            read_works(source, key="x")


def test_a_csv_rows_overlong_or_empty_key_is_named_by_its_row(tmp_path):
    """With --key on a CSV, a row whose key is empty or over 2000 characters is a bad
    row named by its line, and the other rows are kept."""
    f = tmp_path / "w.csv"
    f.write_text(f"key,doi\nk1,10.1000/a\n{'k' * 2001},10.1000/b\n,10.1000/c\n", encoding="utf-8")
    report = read_works(f, key="key")
    assert [w.work_id for w in report] == ["k1"]
    assert [str(e) for e in report.errors] == [
        "row 3: key is 2,001 characters long (at most 2000)",
        "row 4: no value in the key column 'key'"]
