// Runs an Orga Node SDK, unmodified, against the emulator:
//   node session_config.mjs <sdk> <baseUrl> <apiKey> [email]
// <sdk> is "@orga-ai/node" (the published package) or the path of node-sdk.cjs as build.mjs
// builds the current one from source. Without an email the SDK is made without `userEmail`
// (1.0.1 takes none). Prints one JSON line: {"ok": true, "config": ...} or {"ok": false, ...}.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const [sdkModule, baseUrl, apiKey, userEmail] = process.argv.slice(2);
const sdk = require(sdkModule);

// An error class the SDK does not export (an older version) is "not that class".
const isA = (error, cls) => typeof cls === "function" && error instanceof cls;

try {
  const options = userEmail ? { apiKey, userEmail, baseUrl } : { apiKey, baseUrl, timeout: 5000 };
  const client = new sdk.OrgaAI(options);
  const config = await client.getSessionConfig();
  console.log(JSON.stringify({ ok: true, config }));
} catch (error) {
  console.log(
    JSON.stringify({
      ok: false,
      error: {
        name: error.name,
        class: error.constructor.name,
        isAuthError: isA(error, sdk.OrgaAIAuthenticationError),
        isServerError: isA(error, sdk.OrgaAIServerError),
        isOrgaError: isA(error, sdk.OrgaAIError),
        status: error.status,
        code: error.code,
        message: error.message,
      },
    }),
  );
}
