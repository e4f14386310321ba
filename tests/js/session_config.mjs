// Runs the published @orga-ai/node SDK, unmodified, against the emulator:
//   node session_config.mjs <baseUrl> <apiKey> <email>
// Prints one JSON line: {"ok": true, "config": ...} or {"ok": false, "error": {...}}.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const sdk = require("@orga-ai/node");

const [baseUrl, apiKey, userEmail] = process.argv.slice(2);
try {
  const client = new sdk.OrgaAI({ apiKey, userEmail, baseUrl });
  const config = await client.getSessionConfig();
  console.log(JSON.stringify({ ok: true, config }));
} catch (error) {
  console.log(
    JSON.stringify({
      ok: false,
      error: {
        name: error.name,
        class: error.constructor.name,
        isAuthError: error instanceof sdk.OrgaAIAuthenticationError,
        isServerError: error instanceof sdk.OrgaAIServerError,
        status: error.status,
        code: error.code,
        message: error.message,
      },
    }),
  );
}
