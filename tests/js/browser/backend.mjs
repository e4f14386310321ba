// The test app's backend: serves the React page (bundled by esbuild at startup), the speech
// fixture (for a page-made fake mic) and the page's session endpoint, which uses the published @orga-ai/node against the emulator, as a real
// app's backend would.
//   node backend.mjs <emulator base URL> <api key> <user email>
// Prints "listening <port>" once serving on 127.0.0.1. For an emulator in TLS mode, run it with
// NODE_EXTRA_CA_CERTS=<the emulator's ca.pem>.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const require = createRequire(import.meta.url);
const { OrgaAI } = require("@orga-ai/node");
const here = dirname(fileURLToPath(import.meta.url));
const [baseUrl, apiKey, userEmail] = process.argv.slice(2);

const bundle = await build({
  entryPoints: [join(here, "sdk_app.jsx")],
  bundle: true,
  write: false,
  format: "iife",
  jsx: "automatic",
  target: "chrome120",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "error",
});
const appJs = bundle.outputFiles[0].contents;
const page = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>orga sdk test</title></head><body><div id="root"></div><script src="/app.js"></script>
</body></html>`;

const speechWav = readFileSync(join(here, "..", "..", "..", "fixtures", "speech", "hello.wav"));
const orga = new OrgaAI({ apiKey, userEmail, baseUrl });

const server = createServer(async (req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  if (path === "/") {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" }).end(page);
  } else if (path === "/app.js") {
    res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" }).end(appJs);
  } else if (path === "/speech.wav") {
    res.writeHead(200, { "Content-Type": "audio/wav" }).end(speechWav);
  } else if (path === "/api/session-config") {
    try {
      const config = await orga.getSessionConfig();
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(config));
    } catch (error) {
      console.error("getSessionConfig failed:", error);
      res
        .writeHead(502, { "Content-Type": "application/json" })
        .end(JSON.stringify({ error: error.message, name: error.name }));
    }
  } else {
    res.writeHead(404).end();
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
