"""How long headless Chromium takes to load a report, beyond loading an empty page.

Usage: python3 benches/report_load.py RUN_DIR  (used by `make bench-report`)
"""
import pathlib
import subprocess
import sys
import time

run = pathlib.Path(sys.argv[1]).resolve()
empty = run / "empty.html"
empty.write_text("<html><body>x</body></html>")
report = run / "report.html"
print(f"report.html: {report.stat().st_size / 1e6:.2f} MB")


def load(page):
    start = time.perf_counter()
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        check=True,
    )
    return time.perf_counter() - start


for _ in range(3):
    base, full = load(empty), load(report)
    print(f"empty page {base:.2f} s, report {full:.2f} s: the report itself {full - base:.2f} s")
