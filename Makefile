# Docent: `make run` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.docent-installed

.PHONY: run test setup bench clean gpu package package-test

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m index.embedding  # export the embedding model to ONNX once, now rather than in the app
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) main.py

# DOCENT_BUILD_PACKAGE=1: tests/test_packaging.py builds the Linux package (`make package`, ~2-3 min)
# and runs it offline from a clean environment; `make test DOCENT_BUILD_PACKAGE=0` leaves that out
# unless dist/docent is already built.
DOCENT_BUILD_PACKAGE ?= 1

test: setup
	DOCENT_BUILD_PACKAGE=$(DOCENT_BUILD_PACKAGE) QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) bench/bench_retrieval.py
	$(PY) bench/bench_indexing.py
	$(PY) bench/bench_search_latency.py

clean:
	rm -rf $(VENV) .pytest_cache

# Installers (packaging/, README "Packages"): Linux one-dir app in dist/docent/, a .deb and a
# portable tarball; about 3 minutes on 2 cores after setup. After `make gpu` it is the CUDA
# variant (DOCENT_GPU=0/1 forces a choice). package-test runs the packaged app's
# self-test (clean environment, offline), its GUI offscreen and the unpacked .deb.
package: setup
	PY=$(PY) packaging/build_linux.sh

package-test: package
	DOCENT_BUILD_PACKAGE=0 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests/test_packaging.py

# NVIDIA GPU set-up: CUDA llama.cpp, and onnxruntime-gpu in place of the CPU
# onnxruntime that chromadb pulls in (both own the same module: remove one first).
gpu: setup
	$(PY) -m pip uninstall -y onnxruntime
	$(PY) -m pip install onnxruntime-gpu==1.31.1
	CMAKE_ARGS="-DGGML_CUDA=on" $(PY) -m pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36
