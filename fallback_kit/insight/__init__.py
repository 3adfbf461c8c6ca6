"""Reading runs: a stored run as DataFrames, analysis, plan tuning and plots."""
