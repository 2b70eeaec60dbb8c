VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup test demo bench clean

setup:
	@scripts/install-deps
	@scripts/setup-venv

test: setup
	$(PY) -m pytest -q -x --durations=10

demo: setup
	@scripts/demo

bench: setup
	@bench/run

clean:
	rm -rf $(VENV) .pytest_cache
