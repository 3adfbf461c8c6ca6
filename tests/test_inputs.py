"""The lists researchers have, read as works: BibTeX, Zotero's CSV, RIS, CSL-JSON, one id per
line, a Python list, DataFrames; the format detected; the user's columns and key kept.

The files are in tests/fixtures/inputs (see its README for what each is written after).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fallback_kit.contracts.inputs import detect_format, write_records
from fallback_kit.contracts.works import (
    WorkError,
    WorksFileError,
    identify,
    normalize_doi,
    read_works,
)
from fallback_kit.faces.cli import main

INPUTS = Path(__file__).parent / "fixtures" / "inputs"


def by_id(report):
    return {w.work_id: w for w in report}


# ---- BibTeX ------------------------------------------------------------------------------


def test_bibtex_entries_become_works_named_by_citation_key():
    """Citation keys are the work_ids, unchanged; accents and braces decoded; doi.org URLs,
    eprints and arXiv URLs give their ids."""
    report = read_works(INPUTS / "library.bib")
    assert report.format == "bibtex" and report.key == "ID"
    works = by_id(report)
    assert list(works) == ["Muller2019Quantum", "smith_2020", "Vaswani2017", "hep1999",
                           "landing2021"]
    m = works["Muller2019Quantum"]
    assert m.doi == "10.1038/s41567-019-0001-x"
    assert m.title == "Quantum transport in DNA-like Chains: the Schrödinger picture"
    assert m.columns["author"] == "Müller, Jörg and García, Ana"
    assert m.columns["journal"] == "Nature Physics"  # @string expanded
    assert m.kind == "article"
    s = works["smith_2020"]
    assert (s.pmid, s.pmcid) == ("31234567", "PMC6543210")
    assert works["Vaswani2017"].arxiv_id == "1706.03762"
    assert works["hep1999"].arxiv_id == "hep-th/9711200"
    assert works["landing2021"].landing_url == "https://www.example.org/proceedings/2021/paper-17"


def test_bibtex_bad_entries_are_named_by_key_and_line():
    """An entry without ids and one with a bad DOI are reported by citation key and line."""
    report = read_works(INPUTS / "library.bib")
    errors = {e.entry: e for e in report.errors}
    assert set(errors) == {"Knuth1984", "bad_doi_2022"}
    assert "no identifier" in str(errors["Knuth1984"])
    assert str(errors["bad_doi_2022"]).startswith("entry 'bad_doi_2022', line 54, field 'doi': ")


def test_bibtex_broken_and_duplicate_entries_do_not_stop_the_others(tmp_path):
    """A syntax error and a repeated key are one error each; the other entries still run."""
    f = tmp_path / "refs.bib"
    f.write_text("@article{a, doi={10.1000/a}}\n@article{a, doi={10.1000/b}}\n"
                 "@article{broken, doi = {10.1000/c}\n@article{ok, doi={10.1000/d}}\n",
                 encoding="utf-8")
    report = read_works(f)
    assert [w.work_id for w in report] == ["a", "ok"]
    assert [e.entry for e in report.errors] == ["a", None]
    assert "Duplicate entry key 'a'" in str(report.errors[0]) and report.errors[1].row == 3


# ---- Zotero's CSV ------------------------------------------------------------------------


def test_zotero_csv_reads_ids_from_extra_and_keys_works_by_zotero_key():
    """PMID/PMCID/arXiv lines of Extra fill the ids; Key is the work_id; every column kept."""
    report = read_works(INPUTS / "zotero.csv")
    assert report.key == "Key"
    works = by_id(report)
    assert list(works) == ["A7X9KQ2M", "B3LMN8PQ", "C4QRS5TU"]
    a = works["A7X9KQ2M"]
    assert (a.doi, a.pmid, a.pmcid) == ("10.1371/journal.pone.0000001", "31234567", "PMC6543210")
    b = works["B3LMN8PQ"]
    assert (b.doi, b.pmid) == (None, "29876543")
    assert b.columns["Abstract Note"] == 'A study, with "quotes" and commas.'
    assert list(b.columns)[:3] == ["Key", "Item Type", "Publication Year"]
    assert len(b.columns) == 41
    assert works["C4QRS5TU"].arxiv_id == "1706.03762"
    (error,) = report.errors
    assert error.row == 6 and "no identifier" in str(error)  # Knuth: the 5th record, line 6


# ---- RIS and CSL-JSON --------------------------------------------------------------------


def test_ris_records():
    """DO, a doi.org UR and N1 PMID notes give ids; ID keys a work only when every record has
    one (else ids are derived); records without ids are named."""
    report = read_works(INPUTS / "library.ris")
    assert report.format == "ris" and report.key is None  # one record has no ID
    works = list(report)
    assert [(w.doi, w.pmid) for w in works] == [
        ("10.1371/journal.pone.0000001", "31234567"), ("10.1186/s12936-018-2300-1", None)]
    assert works[0].columns["authors"] == ["Smith, John"]
    (error,) = report.errors
    assert error.entry == "knuth1984" and "no identifier" in str(error)


def test_csl_json_items():
    """DOI/PMID/PMCID variables, an arXiv URL and a PMID in note; `id` is the work_id."""
    report = read_works(INPUTS / "library.json")
    assert report.format == "csl-json" and report.key == "id"
    works = by_id(report)
    z = works["http://zotero.org/users/1234567/items/A7X9KQ2M"]
    assert (z.doi, z.pmid, z.pmcid) == ("10.1371/journal.pone.0000001", "31234567", "PMC6543210")
    assert works["vaswani2017"].arxiv_id == "1706.03762"
    assert works["malaria2018"].pmid == "29876543"
    assert z.columns["issued"] == {"date-parts": [[2020, 1, 2]]}
    assert [e.entry for e in report.errors] == ["knuth1984"]


# ---- one identifier per line, a Python list ----------------------------------------------


def test_pasted_identifiers_are_detected_line_by_line():
    """Each line's kind is detected; comments and blanks skipped; a bad line named by number."""
    report = read_works(INPUTS / "pasted.txt")
    assert report.format == "ids"
    got = [w.identifiers() for w in report]
    assert got == [
        {"doi": "10.1371/journal.pone.0000001"},
        {"doi": "10.1038/s41567-019-0001-x"},
        {"arxiv_id": "1706.03762v5"},
        {"pmcid": "PMC6543210"},
        {"pmid": "29876543"},
        {"arxiv_id": "hep-th/9711200"},
        {"landing_url": "https://www.example.org/proceedings/2021/paper-17"},
    ]
    (error,) = report.errors
    assert str(error).startswith("row 10: 'not an identifier at all' is not a DOI")


def test_python_list_of_strings():
    """A list of DOIs, arXiv ids, PMCIDs, PMIDs and their URLs reads like a pasted file."""
    report = read_works(["10.1000/A", "arXiv:2106.01234", "https://www.ncbi.nlm.nih.gov/pmc/"
                         "articles/PMC123/", "123", "https://pmc.ncbi.nlm.nih.gov/articles/PMC9/",
                         "", "https://www.doi.org/10.1000/b#abstract"])
    assert [w.work_id for w in report] == ["doi:10.1000/a", "arxiv:2106.01234", "pmcid:PMC123",
                                          "pmid:123", "pmcid:PMC9", "doi:10.1000/b"]
    assert [e.row for e in report.errors] == [6]


def test_run_works_takes_a_list_of_strings(monkeypatch):
    """run_works([...strings]) no longer crashes: the list is read as identifiers."""
    from fallback_kit.engine.batch import as_works_report as _as_report

    report = _as_report(("10.1000/a", "PMC5"))
    assert [w.work_id for w in report] == ["doi:10.1000/a", "pmcid:PMC5"]


# ---- DataFrames --------------------------------------------------------------------------


def test_dataframe_usual_columns_float_pmids_and_float_arxiv_ids():
    """`DOI`, `Key`, PMIDs read as floats are accepted; arXiv ids read as floats that may have
    lost a trailing zero are refused naming the row, numbered as the CSV's rows."""
    df = pd.DataFrame({
        "Key": ["K1", "K2", "K3", "K4"],
        "DOI": ["10.1000/A", None, None, None],
        "PMID": [12345.0, float("nan"), None, None],
        "arXiv": [None, 2106.0123, 1412.1234, 2106.12345],
    })
    report = read_works(df, key="Key")
    works = by_id(report)
    assert works["K1"].pmid == "12345" and works["K1"].doi == "10.1000/a"
    assert works["K3"].arxiv_id == "1412.1234" and works["K4"].arxiv_id == "2106.12345"
    (error,) = report.errors
    assert (error.row, error.field) == (3, "arxiv_id") and "2106.0123" in str(error)
    assert works["K1"].columns == {"Key": "K1", "DOI": "10.1000/A", "PMID": 12345.0,
                                   "arXiv": None}



def test_dataframe_rows_are_numbered_as_the_same_csv_rows(tmp_path):
    """A bad row has the same number whether the table is a DataFrame or its CSV."""
    df = pd.DataFrame({"work_id": ["a", "b", "c"], "doi": ["10.1000/a", "nope", None],
                       "arxiv_id": [None, None, 2106.0123]})
    f = tmp_path / "w.csv"
    df.to_csv(f, index=False)
    from_df, from_csv = read_works(df), read_works(f)
    assert [(e.row, e.field) for e in from_df.errors] == [(3, "doi"), (4, "arxiv_id")]
    assert [(e.row, e.field) for e in from_csv.errors] == [(3, "doi"), (4, "arxiv_id")]


def test_key_column_becomes_the_work_id_unchanged(tmp_path):
    """--key keeps the user's spelling (case, spaces inside); a missing column is refused."""
    f = tmp_path / "w.csv"
    f.write_text("My Key,doi\nSmith 2020a,10.1000/x\nSMITH2020B,10.1000/y\n,10.1000/z\n",
                 encoding="utf-8")
    report = read_works(f, key="My Key")
    assert [w.work_id for w in report] == ["Smith 2020a", "SMITH2020B"]
    assert report.errors[0].row == 4 and "key column 'My Key'" in str(report.errors[0])
    with pytest.raises(WorksFileError, match="no key column 'Nope'"):
        read_works(f, key="Nope")


# ---- detection, hints, odd tables --------------------------------------------------------


@pytest.mark.parametrize("name,text,fmt", [
    ("refs.txt", "% comment\n@article{a, doi={10.1000/x}}\n", "bibtex"),
    ("refs.csv", "10.1000/a\n10.1000/b\n", "ids"),
    ("refs.dat", "TY  - JOUR\nDO  - 10.1000/a\nER  - \n", "ris"),
    ("refs.txt", '[{"id": "a", "DOI": "10.1000/a"}]', "csl-json"),
    ("refs.txt", "work_id,doi\na,10.1000/a\n", "csv"),
    ("refs.csv", "doi\n10.1000/a\n", "csv"),
])
def test_format_is_detected_from_content(tmp_path, name, text, fmt):
    """Content decides (a .bib saved as .txt, a headerless list saved as .csv)."""
    assert detect_format(text, Path(name).suffix) == fmt
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    assert read_works(f).format == fmt and len(read_works(f)) >= 1


def test_format_can_be_forced(tmp_path):
    """--format ids reads a one-column file whose first line looks like a header as ids."""
    f = tmp_path / "list.csv"
    f.write_text("10.1000/a\n", encoding="utf-8")
    assert read_works(f, format="ids").format == "ids"
    with pytest.raises(WorksFileError, match="unknown format 'xls'"):
        read_works(f, format="xls")


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_separated_tables(tmp_path, sep):
    """European Excel (`;`) and TSV files are read as tables."""
    f = tmp_path / "w.csv"
    f.write_text(sep.join(["work_id", "doi", "title"]) + "\n"
                 + sep.join(["a", "10.1000/a", "Title, with a comma"]) + "\n", encoding="utf-8")
    (work,) = read_works(f)
    assert (work.work_id, work.doi, work.title) == ("a", "10.1000/a", "Title, with a comma")


def test_duplicate_csv_header_is_one_clear_error(tmp_path):
    """A column named twice would hide one value: refused, naming both positions."""
    f = tmp_path / "w.csv"
    f.write_text("work_id,doi,title,doi\na,10.1000/a,t,10.1000/b\n", encoding="utf-8")
    with pytest.raises(WorksFileError, match=r"names column 'doi' twice \(columns 2 and 4\)"):
        read_works(f)


@pytest.mark.parametrize("name,data", [
    ("works.xlsx", b"PK\x03\x04rest-of-zip"),
    ("works.csv", b"PK\x03\x04an xlsx renamed"),
    ("works.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old excel"),
])
def test_spreadsheets_get_a_hint(tmp_path, capsys, name, data):
    """An Excel file (by extension or content) gets one line saying what to do, exit 2."""
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(WorksFileError, match="save it as CSV"):
        read_works(f)
    code = main(["run", str(f), "--plan", "default"])
    err = capsys.readouterr().err
    assert code == 2 and "save it as CSV" in err and len(err.strip().splitlines()) == 1


# ---- identifiers from messy sources ------------------------------------------------------


@pytest.mark.parametrize("raw,doi", [
    ("10.1000/abc.", "10.1000/abc"),
    ("10.1000/abc),", "10.1000/abc"),
    ("https://doi.org/10.1000/abc#sec2", "10.1000/abc"),
    ("10.1000/\u200babc\u200b", "10.1000/abc"),
    ("https://www.doi.org/10.1000/ABC", "10.1000/abc"),
    ("www.doi.org/10.1000/abc;", "10.1000/abc"),
    ("10.1016/0000-0000(90)90000-x", "10.1016/0000-0000(90)90000-x"),  # balanced: kept
    ("10.1002/(sici)1097-0258(19980815)17:15<1661::aid-sim968>3.0.co;2-#",
     "10.1002/(sici)1097-0258(19980815)17:15<1661::aid-sim968>3.0.co;2-#"),  # bare '#': kept
])
def test_messy_dois_are_cleaned(raw, doi):
    """Trailing punctuation, fragments, zero-width spaces and www.doi.org go (issue 14 §7)."""
    assert normalize_doi(raw) == doi


@pytest.mark.parametrize("raw,kind,value", [
    ("https://arxiv.org/pdf/2106.01234v2.pdf", "arxiv_id", "2106.01234v2"),
    ("https://europepmc.org/article/PMC/PMC77", "pmcid", "PMC77"),
    ("https://www.ncbi.nlm.nih.gov/pubmed/555", "pmid", "555"),
    ("PMID: 42", "pmid", "42"),
    ("https://doi.org/10.48550/arXiv.2106.01234", "doi", "10.48550/arxiv.2106.01234"),
])
def test_identify_kinds(raw, kind, value):
    assert identify(raw) == (kind, value)


# ---- CLI and the failures round trip -----------------------------------------------------


def test_write_records_round_trips_each_format(tmp_path):
    """What a reader keeps, a writer writes back so that the reader reads the same works."""
    for name in ("library.bib", "zotero.csv", "library.ris", "library.json", "pasted.txt"):
        report = read_works(INPUTS / name)
        out = tmp_path / ("again-" + name)
        write_records([dict(w.columns) for w in report], out, report.format or "csv",
                      **({"header": report.header} if report.format == "csv" else {}))
        again = read_works(out, format=report.format)
        assert [w.identifiers() for w in again] == [w.identifiers() for w in report], name
        assert [w.work_id for w in again] == [w.work_id for w in report], name


def test_unreadable_file_is_one_line(tmp_path, monkeypatch, capsys):
    """A works file the user may not read (PermissionError) is one line, exit 2."""
    f = tmp_path / "w.csv"
    f.write_text("doi\n10.1000/a\n", encoding="utf-8")

    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(WorksFileError, match="not readable"):
        read_works(f)
    code = main(["run", str(f), "--plan", "default"])
    err = capsys.readouterr().err
    assert code == 2 and "not readable" in err and len(err.strip().splitlines()) == 1


def test_cli_key_column_that_is_not_there(tmp_path, capsys):
    """`run --key` naming no column is one line naming the header, exit 2."""
    f = tmp_path / "w.csv"
    f.write_text("Key,DOI\nA1,10.1000/a\n", encoding="utf-8")
    code = main(["run", str(f), "--key", "Citation", "--plan",
                 "default"])
    err = capsys.readouterr().err
    assert code == 2 and "no key column 'Citation'" in err


# ---- random text in each format: a report or one WorksFileError, nothing else ------------

_FORMAT_TEXT = st.one_of(
    st.builds(lambda body: "@article{" + body, st.text(alphabet='@{}=,"\\ ak1/.%\n', max_size=200)),
    st.builds(lambda body: "TY  - JOUR\n" + body,
              st.text(alphabet="TYDOURNIE1  -:\n10./abPMID", max_size=200)),
    st.builds(lambda body: "[" + body, st.text(alphabet='[]{}":,DOIidPMC10./ \n', max_size=200)),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_FORMAT_TEXT)
def test_random_bibtex_ris_and_json_text(tmp_path, text):
    """Broken BibTeX, RIS or JSON gives entry errors or one WorksFileError, never a crash."""
    f = tmp_path / "refs.txt"
    f.write_text(text, encoding="utf-8")
    try:
        report = read_works(f)
    except WorksFileError as exc:
        assert str(f) in str(exc)
        return
    assert all(isinstance(e, WorkError) for e in report.errors)
    assert len({w.work_id for w in report}) == len(report.works)


def test_excel_sep_line_names_the_delimiter(tmp_path):
    """Excel's `sep=;` first line sets the delimiter; rows keep their line numbers."""
    f = tmp_path / "w.csv"
    f.write_text("sep=;\nwork_id;doi\na;10.1000/a\nb;nope\n", encoding="utf-8")
    report = read_works(f)
    assert [w.work_id for w in report] == ["a"]
    assert [(e.row, e.field) for e in report.errors] == [(4, "doi")]


def test_headerless_table_gets_a_hint(tmp_path):
    """A table whose first line is data says that the header row is missing."""
    f = tmp_path / "w.csv"
    f.write_text("10.1000/a,A title\n10.1000/b,Another\n", encoding="utf-8")
    with pytest.raises(WorksFileError, match="has no header row: add one"):
        read_works(f)
