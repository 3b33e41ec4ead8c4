"""terreno at 10^5 and 10^6 passages (`make bench-scale`): the 67 ParlaTO interviews copied
as many times as needed (each copy its own folder, so its own documents, and one line of its
own at the end of each transcript, so no two files are the same), run end to end by the
release binary with the real model's embedding cache of the interviews. Every other passage is
a real one with the real model's vector, which the cache serves (the model's own speed is
measured by `make bench-embed`). Prints the time of every stage and the run's peak memory,
from its manifest.

    python3 benches/scale.py BINARY SIZE... (passages, e.g. 100000 1000000)
"""
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "..", "shared", "data", "parlato", "linear-orthographic")
OUT = os.path.join(ROOT, "target", "bench-scale")
PER_COPY = 19782  # passages of one copy (the 67 interviews with the default settings)


def corpus(copies):
    folder = os.path.join(OUT, f"corpus-{copies}")
    if os.path.isdir(folder):
        return folder
    os.makedirs(folder + ".tmp", exist_ok=True)
    for c in range(copies):
        d = os.path.join(folder + ".tmp", f"copy{c:03d}")
        os.makedirs(d, exist_ok=True)
        for name in sorted(os.listdir(SOURCE)):
            text = open(os.path.join(SOURCE, name), encoding="utf-8").read().rstrip("\n")
            speaker = text.rsplit("\n", 1)[-1].split("\t", 1)[0]
            with open(os.path.join(d, name), "w", encoding="utf-8") as f:
                f.write(f"{text}\n{speaker}\tfine della copia {c}\n")
    os.rename(folder + ".tmp", folder)
    return folder


def main():
    binary = sys.argv[1]
    cache = os.path.join(ROOT, "target", ".cache")
    flags = sorted({f for f in open("/proc/cpuinfo").read().split() if f in ("avx2", "avx512f", "fma")})
    print(f"terreno at scale; {os.cpu_count()} CPUs, flags {' '.join(flags)}; cache {cache}")
    for size in [int(s) for s in sys.argv[2:]]:
        copies = max(1, math.ceil(size / PER_COPY))
        inputs = corpus(copies)
        out = os.path.join(OUT, f"run-{copies}")
        started = time.time()
        p = subprocess.run(
            [binary, "run", inputs, "--out", out, "--force", "--quiet", "--cache-dir", cache],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.time() - started
        if p.returncode != 0:
            print(f"{size}: failed after {wall:.0f} s: {p.stderr.strip()[-500:]}")
            continue
        m = json.load(open(os.path.join(out, "manifest.json")))
        t = m["timings"]
        after = sum(v for k, v in t.items() if k not in ("ingest_segment", "embed", "total", "write"))
        print(
            f"{m['counts']['passages']} passages ({copies} copies, {m['counts']['documents']} documents): "
            f"total {t.get('total', wall):.0f} s; ingest+segment {t.get('ingest_segment', 0):.0f} s, "
            f"write {t.get('write', 0):.0f} s, embed (cache) {t.get('embed', 0):.0f} s, "
            f"cluster+label {t.get('cluster_label', 0):.0f} s, report {t.get('report', 0):.0f} s; "
            f"after embedding {after:.0f} s; peak memory {m.get('peak_rss_mib') or 0:.0f} MiB; "
            f"{m['clusters']['categories']} categories, {m['clusters']['clusters']} codes"
        )
        sys.stdout.flush()


main()
