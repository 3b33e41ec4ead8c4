# terreno: `make run` runs the bundled sample, `make test` runs the tests. Both work on a
# fresh clone; `setup` installs what they need.
CARGO ?= cargo
RUN_DIR ?= runs/sample

.PHONY: setup run test check bench fmt clean

setup:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }

run: setup
	$(CARGO) run --release --quiet -- run data/parlato --config data/sample.toml --out $(RUN_DIR) --force

test: setup
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(CARGO) bench --no-run

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

bench: setup
	$(CARGO) bench --bench ingest

fmt:
	$(CARGO) fmt

clean:
	rm -rf runs target
