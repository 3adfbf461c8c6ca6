# The two commands of the README: `make run` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lab lint bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fallback-kit run sample_works.csv --plan default --sandbox --profile mixed --seed 7 --concurrency 4 --out runs/sample --force --download runs/sample/pdfs

test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg -p no:cacheprovider notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

lint: $(STAMP)
	$(BIN)/ruff check fallback_kit tests benchmarks notebooks
	$(BIN)/mypy fallback_kit

# Mutation testing of the core (pyproject.toml [tool.mutmut]); not part of `make test`.
# mutmut's covered-lines filter reads stale mutated files wrongly: start from a clean folder.
# The tests mostly wait on their event loops: 8 children keep 2 cores busy (RELIABILITY.md).
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 8
	$(BIN)/python tests/reliability/mutation_report.py

bench: $(STAMP)
	$(BIN)/python benchmarks/resolve.py --profile mixed --n 2000

clean:
	rm -rf $(VENV) runs build *.egg-info mutants
