// Builds the web app into ../static: app.js (one ES module, minified) and
// Automerge's WebAssembly beside it. `node build.mjs --check` builds into a
// temporary directory and fails if the committed files differ (CI).
import * as esbuild from "esbuild";
import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "parley-web-")) : "../static";

await esbuild.build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  legalComments: "none",
  outfile: join(out, "app.js"),
  // The slim build loads the WebAssembly from a URL instead of carrying
  // it base64-encoded; every importer of the bare name gets the same one.
  alias: { "@automerge/automerge": "@automerge/automerge/slim" },
  logLevel: "warning",
});
copyFileSync("node_modules/@automerge/automerge/dist/automerge.wasm", join(out, "automerge.wasm"));

if (check) {
  let stale = [];
  for (const f of ["app.js", "automerge.wasm"]) {
    let committed;
    try {
      committed = readFileSync(join("../static", f));
    } catch {
      committed = Buffer.alloc(0);
    }
    if (!committed.equals(readFileSync(join(out, f)))) stale.push(f);
  }
  if (stale.length) {
    console.error(`node/web/static is stale (${stale.join(", ")}): run \`npm run build\` in node/web/ui and commit.`);
    process.exit(1);
  }
  console.log("node/web/static is up to date.");
}
