# Two commands: `make demo` and `make test`. Both build .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.11 python3.12 python3; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3,11) <= sys.version_info[:2] < (3,13)))' 2>/dev/null; then echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8080
HOST ?= 127.0.0.1

.PHONY: demo test lint unit install install-test browser-deps gateway-deps clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is needed (wechaty does not run on 3.13+)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/python -m bot run --config config/demo.toml --channel sim --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: install-test
	$(BIN)/python -m pytest -q

# The browser tests drive Debian's Chromium (playwright with executable_path): install it, and a
# CJK font for readable screenshots, when missing. Root on a fresh machine; sudo otherwise.
browser-deps:
	@pkgs=""; command -v chromium >/dev/null 2>&1 || pkgs="chromium"; \
	{ command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -q .; } || pkgs="$$pkgs fonts-noto-cjk"; \
	if [ -n "$$pkgs" ]; then \
	  echo "installing from Debian's packages for the browser tests:$$pkgs"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$pkgs; \
	fi

# the Wechaty integration tests serve a mocked WeChat with the official TypeScript packages
gateway-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  test -d tests/wechaty_gateway/node_modules || \
	  (cd tests/wechaty_gateway && npm ci --ignore-scripts --no-audit --no-fund); \
	else echo "npm not found: the Wechaty integration tests will be skipped (or fail under CI)"; fi

test: install-test browser-deps gateway-deps
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
