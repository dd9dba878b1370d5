# Two commands do all the set-up on a fresh machine:
#   make demo   - build the sample project on DuckDB and sync it to a local Gainsight emulator
#   make test   - run the whole test suite (needs PostgreSQL on 127.0.0.1:5432 or DBT_GAINSIGHT_TEST_PG)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/dbt-gainsight: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

demo: $(BIN)/dbt-gainsight
	VENV=$(VENV) bash scripts/demo.sh

test: $(BIN)/dbt-gainsight
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15 tests

lint: $(BIN)/dbt-gainsight
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(BIN)/dbt-gainsight
	$(BIN)/python benchmarks/sync_bench.py

clean:
	rm -rf $(VENV) sample_dbt_project/target sample_dbt_project/logs
