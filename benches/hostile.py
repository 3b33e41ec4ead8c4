#!/usr/bin/env python3
"""Hostile and damaged inputs, run against a terreno binary: one row per case with the exit
code, the last line of stderr and the peak memory. `make bench-hostile` runs it against the
release binary; give another binary as the first argument to compare (e.g. an older build).

Every case runs with `--no-embed` (or on a finished run) so it takes seconds, not the model's
time; the cases come from the hardening issue (#13)."""

import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/terreno"))
SAMPLE_RUN = os.path.join(ROOT, "runs/sample")
SAMPLE = os.path.join(ROOT, "data/parlato/PTA007.txt")
tmp = tempfile.mkdtemp(prefix="terreno-hostile-")


def path(*parts):
    p = os.path.join(tmp, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def write(rel, data, mode="w"):
    p = path(rel)
    with open(p, mode) as f:
        f.write(data)
    return p


def nested(tag, depth, inner=""):
    return f"<{tag}>" * depth + inner + f"</{tag}>" * depth


def docx(rel, document_xml, big=0):
    p = path(rel)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        if big:
            with z.open("word/document.xml", "w", force_zip64=True) as f:
                f.write(b"<w:document xmlns:w='w'><w:body><w:p><w:r><w:t>")
                chunk = b"a" * (1 << 24)
                for _ in range(big // len(chunk)):
                    f.write(chunk)
                f.write(b"</w:t></w:r></w:p></w:body></w:document>")
        else:
            z.writestr("word/document.xml", document_xml)
    return p


def qde(sources, codebook='<Code guid="11111111-1111-1111-1111-111111111111" name="Casa" isCodable="true"/>'):
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<Project xmlns="urn:QDA-XML:project:1.0" name="p">'
        f"<CodeBook><Codes>{codebook}</Codes></CodeBook><Sources>{sources}</Sources></Project>"
    )


def qdpx(rel, project, members=(), big=0):
    p = path(rel)
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        if big:
            with z.open("project.qde", "w", force_zip64=True) as f:
                chunk = b" " * (1 << 24)
                f.write(project.encode()[:-len("</Project>")])
                for _ in range(big // len(chunk)):
                    f.write(chunk)
                f.write(b"</Project>")
        else:
            z.writestr("project.qde", project)
        for name, data in members:
            z.writestr(name, data)
    return p


def selection(start, end, guid="11111111-1111-1111-1111-111111111111"):
    return (
        f'<PlainTextSelection guid="22222222-2222-2222-2222-{start:012d}" startPosition="{start}" '
        f'endPosition="{end}"><Coding guid="33333333-3333-3333-3333-{end:012d}">'
        f'<CodeRef targetGUID="{guid}"/></Coding></PlainTextSelection>'
    )


def sample_text():
    with open(os.path.join(SAMPLE_RUN, "sources/PTA007.txt"), encoding="utf-8") as f:
        return f.read()


def run(args, cwd=None, stdin=None):
    cmd = ["/usr/bin/time", "-f", "MAXRSS %M %e", BIN] + args
    p = subprocess.run(cmd, cwd=cwd or tmp, capture_output=True, text=True, input=stdin, timeout=600)
    err = [l for l in p.stderr.splitlines() if l.strip()]
    rss = next((int(l.split()[1]) for l in err if l.startswith("MAXRSS")), 0)
    secs = next((float(l.split()[2]) for l in err if l.startswith("MAXRSS")), 0.0)
    rest = [l for l in err if not l.startswith("MAXRSS") and "Command terminated" not in l
            and "Command exited" not in l]
    code = p.returncode
    for l in err:
        if "Command terminated by signal" in l:
            code = 128 + int(l.split()[-1])
    lines = p.stdout.splitlines()
    said = [l for l in lines if any(w in l for w in NOTABLE)] or [
        l for l in lines if "from the cache" in l] or [
        l for l in lines if "segments placed" in l or "passages (" in l]
    msg = rest[-1] if rest else ("stdout: " + said[0].strip() if said else "")
    return code, msg, rss, secs


NOTABLE = ("skipped", "not placed", "warning:", "symlink", "set aside", "cannot be written",
           "damaged", "read once", "not followed")


def out(run_dir):
    return ["--out", path("runs", run_dir), "--force", "--no-embed", "-q"]


def cases():
    text = sample_text()
    deep = 5000
    deeper = 20000
    eaf_deep = write("deep-eaf/a.eaf", '<?xml version="1.0"?><ANNOTATION_DOCUMENT>' + nested("X", deep) + "</ANNOTATION_DOCUMENT>")
    shutil.copy(SAMPLE, path("deep-eaf/b.txt"))
    yield "1 .eaf nested 5,000 deep, among other files, --keep-going", ["run", os.path.dirname(eaf_deep), "--keep-going"] + out("a")
    d = docx("deep-docx/a.docx", "<w:document xmlns:w='w'><w:body>" + nested("w:p", deep) + "</w:body></w:document>")
    shutil.copy(SAMPLE, path("deep-docx/b.txt"))
    yield "1 .docx nested 5,000 deep, among other files, --keep-going", ["run", os.path.dirname(d), "--keep-going"] + out("b")
    qdc = write("deep.qdc", '<?xml version="1.0"?><CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes>'
                + "".join(f'<Code guid="00000000-0000-0000-0000-{i:012d}" name="c{i}" isCodable="true">' for i in range(deeper))
                + "</Code>" * deeper + "</Codes></CodeBook>")
    yield "1 codebook .qdc nested 20,000 deep", ["run", SAMPLE, "--codebook", qdc] + out("c")
    chain = "".join(f'[[code]]\nid = "c{i}"\nname = "c{i}"\n' + (f'parent = "c{i-1}"\n' if i else "") for i in range(20000))
    toml_chain = write("chain.toml", chain)
    yield "1 codebook .toml with a 20,000-deep parent chain", ["run", SAMPLE, "--codebook", toml_chain] + out("d")
    bomb = docx("bomb/a.docx", None, big=3 << 30)
    shutil.copy(SAMPLE, path("bomb/b.txt"))
    yield f"1 .docx of {os.path.getsize(bomb) >> 20} MiB inflating to 3 GiB, --keep-going", ["run", os.path.dirname(bomb), "--keep-going"] + out("e")
    qbomb = qdpx("bomb.qdpx", qde(""), big=3 << 30)
    yield "1 .qdpx --manual inflating to 3 GiB", ["compare", SAMPLE_RUN, "--manual", qbomb, "--bootstrap", "10"]
    qdeep = qdpx("deep.qdpx", qde("", "".join(f'<Code guid="00000000-0000-0000-0000-{i:012d}" name="c{i}" isCodable="true">' for i in range(deeper)) + "</Code>" * deeper))
    yield "1 .qdpx --manual nested 20,000 deep", ["compare", SAMPLE_RUN, "--manual", qdeep, "--bootstrap", "10"]
    src = f'<TextSource guid="44444444-4444-4444-4444-444444444444" name="PTA007.txt"><PlainTextContent>{escape(text)}</PlainTextContent>'
    backwards = qdpx("backwards.qdpx", qde(src + selection(100, 40) + selection(200, 300) + "</TextSource>"))
    yield "2 .qdpx selection with end before start", ["compare", SAMPLE_RUN, "--manual", backwards, "--bootstrap", "10"]
    past = qdpx("past.qdpx", qde(src + selection(len(text) + 10, len(text) + 500) + selection(200, 300) + "</TextSource>"))
    yield "2 .qdpx selection past the end of the text", ["compare", SAMPLE_RUN, "--manual", past, "--bootstrap", "10"]
    bom_src = ('<TextSource guid="44444444-4444-4444-4444-444444444444" name="PTA007.txt" '
               'plainTextPath="internal://44444444-4444-4444-4444-444444444444.txt">')
    start = text.index("freelance")
    bom = qdpx("bom.qdpx", qde(bom_src + selection(start, start + 9) + "</TextSource>"),
               [("sources/44444444-4444-4444-4444-444444444444.txt", "\ufeff" + text)])
    yield "3 .qdpx whose source has a byte-order mark (QualCoder)", ["compare", SAMPLE_RUN, "--manual", bom, "--bootstrap", "10"]
    okay = text.index("okay")
    repeated = qdpx("repeated.qdpx", qde('<TextSource guid="44444444-4444-4444-4444-444444444444" name="PTA007.txt">'
                    "<PlainTextContent>different text</PlainTextContent>" + "</TextSource>").replace(
                        "<PlainTextContent>different text</PlainTextContent>",
                        "<PlainTextContent>" + escape("x" + text) + "</PlainTextContent>" + selection(okay + 1, okay + 5)))
    yield "3 .qdpx quote that occurs many times, text differing", ["compare", SAMPLE_RUN, "--manual", repeated, "--bootstrap", "10"]
    csv = write("quote.csv", 'id,text\n1,"questa riga apre una virgolette\n2,e tutte le righe dopo\n3,spariscono in una\n')
    yield "4 CSV with an unterminated quote", ["run", csv] + out("f")
    fake = path("cwd/pip/__main__.py")
    write("cwd/pip/__main__.py", "import pathlib; pathlib.Path('PWNED').write_text('ran'); raise SystemExit(3)\n")
    write("cwd/pip/__init__.py", "")
    yield "7 model fetch with a pip/ in the current folder", ["model", "fetch", "--dir", path("m")], os.path.dirname(os.path.dirname(fake))
    evil = path("evil/a.txt")
    write("evil/a.txt", "<script>alert(1)</script>: ciao <img src=x onerror=alert(2)> come va la vita qui nel quartiere\n" * 3)
    yield "8 transcript with <script> (candidates.md, needs a real run)", None
    cb = write("codebook.csv", "name,short_definition,example,colour_code\nCasa,La casa,«la mia casa»,#fff\n")
    yield "9 codebook CSV with short_definition, example and an unknown column", ["codebook", "convert", cb, path("cb.toml")]
    os.makedirs(path("links/x"), exist_ok=True)
    shutil.copy(SAMPLE, path("links/real.txt"))
    os.symlink(SAMPLE, path("links/linked.txt"))
    os.symlink(path("links"), path("links/x/loop"))
    yield "10 symlinked transcript and a symlink loop in a folder", ["run", path("links")] + out("g")
    nl = path("newline/a\nERROR: forged.txt")
    write("newline/a\nERROR: forged.txt", "\x00\x01binary")
    yield "10 file name with a newline (unreadable file)", ["run", nl] + out("h")
    vtt = write("cue.vtt", "WEBVTT\n\n100000000000000000000000:00:00.000 --> 100000000000000000000000:00:01.000\nA: ciao come stai oggi\n")
    yield "10 cue at hour 10^23", ["run", vtt] + out("i")
    letters = lambda i: "".join(chr(97 + (i // 26 ** k) % 26) for k in range(4))
    speakers = write("speakers.txt", "".join(f"Parlante{letters(i)}: parola numero {i}\n" for i in range(40000)))
    yield "10 40,000 distinct speaker labels", ["run", speakers] + out("j")
    lc = write("list.parquet", b"", "wb")
    try:
        import polars as pl
        pl.DataFrame({"id": ["a"], "text": [["x", "y"]]}).write_parquet(lc)
    except ImportError:
        pass
    yield "10 Parquet table with a list column", ["run", lc] + out("k")
    bad_csv = write("embed.csv", 'id,text\n1,"ciao\n2,come va\n')
    yield "10 terreno embed on a CSV with an unclosed quote", ["embed", "--quiet", "--out", path("e.parquet"), bad_csv]
    # The embedding cache: filled by one run, then every cache file cut in half.
    cache = path("cache/x")
    os.makedirs(cache, exist_ok=True)
    run(["run", SAMPLE, "--out", path("runs", "c1"), "--force", "-q", "--cache-dir", cache])
    for d, _, files in os.walk(cache):
        for f in files:
            full = os.path.join(d, f)
            size = os.path.getsize(full)
            with open(full, "r+b") as fh:
                fh.truncate(size // 2)
    yield "5 every embedding cache file cut in half", ["run", SAMPLE, "--out", path("runs", "c2"), "--force", "-q", "--cache-dir", cache]
    not_dir = write("cache-file", "x")
    yield "5 a cache folder that cannot be written", ["run", SAMPLE, "--out", path("runs", "c3"), "--force", "-q", "--cache-dir", not_dir + "/sub"]


def escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main():
    print(f"binary: {BIN}\n")
    print("| case | exit | what it said | peak MiB | s |")
    print("|---|---|---|---|---|")
    gen = cases()
    item = next(gen)
    while True:
        name, args = item[0], item[1]
        cwd = item[2] if len(item) > 2 else None
        if args is None:
            print(f"| {name} | | (see the tests) | | |")
        else:
            code, msg, rss, secs = run(args, cwd)
            if cwd and os.path.exists(os.path.join(cwd, "PWNED")):
                msg = "PWNED: pip/__main__.py of the current folder ran; " + msg
                os.remove(os.path.join(cwd, "PWNED"))
            msg = msg.replace("|", "\\|").replace(tmp, "…")[:160]
            print(f"| {name} | {code} | {msg} | {rss >> 10} | {secs:.1f} |", flush=True)
        try:
            item = next(gen)
        except StopIteration:
            break
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
