# Quick start: `make run` and `make test` on a fresh machine. Each target installs what it needs.
PY_BOOT ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OLD_SDK := $(VENV)/old-sdk
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
E2E_DIR := tests/e2e/clients
E2E_LATEST := tests/e2e/clients-latest

.PHONY: run test e2e bench bench-tools demo lint venv browser postgres old-sdk clients clean

$(PY):
	$(PY_BOOT) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Old SDK generations (anthropic 0.7x sends x-api-key, 2.x sends Bearer): installed beside the venv,
# put first on PYTHONPATH by the tests that need them.
$(OLD_SDK)/.installed: | $(STAMP)
	$(PY) -m pip install --quiet --target $(OLD_SDK) 'anthropic==0.75.0' 'openai==1.109.1'
	touch $@

old-sdk: $(OLD_SDK)/.installed

# Debian's Chromium and ChromeDriver for the dashboard's browser tests.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver )

# Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin): the tests start a throwaway cluster of
# their own (tests/pgserver.py); nothing here starts or configures a system-wide server.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql )

# The real CLIs from npm, pinned by the lock files: Claude Code 2.1.197 (the last release for node < 22) and
# Codex 0.171.0 in $(E2E_DIR); the newest Claude Code in $(E2E_LATEST), whose npm wrapper declares node >= 22
# (hence --engine-strict=false; its native binary runs here). Node and npm come from Debian when missing.
# The tests run the native binaries from the platform packages, so npm blocking a postinstall script is
# harmless; optional dependencies must not be omitted.
$(E2E_DIR)/node_modules/.installed: $(E2E_DIR)/package.json $(E2E_DIR)/package-lock.json
	@command -v npm >/dev/null || \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm )
	cd $(E2E_DIR) && npm ci --include=optional --no-audit --no-fund --loglevel=error
	touch $@

$(E2E_LATEST)/node_modules/.installed: $(E2E_LATEST)/package.json $(E2E_LATEST)/package-lock.json | $(E2E_DIR)/node_modules/.installed
	cd $(E2E_LATEST) && npm ci --engine-strict=false --include=optional --no-audit --no-fund --loglevel=error
	touch $@

clients: $(E2E_DIR)/node_modules/.installed $(E2E_LATEST)/node_modules/.installed

# honcho.env holds the defaults; honcho.local.env (git-ignored: provider keys go there) overrides them, and a
# variable set in the shell overrides both (honcho itself would let its env file win over the shell).
# tests/test_make_run.py runs this target (in a temporary directory, VENV given as an absolute path).
# SHELL_WINS prints its env files without the lines of a variable set in the shell.
SHELL_WINS := awk '{ line = $$0; sub(/^[ \t]*(export[ \t]+)?/, "", line) } \
	match(line, /^[A-Za-z_][A-Za-z0-9_]*[ \t]*=/) { name = substr(line, 1, RLENGTH - 1); \
	sub(/[ \t]+$$/, "", name); if (name in ENVIRON) next } { print }'

run: venv
	@mkdir -p data
	@umask 077 && $(SHELL_WINS) honcho.env $(wildcard honcho.local.env) > data/.honcho.run.env
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/honcho -e data/.honcho.run.env start

lint: venv
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench
	$(VENV)/bin/mypy

test: venv old-sdk browser postgres bench-tools lint
	$(VENV)/bin/pytest tests -q --headless -m "not e2e"

e2e: venv clients
	$(VENV)/bin/pytest tests/e2e -q -m e2e -p no:dash

# Debian's wrk (the load generator) and nginx-light (the upstream serving canned answers) for the benchmark
# table; the bench starts its own nginx with its own config in a temp dir, never the system-wide one.
bench-tools:
	@command -v wrk >/dev/null && { command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || \
		( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk nginx-light )

# BENCH_ARGS go to the table (bench/bench_table.py), e.g. make bench BENCH_ARGS=--quick
bench: venv bench-tools
	$(PY) -m bench $(BENCH_ARGS)

# The whole stack with the fake provider standing in for every provider, plus a traffic generator. A variable
# set in the shell wins over honcho.env (GATEWAY_PORT=3201 make demo), as for run; tests/demo/demo.env wins over
# both (its fake provider keys and base URLs, its ledger: a provider key in the shell never reaches the demo).
# The fake providers listen on 3101-3104, or on DEMO_FAKE_{OPENAI,ANTHROPIC,XAI,OPENROUTER}_PORT when set in the shell
# (the Procfile reads them; DEMO_PORTS moves demo.env's base URLs with them). tests/test_make_demo.py runs this target.
DEMO_PORTS := sed -e 's|127\.0\.0\.1:3101\b|127.0.0.1:$(or $(DEMO_FAKE_OPENAI_PORT),3101)|' \
	-e 's|127\.0\.0\.1:3102\b|127.0.0.1:$(or $(DEMO_FAKE_ANTHROPIC_PORT),3102)|' \
	-e 's|127\.0\.0\.1:3103\b|127.0.0.1:$(or $(DEMO_FAKE_XAI_PORT),3103)|' \
	-e 's|127\.0\.0\.1:3104\b|127.0.0.1:$(or $(DEMO_FAKE_OPENROUTER_PORT),3104)|'
demo: venv
	@mkdir -p data
	@umask 077 && { $(SHELL_WINS) honcho.env; $(DEMO_PORTS) tests/demo/demo.env; } > data/.honcho.demo.env
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/honcho -d . -e data/.honcho.demo.env -f tests/demo/Procfile start

clean:
	rm -rf $(VENV) data .e2e $(E2E_DIR)/node_modules $(E2E_LATEST)/node_modules
