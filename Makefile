# kgcrm's two commands for a new user: `make demo` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
KGCRM_CACHE ?= $(HOME)/.cache/kgcrm
# The environment is keyed by the dependency lists, so editing them builds a fresh one.
DEPS_KEY := $(shell $(PYTHON) -c 'import tomllib,hashlib,json; p=tomllib.load(open("pyproject.toml","rb"))["project"]; print(hashlib.sha256(json.dumps([p["dependencies"],p.get("optional-dependencies")],sort_keys=True).encode()).hexdigest()[:12])' 2>/dev/null || echo unknown)
VENV ?= $(KGCRM_CACHE)/venv-$(DEPS_KEY)
KGCRM := $(VENV)/bin/kgcrm
PYTEST_ARGS ?=

.PHONY: help venv-path install demo test bench-full neo4j-install neo4j-start neo4j-stop neo4j-status schema stats bench soak clean

help:
	@echo "make demo          install what is missing, start Neo4j, load a small world, train, score, serve the API"
	@echo "make test          install what is missing, then run the whole test suite"
	@echo "make neo4j-install|neo4j-start|neo4j-stop|neo4j-status   manage the local Neo4j"
	@echo "make bench         run every benchmark at its standard size (~17 min on 2 quiet cores; sections in bench/out/)"
	@echo "make bench-full    every benchmark at the size bench/RESULTS.md reports (hours on two cores)"
	@echo "make clean         stop the local Neo4j and remove .kgcrm/ (its data too)"

venv-path:
	@echo $(VENV)

install:
	@PYTHON="$(PYTHON)" VENV="$(VENV)" bash scripts/bootstrap.sh
	@bash scripts/browser.sh

demo: install
	$(KGCRM) demo

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

neo4j-install: install
	$(KGCRM) neo4j install

neo4j-start: install
	$(KGCRM) neo4j start

neo4j-stop: install
	$(KGCRM) neo4j stop

neo4j-status: install
	$(KGCRM) neo4j status

schema: install
	$(KGCRM) schema apply

stats: install
	$(KGCRM) stats

bench: install
	$(VENV)/bin/python bench/run_all.py

bench-full: install
	$(VENV)/bin/python bench/run_all.py --full

soak: install
	$(VENV)/bin/pytest tests/reliability -m soak $(PYTEST_ARGS)

clean:
	-$(KGCRM) neo4j stop
	rm -rf .kgcrm
