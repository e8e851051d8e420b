# The two commands: `make run` (install, then a real scan locally) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXAMPLE ?= quickstart
WORKERS ?= 4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20

.PHONY: run test lint typecheck unit bench synth clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

# the CDK CLI pinned in package.json (the infra tests check it agrees with aws-cdk-lib)
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# the report test renders in headless Chromium (Debian's package)
/usr/bin/chromium:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends chromium

# the worker image test builds worker/Dockerfile with buildah on a debootstrap base
/usr/bin/buildah:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends buildah debootstrap

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/scanfleet local run examples/$(EXAMPLE)/scan.yaml --workers $(WORKERS)

test: $(VENV)/.installed-dev node_modules/.package-lock.json /usr/bin/chromium /usr/bin/buildah lint typecheck unit

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the walls between packages: [tool.importlinter] in pyproject.toml

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q

bench: $(VENV)/.installed-dev
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

synth: $(VENV)/.installed-dev node_modules/.package-lock.json
	PATH=$(CURDIR)/$(BIN):$$PATH npx cdk synth --quiet

clean:
	rm -rf $(VENV) .scanfleet scanfleet-results cdk.out node_modules build
