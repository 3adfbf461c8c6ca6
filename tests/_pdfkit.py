"""Real PDFs for the right-paper check, written with fpdf2 and a Unicode font (DejaVu,
shipped with matplotlib) so that accents and ligatures are real glyphs in the text layer."""

from __future__ import annotations

import os

import matplotlib
from fpdf import FPDF

FONT = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")
TITLE = "Efficient Estimation of Species Richness in Fragmented Landscapes"
DOI = "10.1371/journal.pone.0213978"


def article_pdf(
    title_lines: list[str],
    *,
    doi: str | None = DOI,
    authors: str = "Marta Núñez, Olaf Øster and Jean Dupré",
    year: int = 2019,
    pages: int = 2,
    header: str = "PLOS ONE | RESEARCH ARTICLE",
) -> bytes:
    """A journal-like article: header, title lines, authors, DOI line, abstract, body pages."""
    pdf = FPDF()
    pdf.add_font("dejavu", fname=FONT)
    pdf.add_page()
    pdf.set_font("dejavu", size=9)
    pdf.cell(0, 6, header, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=16)
    for line in title_lines:
        pdf.cell(0, 9, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("dejavu", size=10)
    pdf.cell(0, 6, authors, new_x="LMARGIN", new_y="NEXT")
    doi_text = f" · https://doi.org/{doi}" if doi else ""
    pdf.cell(0, 6, f"Published {year}{doi_text}", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, "Abstract. We study how the estimators behave when habitats are cut "
                         "into pieces, with field data from three regions and simulations.")
    for _ in range(pages - 1):
        pdf.add_page()
        pdf.multi_cell(0, 5, "Methods and results follow. " * 40)
    return bytes(pdf.output())
