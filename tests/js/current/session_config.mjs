// Runs @orga-ai/node 1.0.1 as built from source by build.mjs, unmodified, against the emulator:
//   node session_config.mjs <build dir> <baseUrl> <apiKey>
// Prints one JSON line: {"ok": true, "config": ...} or {"ok": false, "error": {...}}.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const [buildDir, baseUrl, apiKey] = process.argv.slice(2);
const sdk = require(join(buildDir, "node-sdk.cjs"));

try {
  const client = new sdk.OrgaAI({ apiKey, baseUrl, timeout: 5000 });
  const config = await client.getSessionConfig();
  console.log(JSON.stringify({ ok: true, config }));
} catch (error) {
  console.log(
    JSON.stringify({
      ok: false,
      error: {
        name: error.name,
        class: error.constructor.name,
        isOrgaError: error instanceof sdk.OrgaAIError,
        isAuthError: error instanceof sdk.OrgaAIAuthenticationError,
        isServerError: error instanceof sdk.OrgaAIServerError,
        status: error.status,
        code: error.code,
        message: error.message,
      },
    }),
  );
}
