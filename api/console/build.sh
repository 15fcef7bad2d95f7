#!/bin/sh
# Rebuild the console's vendored browser files (static/vendor) from the pinned npm packages
# in package-lock.json. Needs node and npm; the server never does.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=static/vendor
rm -rf "$out"
mkdir -p "$out"
esbuild=node_modules/.bin/esbuild
"$esbuild" js/codemirror-entry.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --log-level=warning --outfile="$out/codemirror.js"
"$esbuild" js/cytoscape-entry.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --log-level=warning --outfile="$out/cytoscape.js"
"$esbuild" js/wavesurfer-entry.js --bundle --minify --format=iife --target=es2020 \
    --legal-comments=none --log-level=warning --outfile="$out/wavesurfer.js"
cp node_modules/htmx.org/dist/htmx.min.js "$out/htmx.min.js"
cp node_modules/@alpinejs/csp/dist/cdn.min.js "$out/alpine-csp.min.js"
# Every package the files above contain, with its version and licence text.
node -e '
const fs = require("fs"), path = require("path");
const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
const names = Object.keys(lock.packages).filter(p => p.startsWith("node_modules/"))
  .filter(p => !p.includes("esbuild")).sort();
let text = "Licences of the npm packages bundled into this folder (see ../../package.json).\n";
for (const p of names) {
  const dir = p;
  const info = lock.packages[p];
  const file = fs.readdirSync(dir).filter(f => /^(licen[cs]e|copying)/i.test(f)).sort()[0];
  text += "\n==== " + p.slice("node_modules/".length) + " " + info.version + " (" +
    (info.license || "see below") + ") ====\n";
  text += file ? fs.readFileSync(path.join(dir, file), "utf8").trim() + "\n" : "(no licence file)\n";
}
text += fs.readFileSync("licences-extra.txt", "utf8");
fs.writeFileSync("static/vendor/LICENSES.txt", text);
'
