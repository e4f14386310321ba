// A browser for pytest, driven line by line:
//   node bridge.mjs '<json options>'
//   options: {browser, executablePath, args: [...], prefs: {...}, acceptInsecureCerts}
// browser "chromium": playwright-core launching Debian's Chromium (CDP);
// browser "firefox": puppeteer-core launching Debian's firefox-esr over WebDriver BiDi.
// Reads one JSON command per line on stdin, answers one JSON line per command on stdout:
//   {"id": 1, "op": "goto", "url": "..."}                  -> {"id": 1, "ok": true}
//   {"id": 2, "op": "evaluate", "expression": "..."}       -> {"id": 2, "ok": true, "result": ...}
//   {"id": 3, "op": "waitFor", "expression": "...", "timeoutMs": 5000}
//   {"id": 4, "op": "click", "selector": "#start"}
//   {"id": 5, "op": "screenshot", "path": "..."}
//   {"id": 6, "op": "console"}                              -> the page's console and errors
// The assertions live in Python; this only does what it is told and reports what it saw.
import { createInterface } from "node:readline";

const options = JSON.parse(process.argv[2] || "{}");
const consoleLines = [];

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function launchChromium() {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: options.executablePath || "/usr/bin/chromium",
    args: options.args || [],
    headless: true,
    timeout: 30000,
  });
  const page = await (await browser.newContext()).newPage();
  page.on("console", (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
  return { browser, page, version: browser.version() };
}

async function launchFirefox() {
  const { default: puppeteer } = await import("puppeteer-core");
  const browser = await puppeteer.launch({
    browser: "firefox",
    executablePath: options.executablePath || "/usr/bin/firefox-esr",
    args: options.args || [],
    headless: true,
    timeout: 30000,
    extraPrefsFirefox: options.prefs || {},
    acceptInsecureCerts: Boolean(options.acceptInsecureCerts),
  });
  const page = await browser.newPage();
  page.on("console", (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
  return { browser, page, version: await browser.version() };
}

let browser;
let page;
try {
  const launched = await (options.browser === "firefox" ? launchFirefox() : launchChromium());
  ({ browser, page } = launched);
  page.on("pageerror", (error) => consoleLines.push(`[pageerror] ${error.stack || error}`));
  reply({ id: 0, ok: true, version: launched.version });
} catch (error) {
  reply({ id: 0, ok: false, error: `cannot launch ${options.browser}: ${error.message}` });
  process.exit(1);
}

const ops = {
  goto: async ({ url }) => {
    await page.goto(url, { waitUntil: "load", timeout: 15000 });
  },
  evaluate: async ({ expression }) => page.evaluate(expression),
  waitFor: async ({ expression, timeoutMs }) => {
    const timing = { timeout: timeoutMs ?? 10000, polling: 100 };
    const handle =
      options.browser === "firefox"
        ? await page.waitForFunction(expression, timing)
        : await page.waitForFunction(expression, null, timing);
    return handle.jsonValue();
  },
  click: async ({ selector }) => page.click(selector),
  screenshot: async ({ path }) => {
    await page.screenshot({ path, fullPage: true });
  },
  console: async () => consoleLines.slice(),
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  const op = ops[command.op];
  try {
    if (!op) throw new Error(`unknown op ${command.op}`);
    const result = await op(command);
    reply({ id: command.id, ok: true, result: result ?? null });
  } catch (error) {
    reply({ id: command.id, ok: false, error: String(error.message || error) });
  }
}
await browser.close();
