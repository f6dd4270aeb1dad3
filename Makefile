# Docent: `make run` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.docent-installed

.PHONY: run test setup bench clean gpu

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m index.embedding  # export the embedding model to ONNX once, now rather than in the app
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) main.py

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests

bench: setup
	$(PY) bench/bench_retrieval.py
	$(PY) bench/bench_indexing.py
	$(PY) bench/bench_search_latency.py

clean:
	rm -rf $(VENV) .pytest_cache

# NVIDIA GPU set-up: CUDA llama.cpp, and onnxruntime-gpu in place of the CPU
# onnxruntime that chromadb pulls in (both own the same module: remove one first).
gpu: setup
	$(PY) -m pip uninstall -y onnxruntime
	$(PY) -m pip install onnxruntime-gpu==1.31.1
	CMAKE_ARGS="-DGGML_CUDA=on" $(PY) -m pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python==0.3.36
