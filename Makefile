# Health Trend Seller. `make help` lists the targets.
PY := .venv/bin/python
RASA := $(PY) -m rasa
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## create .venv from requirements.lock (only when the lock changed), create .env
	@./scripts/bootstrap.sh

lock: ## re-resolve requirements.lock from requirements.in (Rasa + everything, one resolve)
	@./scripts/lock.sh

db: setup ## migrate the database and load the sample catalog
	@$(PY) -m backend db upgrade
	@$(PY) -m backend catalog load
	@$(PY) -m backend staff ensure-admin

train: setup models/current.tar.gz ## train the Rasa model when data, config or domain changed

# make skips Rasa entirely when the model is newer than its inputs; Rasa's own fingerprint then
# skips the training work when a file was touched but not changed.
models/current.tar.gz: config.yml domain.yml $(wildcard data/*.yml)
	@$(RASA) train --out models --fixed-model-name current --quiet 2>&1 | grep -vE "Warning|^\s*$$|declare_namespace" || true
	@test -f $@ || { echo "error: training failed (see output above)"; exit 1; }
	@touch $@

train-candidate: setup ## train models/candidate.tar.gz from data/ (models/current.tar.gz untouched)
	@rm -f models/candidate.tar.gz
	@$(RASA) train --out models --fixed-model-name candidate --quiet 2>&1 | grep -vE "Warning|^\s*$$|declare_namespace" || true
	@test -f models/candidate.tar.gz || { echo "error: training failed (see output above)"; exit 1; }

compare-candidate: setup ## current vs candidate on the evaluation sets -> results/training/compare.md
	@$(PY) -m backend training compare --current models/current.tar.gz --candidate models/candidate.tar.gz

promote-candidate: setup ## deploy the candidate: copy it over models/current.tar.gz (audit ledger entry)
	@$(PY) -m backend training promote

run: db train ## set up and run everything on 127.0.0.1 (Ctrl-C stops all)
	@$(PY) -m backend up

test: setup ## set up and run every test (lint, data validation, pytest, Rasa story tests)
	@./scripts/test.sh

test-scale: setup train ## the multi-instance topology (2x rasa, 2x actions behind HAProxy; Postgres, Redis)
	@$(PY) -m pytest -q tests/scale

fuzz: setup ## schemathesis against the admin API: no input may cause a 5xx (own venv)
	@./scripts/schemathesis.sh

lint: setup ## ruff lint and format check
	@.venv/bin/ruff check backend actions tests benchmarks
	@.venv/bin/ruff format --check backend actions tests benchmarks

format: setup ## ruff fix and format
	@.venv/bin/ruff check --fix backend actions tests benchmarks
	@.venv/bin/ruff format backend actions tests benchmarks

validate: setup ## rasa data validate --fail-on-warnings
	@$(RASA) data validate --fail-on-warnings --quiet

nlu-report: setup ## 5-fold NLU cross-validation: intent report + confusion matrix in results/
	@$(RASA) test nlu --nlu data --cross-validation --folds 5 --out results

bench: setup ## run the benchmarks; figures go to benchmarks/results/
	@./scripts/bench.sh

clean: ## remove the virtualenv, database, models and results
	rm -rf .venv var results models/*.tar.gz

.PHONY: help setup lock db train train-candidate compare-candidate promote-candidate run test test-scale fuzz lint format validate nlu-report bench clean
