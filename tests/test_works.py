"""Work normalisation and reading works tables."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fallback_kit.contracts.works import (
    Work,
    WorkError,
    WorksFileError,
    normalize_arxiv_id,
    normalize_doi,
    normalize_pmcid,
    read_works,
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
