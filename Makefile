# skillgap: `make run` refreshes everything on the sample data, `make test` runs the suite.
# Each target installs what it needs into .venv first; the install is skipped when pyproject.toml
# has not changed since the last one.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(abspath $(BIN)):$(PATH)
export DAGSTER_HOME ?= $(abspath data/dagster_home)

.PHONY: install run test dev lint manifest sample clean spark-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# The dbt manifest that the Dagster dbt assets are built from (orchestration/dbt_project.py says
# how dbt is found and run, for every caller).
manifest: install
	$(BIN)/python -m orchestration.dbt_project

# SKILLGAP_ENGINE=spark make run: the same refresh on a local Spark (docs/scale-out.md).
run: install $(if $(filter spark,$(SKILLGAP_ENGINE)),spark-deps)
	$(BIN)/python -m orchestration.refresh $(ARGS)

test: manifest spark-deps
	$(BIN)/python -m pytest

# Java and the spark extra, for the Spark engine and its tests (tests/spark).
SPARK_STAMP := $(VENV)/.spark-stamp
spark-deps: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	@command -v java >/dev/null || { \
	  apt-get -o DPkg::Lock::Timeout=600 install -y openjdk-17-jre-headless || \
	  { apt-get update && apt-get -o DPkg::Lock::Timeout=600 install -y openjdk-17-jre-headless; }; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,spark]'
	@touch $(SPARK_STAMP)

dev: manifest
	@mkdir -p $(DAGSTER_HOME)
	@test -f $(DAGSTER_HOME)/dagster.yaml || cp orchestration/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -m orchestration.definitions

lint: install
	$(BIN)/ruff check orchestration irt_models tests benchmarks sample_data
	$(BIN)/ruff format --check orchestration irt_models tests benchmarks sample_data

sample: install
	$(BIN)/python -m sample_data

clean:
	rm -rf data target logs
