# The project's verbs. Every target creates .venv (python3 -m venv) when it is missing and
# installs the package with its test extras; later runs reuse it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SEED   ?= 20150701

.PHONY: install reproduce test test-fast lab benchmark notebooks site student-notebooks lint clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 > /dev/null
	@touch $(STAMP)

install: $(STAMP)

## make reproduce: simulate the study, run every notebook, export figures and the replication table into reports/
reproduce: $(STAMP)
	$(BIN)/winback-study reproduce --out reports --seed $(SEED)

## make test: the whole suite, slow tests included
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow"

## make lab: open the notebooks in JupyterLab (optional)
lab: $(STAMP)
	$(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/

benchmark: $(STAMP)
	$(BIN)/python benchmarks/bench_simulation.py
	$(BIN)/python benchmarks/bench_return_probability.py --sizes 100000 1000000
	$(BIN)/python benchmarks/bench_second_lifetime.py --sizes 100000

## make notebooks: rebuild notebooks/*.ipynb from their jupytext twins (notebooks/*.py)
notebooks: $(STAMP)
	$(BIN)/jupytext --update --to notebook notebooks/[0-9]*.py

## make site: the notebooks as a static HTML book in reports/site/ (runs make reproduce's notebooks first when missing or stale)
site: $(STAMP)
	$(BIN)/python docs/build_site.py --reports reports --out reports/site --seed $(SEED)

## make student-notebooks: copies of the notebooks without their solutions, in reports/student/
student-notebooks: $(STAMP)
	$(BIN)/python scripts/student_notebooks.py --out reports/student

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf reports .pytest_cache
