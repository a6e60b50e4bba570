# Each target sets up what it needs from nothing on a fresh Debian machine and is quick when already set up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export AWS_DEFAULT_REGION ?= us-east-1

# What stream_task/ffmpeg/build.sh needs to build the stream engine's ffmpeg (as the image's build stage does).
FFMPEG_BUILD_PACKAGES := gcc make pkg-config nasm dpkg-dev libssl-dev zlib1g-dev xz-utils
# What builds and runs the stream task's image here (local/task_container.py: podman with runc, catatonit as the
# container's init, a Debian base made by mmdebstrap).
CONTAINER_PACKAGES := podman runc catatonit mmdebstrap
APT_PACKAGES := ffmpeg fonts-dejavu-core nginx libnginx-mod-rtmp chromium $(FFMPEG_BUILD_PACKAGES) $(CONTAINER_PACKAGES)
ENGINE_FFMPEG := build/ffmpeg-stream/bin/ffmpeg
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -type f -print 2>/dev/null)
LAYER_SOURCES := $(shell find layers -name '*.py' -o -name 'requirements.txt' 2>/dev/null)

.PHONY: help local test test-fast lint synth bench deploy system-deps clean

help:
	@echo "make local   - the whole system on http://127.0.0.1:$(PORT), no AWS account needed"
	@echo "make test    - lint, unit, integration (moto), infra (synth, cdk-nag, cfn-lint), e2e and browser tests"
	@echo "make synth   - synthesize the CDK app to cdk.out (no Docker, no AWS account)"
	@echo "make bench   - benchmarks, each a side-by-side ratio"
	@echo "make lint    - ruff, mypy and the web app's TypeScript check"
	@echo "make deploy  - cdk deploy to the account in your AWS credentials"

# --- set-up -------------------------------------------------------------------------------------------

system-deps: $(VENV)/.system-deps
$(VENV)/.system-deps: Makefile
	@missing=""; \
	command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	command -v nginx >/dev/null || missing="$$missing nginx"; \
	ls /usr/lib/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1 || missing="$$missing libnginx-mod-rtmp"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf || missing="$$missing fonts-dejavu-core"; \
	for tool in podman runc catatonit mmdebstrap; do \
	  command -v $$tool >/dev/null || missing="$$missing $$tool"; \
	done; \
	for tool in gcc make pkg-config nasm dpkg-source xz; do \
	  command -v $$tool >/dev/null || missing="$$missing $$tool"; \
	done; \
	test -f /usr/include/openssl/ssl.h || missing="$$missing libssl-dev"; \
	test -f /usr/include/zlib.h || missing="$$missing zlib1g-dev"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing. Run:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $(APT_PACKAGES)"; \
	    exit 1; \
	  fi; \
	fi
	@mkdir -p $(VENV) && touch $@

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade 'pip>=25.1'
	$(PY) -m pip install --quiet --group dev
	# The domain package, the Lambda code and the repo root import as they do in Lambda and the container.
	printf '%s\n' "$(CURDIR)/layers" "$(CURDIR)/functions" "$(CURDIR)" \
	  > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/playout-dev.pth"
	touch $@

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	npm --prefix web ci --no-audit --no-fund --loglevel=error

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	npm --prefix web run build --silent

build/layer/.built: $(VENV)/.installed $(LAYER_SOURCES)
	$(PY) -m infra.layer_build
	touch $@

$(ENGINE_FFMPEG): stream_task/ffmpeg/build.sh | $(VENV)/.system-deps
	stream_task/ffmpeg/build.sh build/ffmpeg-stream

infra/node_modules/.bin/cdk: infra/package.json
	npm --prefix infra ci --no-audit --no-fund --loglevel=error

# --- the two commands ---------------------------------------------------------------------------------

local: system-deps $(VENV)/.installed web/dist/index.html $(ENGINE_FFMPEG)
	PORT=$(PORT) $(PY) -m local

test: system-deps $(VENV)/.installed web/dist/index.html build/layer/.built $(ENGINE_FFMPEG) lint
	$(PY) -m pytest -n 3 --dist loadgroup --no-loadscope-reorder -p no:cacheprovider --durations=40

# --- the rest -----------------------------------------------------------------------------------------

lint: $(VENV)/.installed web/node_modules/.package-lock.json
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy layers functions stream_task local infra bench
	npm --prefix web run typecheck --silent

synth: $(VENV)/.installed web/dist/index.html build/layer/.built
	rm -rf cdk.out && CDK_OUTDIR=cdk.out $(PY) infra/app.py
	$(VENV)/bin/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

bench: system-deps $(VENV)/.installed $(ENGINE_FFMPEG) build/layer/.built
	$(PY) -m bench $(BENCH_ARGS)

deploy: synth infra/node_modules/.bin/cdk
	infra/node_modules/.bin/cdk deploy --app cdk.out

clean:
	rm -rf $(VENV) build cdk.out web/dist web/node_modules infra/node_modules
