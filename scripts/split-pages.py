"""Reads the split browser bundle in target/site/pkg (scripts/build-site
runs it after wasm-split, wasm-bindgen and wasm-opt). Writes the manifest
leptos's server reads to preload a page's chunks with the page
(__wasm_split_manifest.json: each split point's chunk files), and prints
what each page downloads, raw and gzipped: the main module, the page's own
chunk and the chunks it shares with other pages.

wasm-split's loader (LOADER) exports one loader per split point,
__wasm_split_load_<split>, fetching the split point's own chunk
(split_<split>.wasm) after the shared chunks it lists. A page is a lazy
route, split point __<route>_route_view_<hash>; a lazy function (leptos's
#[lazy], named in LAZY_FUNCTIONS) is split point <function>_<hash>, fetched
when first called, after the page has hydrated: what it adds to a page (its
chunks the page has not loaded) is printed beside the page, not in the
page's figure.

Usage: split-pages.py PKG_DIR NAME LOADER
"""

import json

import gzip
import os
import re
import sys

# The first page a user opens: the runs list (app/src/routes/lazy.rs).
FIRST_PAGE = "runs"

# The lazy functions of the app and what they load, as printed. Only the
# run, share and report pages draw charts (app/src/components/chart.rs
# draw_latest); the figure beside another page is what it would add there.
LAZY_FUNCTIONS = {"draw_latest": "charts, loaded when drawn"}

# One split point's loader: its name, its own chunk and the chunks it needs.
SPLIT_LOADER = re.compile(
    r'export const __wasm_split_load_(\w+) = wrapAsyncCb\(makeLoad\(\(\) => \{\s*'
    r'const src = fetch\(new URL\("\./(\w+)\.wasm"[^)]*\)\);.*?\}\s*,\s*\[([^\]]*)\]\)\);',
    re.S)


def sizes(path):
    data = open(path, "rb").read()
    return len(data), len(gzip.compress(data, 9))


def main(pkg, name, loader_name):
    loader = open(os.path.join(pkg, loader_name), encoding="utf-8").read()
    files = {f[: -len(".wasm")]: sizes(os.path.join(pkg, f))
             for f in os.listdir(pkg) if f.endswith(".wasm")}
    main_module = files.pop(f"{name}_bg")
    splits = {}
    for m in SPLIT_LOADER.finditer(loader):
        split, own, needs = m.groups()
        if own != f"split_{split}" or own not in files:
            sys.exit(f"bundle-sizes: the loader of {split} fetches {own}.wasm, not split_{split}.wasm")
        shared = [c.strip()[len("__"):] for c in needs.split(",") if c.strip()]
        missing = [c for c in shared if c not in files]
        if missing:
            sys.exit(f"bundle-sizes: {split} needs {', '.join(missing)}, not in {pkg}")
        splits[split] = {"own": own, "shared": shared}
    pages, lazy = {}, {}
    for split, chunks in splits.items():
        route = re.fullmatch(r"__(\w+)_route_view_\d+", split)
        function = re.fullmatch(r"(\w+)_\d+", split)
        if route:
            pages[route.group(1)] = chunks
        elif function and function.group(1) in LAZY_FUNCTIONS:
            lazy[LAZY_FUNCTIONS[function.group(1)]] = chunks
        else:
            sys.exit(f"bundle-sizes: split point {split} is neither a route nor in LAZY_FUNCTIONS")
    if FIRST_PAGE not in pages:
        sys.exit(f"bundle-sizes: no chunk for the {FIRST_PAGE} page in {pkg}")
    loaded = {f for c in splits.values() for f in [c["own"]] + c["shared"]}
    if loaded != set(files):
        sys.exit(f"bundle-sizes: no split point loads {', '.join(sorted(set(files) - loaded))}")

    manifest = {split: c["shared"] + [c["own"]] for split, c in splits.items()}
    with open(os.path.join(pkg, "__wasm_split_manifest.json"), "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=2, sort_keys=True)

    def later(page):
        """What each lazy function adds to the page, gzipped: its chunks the page has not loaded."""
        has = set([pages[page]["own"]] + pages[page]["shared"])
        return "".join(f"; {what}: {sum(files[c][1] for c in [fn['own']] + fn['shared'] if c not in has) // 1024} KB"
                       for what, fn in sorted(lazy.items()))

    def page_total(page):
        chunks = [pages[page]["own"]] + pages[page]["shared"]
        return tuple(main_module[i] + sum(files[c][i] for c in chunks) for i in (0, 1))

    print(f"main module: {main_module[0] // 1024} KB raw, {main_module[1] // 1024} KB gzip")
    for page in sorted(pages):
        raw, gz = page_total(page)
        own = files[pages[page]["own"]][1]
        shared = sum(files[c][1] for c in pages[page]["shared"])
        print(f"  page {page:8} {raw // 1024:5} KB raw {gz // 1024:4} KB gzip"
              f" (own chunk {own // 1024} KB, {len(pages[page]['shared'])} shared chunks {shared // 1024} KB gzip)"
              f"{later(page)}")
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
