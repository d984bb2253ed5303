# Two entry points for a fresh machine: `make run` (broker on its embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-runtime
NODE_STAMP := tests/interop/node_modules/.installed

.PHONY: run test bench demo fuzz clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e '.[test,llm,load]'
	touch $(STAMP)

# `make run` needs only the runtime dependencies: no test, llm or load extras.
$(RUN_STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c requirements.lock -e .
	touch $(RUN_STAMP)

$(NODE_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

run: $(RUN_STAMP)
	$(VENV)/bin/tether $(ARGS)

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m examples.demo $(ARGS)

fuzz: $(STAMP)  # the fuzz properties at length (the suite runs them with 40 inputs each)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-3000} $(PY) -m pytest -q tests/fuzz --hypothesis-show-statistics $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.fanout $(ARGS)

clean:
	rm -rf $(VENV) tests/interop/node_modules

# The official SDK suites against Tether (docs/conformance.md); needs an SDK checkout, not part of `make test`.
SDK ?= ably-js
.PHONY: conformance
conformance: $(STAMP)
	$(PY) -m tests.conformance.run --sdk $(SDK) $(CONFORMANCE_ARGS)
