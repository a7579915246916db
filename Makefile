# The two README commands run `bash scripts/setup.sh && make book` and `... && make test`.
VENV := .venv
PY := $(VENV)/bin/python
PROFILE ?= default
JOBS ?=

.PHONY: setup book notebooks html test test-slow sync clean

setup:
	bash scripts/setup.sh

notebooks: setup
	-$(PY) -m emoomni.prefetch --profile $(PROFILE) $(if $(JOBS),--jobs $(JOBS))
	$(PY) -m emoomni.notebooks --profile $(PROFILE)

html:
	$(VENV)/bin/jupyter-book build . --warningiserror --nitpick --keep-going

book: notebooks html
	@echo "book: open _build/html/index.html"

test: setup
	$(PY) -m pytest -q

test-slow: setup
	$(PY) -m pytest -q -m slow

sync:
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

clean:
	rm -rf _build book/executed
