"""What a run leaves behind: the SQLite run store and the downloaded PDFs."""
