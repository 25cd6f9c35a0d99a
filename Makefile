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

# Two workers (TEST_WORKERS=0 runs in one process): most of a test's time is dbt, Spark and
# Superset start-up and single-threaded Python, so two share the two cores well. --dist loadfile
# keeps a file's tests, and its module fixtures, on one worker.
TEST_WORKERS ?= 2
test: manifest spark-deps lrs-install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

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
	$(BIN)/ruff check orchestration irt_models tests benchmarks sample_data bi
	$(BIN)/ruff format --check orchestration irt_models tests benchmarks sample_data bi

sample: install
	$(BIN)/python -m sample_data

clean:
	rm -rf data target logs

# Superset with skillgap's dashboards (bi/): its own virtualenv, because Superset pins
# SQLAlchemy < 2. `make bi` installs it, sets up the metadata under data/superset, imports
# bi/superset/ (overwriting what an earlier run imported), makes one role per company, then serves.
BI_VENV := .venv-bi
BI_BIN := $(BI_VENV)/bin
BI_STAMP := $(BI_VENV)/.installed-stamp
BI_PORT ?= 8088

.PHONY: bi bi-install bi-browser bi-deploy

bi-install: $(BI_STAMP)

$(BI_STAMP): bi/requirements.txt
	@test -x $(BI_BIN)/python || $(PYTHON) -m venv $(BI_VENV)
	$(BI_BIN)/python -m pip install --quiet --disable-pip-version-check -r bi/requirements.txt
	@touch $(BI_STAMP)

# Headless Chromium and its driver for the browser test and the screenshots (Debian packages).
bi-browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		apt-get -o DPkg::Lock::Timeout=600 install -y chromium chromium-driver || \
		{ apt-get update && apt-get -o DPkg::Lock::Timeout=600 install -y chromium chromium-driver; }

bi-deploy: bi-install
	$(BI_BIN)/python -m bi.deploy --port $(BI_PORT)

bi: bi-deploy
	SUPERSET_CONFIG_PATH=$(abspath bi/superset_config.py) \
		$(BI_BIN)/superset run -h 127.0.0.1 -p $(BI_PORT) --with-threads

# Ralph, a real xAPI Learning Record Store, for the tests of the statement intake (tests/lrs):
# its own virtualenv, because it pins dependencies that clash with the project's. Its file-system
# backend needs no database; tests/lrs/ralph.py starts and stops it. The pin is here, so the
# install runs again when this Makefile changes (about a second when nothing is missing).
LRS_VENV := .venv-lrs
LRS_BIN := $(LRS_VENV)/bin
LRS_STAMP := $(LRS_VENV)/.installed-stamp
LRS_REQUIREMENTS := 'ralph-malph[lrs,cli]==5.1.0' requests

.PHONY: lrs-install

lrs-install: $(LRS_STAMP)

$(LRS_STAMP): Makefile
	@test -x $(LRS_BIN)/python || $(PYTHON) -m venv $(LRS_VENV)
	$(LRS_BIN)/python -m pip install --quiet --disable-pip-version-check $(LRS_REQUIREMENTS)
	@touch $(LRS_STAMP)
