// The current-SDK test app's backend: serves what build.mjs built and the page's session
// endpoint, implemented with @orga-ai/node 1.0.1 BUILT FROM SOURCE (node-sdk.cjs), as a real
// app's backend would. 1.0.1 takes no user email: it posts client-secrets without one.
//   node backend.mjs <build dir> <emulator base URL> <api key>
// Routes:
//   /                   the React app (app.js); window.orgaTestConfig.baseUrl = the emulator's URL,
//                       which the app passes to OrgaAI.init({baseUrl})
//   /widget             a plain HTML page with the widget's CDN bundle (init.global.js), set up as
//                       its README says: OrgaWidget.initWidget({fetchSessionConfig, ...}) and a
//                       [data-orga-widget] mount point (?theme=, ?voice=, ?log= pass through)
//   /speech.wav         the speech fixture, for a page-made fake microphone (?mic=wav)
//   /api/session-config the SDK's getSessionConfig() against the emulator: {ephemeralToken,
//                       iceServers}, or 502 {error, name, status} when the SDK throws
// Prints "listening <port>" once serving on 127.0.0.1. For an emulator in TLS mode, run it with
// NODE_EXTRA_CA_CERTS=<the emulator's ca.pem>.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const [buildDir, baseUrl, apiKey] = process.argv.slice(2);
const { OrgaAI } = require(join(buildDir, "node-sdk.cjs"));

const appJs = readFileSync(join(buildDir, "app.js"));
const widgetJs = readFileSync(join(buildDir, "init.global.js"));
const speechWav = readFileSync(join(here, "..", "..", "..", "fixtures", "speech", "hello.wav"));
const json = (value) => JSON.stringify(value).replace(/</g, "\\u003c");

const appPage = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>current orga sdk test</title></head><body><div id="root"></div>
<script>window.orgaTestConfig = ${json({ baseUrl })};</script>
<script src="/app.js"></script></body></html>`;

function widgetPage(query) {
  const options = {
    sessionConfigEndpoint: "/api/session-config",
    ...(query.get("voice") ? { voice: query.get("voice") } : {}),
    ...(query.get("theme") ? { theme: query.get("theme") } : {}),
    logLevel: query.get("log") || "info",
  };
  return `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<title>orga widget test</title></head><body>
<h1>A plain page with the Orga widget</h1>
<div data-orga-widget></div>
<script src="/init.global.js"></script>
<script>
  OrgaWidget.initWidget(Object.assign(${json(options)}, {
    fetchSessionConfig: () => fetch("/api/session-config").then((res) => res.json()),
  }));
</script></body></html>`;
}

const orga = new OrgaAI({ apiKey, baseUrl });

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const send = (status, type, body) => res.writeHead(status, { "Content-Type": type }).end(body);
  if (url.pathname === "/") {
    send(200, "text/html; charset=utf-8", appPage);
  } else if (url.pathname === "/app.js") {
    send(200, "text/javascript; charset=utf-8", appJs);
  } else if (url.pathname === "/widget") {
    send(200, "text/html; charset=utf-8", widgetPage(url.searchParams));
  } else if (url.pathname === "/init.global.js") {
    send(200, "text/javascript; charset=utf-8", widgetJs);
  } else if (url.pathname === "/speech.wav") {
    send(200, "audio/wav", speechWav);
  } else if (url.pathname === "/api/session-config") {
    try {
      const config = await orga.getSessionConfig();
      send(200, "application/json", JSON.stringify(config));
    } catch (error) {
      console.error("getSessionConfig failed:", error);
      const body = { error: error.message, name: error.name, status: error.status };
      send(502, "application/json", JSON.stringify(body));
    }
  } else {
    res.writeHead(404).end();
  }
});
server.listen(0, "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
