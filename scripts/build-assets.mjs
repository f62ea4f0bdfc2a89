#!/usr/bin/env node
// Build Beacon's staff-page assets from the locked npm packages (run `npm ci` first):
//   services/ingest/web/assets/beacon.scss  ->  <out>/beacon.css  (Dart Sass, compressed, no source map)
//   govuk-frontend/dist/govuk/govuk-frontend.min.js  ->  <out>/govuk-frontend.min.js  (ES module)
// <out> is services/ingest/web/static unless `--out-dir DIR` is given (tests/web/test_assets.py
// builds into a temporary directory and compares with the committed files byte for byte).
//
// Usage: npm run build:css [-- --out-dir DIR]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const sass = require("sass");

function parseArgs(argv) {
  let outDir = join(root, "services/ingest/web/static");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out-dir" && i + 1 < argv.length) {
      outDir = resolve(argv[++i]);
    } else if (argv[i].startsWith("--out-dir=")) {
      outDir = resolve(argv[i].slice("--out-dir=".length));
    } else {
      console.error(`usage: build-assets.mjs [--out-dir DIR]  (unknown argument: ${argv[i]})`);
      process.exit(2);
    }
  }
  return { outDir };
}

const { outDir } = parseArgs(process.argv.slice(2));
mkdirSync(outDir, { recursive: true });

// CSS. The load path is the repository root so beacon.scss can
// `@use "node_modules/govuk-frontend/dist/govuk"`.
const result = sass.compile(join(root, "services/ingest/web/assets/beacon.scss"), {
  style: "compressed",
  sourceMap: false,
  charset: false,
  loadPaths: [root],
  // govuk-frontend's own deprecation warnings are not ours to fix.
  quietDeps: true,
});
// govuk-frontend has a few non-ASCII characters in `content:` strings (an em dash, a no-break
// space, a zero-width space). Write them as CSS escapes ("\2014 ": the one space ends the
// escape), so the file is plain ASCII and needs no @charset or BOM, whatever the Content-Type.
const escaped = result.css.replace(/[^\x00-\x7f]/gu, (c) => `\\${c.codePointAt(0).toString(16)} `);
const css = escaped.endsWith("\n") ? escaped : `${escaped}\n`;
writeFileSync(join(outDir, "beacon.css"), css);

// JS: govuk-frontend's compiled ES module, with a licence banner and without the
// sourceMappingURL comment (the source map is not served).
const govukDir = dirname(require.resolve("govuk-frontend/package.json"));
const { version } = JSON.parse(readFileSync(join(govukDir, "package.json"), "utf8"));
let js = readFileSync(join(govukDir, "dist/govuk/govuk-frontend.min.js"), "utf8");
js = js.replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, "");
const banner =
  `/*! govuk-frontend ${version} | MIT licence, Crown copyright | ` +
  "https://github.com/alphagov/govuk-frontend | copied by scripts/build-assets.mjs */\n";
writeFileSync(join(outDir, "govuk-frontend.min.js"), `${banner}${js}\n`);

for (const name of ["beacon.css", "govuk-frontend.min.js"]) {
  const size = readFileSync(join(outDir, name)).length;
  console.log(`${join(outDir, name)}  ${(size / 1024).toFixed(1)} KiB`);
}
