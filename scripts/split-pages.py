"""Reads the split browser bundle in target/site/pkg (scripts/build-site
runs it after wasm-split, wasm-bindgen and wasm-opt). Writes the manifest
leptos's server reads to preload a page's chunks with the page
(__wasm_split_manifest.json: each split point's chunk files), and prints
what each page downloads, raw and gzipped: the main module, the page's own
chunk and the chunks it shares with other pages.

wasm-split's loader (LOADER) writes, above each shared chunk, a comment
naming the split points (one per lazy route) that load it; a route's own
chunk is split___<route>_route_view_<hash>.wasm, its split point
__<route>_route_view_<hash>.

Usage: split-pages.py PKG_DIR NAME LOADER
"""

import json

import gzip
import os
import re
import sys

# The first page a user opens: the runs list (app/src/routes/lazy.rs).
FIRST_PAGE = "runs"


def sizes(path):
    data = open(path, "rb").read()
    return len(data), len(gzip.compress(data, 9))


def main(pkg, name, loader_name):
    loader = open(os.path.join(pkg, loader_name), encoding="utf-8").read()
    files = {f[: -len(".wasm")]: sizes(os.path.join(pkg, f))
             for f in os.listdir(pkg) if f.endswith(".wasm")}
    main_module = files.pop(f"{name}_bg")
    pages = {}
    for f in files:
        m = re.fullmatch(r"split___(\w+)_route_view_\d+", f)
        if m:
            pages[m.group(1)] = {"own": f, "shared": [], "split": f[len("split_"):]}
    if FIRST_PAGE not in pages:
        sys.exit(f"bundle-sizes: no chunk for the {FIRST_PAGE} page in {pkg}")
    for m in re.finditer(r"/\* ([^*]*) \*/\s*const __(chunk_\d+) = makeLoad", loader):
        for split in m.group(1).split(","):
            route = re.fullmatch(r"\s*__(\w+)_route_view_\d+\s*", split)
            if route is None or route.group(1) not in pages:
                sys.exit(f"bundle-sizes: {m.group(2)} is loaded by {split.strip()!r}, not a route")
            pages[route.group(1)]["shared"].append(m.group(2))

    manifest = {p["split"]: p["shared"] + [p["own"]] for p in pages.values()}
    with open(os.path.join(pkg, "__wasm_split_manifest.json"), "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)

    def page_total(page):
        chunks = [pages[page]["own"]] + pages[page]["shared"]
        return tuple(main_module[i] + sum(files[c][i] for c in chunks) for i in (0, 1))

    print(f"main module: {main_module[0] // 1024} KB raw, {main_module[1] // 1024} KB gzip")
    for page in sorted(pages):
        raw, gz = page_total(page)
        own = files[pages[page]["own"]][1]
        shared = sum(files[c][1] for c in pages[page]["shared"])
        print(f"  page {page:8} {raw // 1024:5} KB raw {gz // 1024:4} KB gzip"
              f" (own chunk {own // 1024} KB, {len(pages[page]['shared'])} shared chunks {shared // 1024} KB gzip)")
    raw, gz = page_total(FIRST_PAGE)
    print(f"wasm bundle, first page ({FIRST_PAGE}): {raw // 1024} KB raw, {gz // 1024} KB gzip ({raw} and {gz} bytes)")
    largest = max(pages, key=lambda p: page_total(p)[1])
    print(f"wasm bundle, largest page ({largest}): {page_total(largest)[1] // 1024} KB gzip")
    raw = main_module[0] + sum(v[0] for v in files.values())
    gz = main_module[1] + sum(v[1] for v in files.values())
    print(f"wasm bundle, every file: {raw // 1024} KB raw, {gz // 1024} KB gzip in {len(files) + 1} files")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3])
