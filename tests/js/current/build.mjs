// Builds the CURRENT Orga SDKs from their sources, unmodified, with esbuild only:
//   node build.mjs <out dir> <sdk source folder>
// The source folder is a checkout of Orga's SDK monorepo (tests/kit/sdk_sources.py finds it). Into
// <out dir> (never into the sources, which stay read-only) it writes:
//   node-sdk.cjs    @orga-ai/node (packages/server/node/src) as one CommonJS module
//   app.js          the test app (app.jsx here) on @orga-ai/react + @orga-ai/core from source
//   init.global.js  @orga-ai/widget (packages/client/widget/src/init.tsx) as its tsup config builds
//                   the CDN file: IIFE, global `OrgaWidget`, minified, es2020, React bundled in
//   versions.json   the version of each package built, from its package.json
// '@orga-ai/core' and '@orga-ai/react' resolve to the sources' src/index.ts (never to the 1.0.x
// packages in node_modules); react and react-dom come from tests/js/node_modules. Prints the
// versions as one JSON line; exits non-zero when a build fails or pulls in a published package.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const nodeModules = resolve(here, "..", "node_modules");
const [outArg, sourceArg] = process.argv.slice(2);
if (!outArg || !sourceArg) {
  console.error("usage: node build.mjs <out dir> <sdk source folder>");
  process.exit(2);
}
const out = resolve(outArg);
const source = resolve(sourceArg);
const pkg = (path) => join(source, "packages", path);
mkdirSync(out, { recursive: true });

// The monorepo's workspace packages, by name, as its pnpm workspace links them.
const alias = {
  "@orga-ai/core": pkg("client/core/src/index.ts"),
  "@orga-ai/react": pkg("client/react/src/index.ts"),
};
// The sources have no node_modules of their own: react and react-dom are looked up in ours.
const common = { bundle: true, write: true, logLevel: "error", metafile: true, alias, nodePaths: [nodeModules] };

function checkInputs(result, name) {
  // Nothing of the published SDK packages may end up in a current-SDK bundle.
  const published = Object.keys(result.metafile.inputs).filter((input) =>
    resolve(input).startsWith(join(nodeModules, "@orga-ai")),
  );
  if (published.length) {
    throw new Error(`${name} bundled published packages instead of the sources: ${published.join(", ")}`);
  }
  const fromSource = Object.keys(result.metafile.inputs).filter((input) => resolve(input).startsWith(source));
  if (!fromSource.length) throw new Error(`${name} has no input from ${source}`);
  return fromSource.map((input) => relative(source, resolve(input)));
}

const builds = {
  nodeSdk: await build({
    ...common,
    entryPoints: [pkg("server/node/src/index.ts")],
    outfile: join(out, "node-sdk.cjs"),
    platform: "node",
    format: "cjs",
    target: "node18",
  }),
  app: await build({
    ...common,
    entryPoints: [join(here, "app.jsx")],
    outfile: join(out, "app.js"),
    platform: "browser",
    format: "iife",
    jsx: "automatic",
    target: "es2020",
    define: { "process.env.NODE_ENV": '"production"' },
  }),
  // packages/client/widget/tsup.config.ts, its IIFE entry: the same entry, format, global name,
  // target, platform, defines and minification; tsup runs esbuild underneath.
  widget: await build({
    ...common,
    entryPoints: [pkg("client/widget/src/init.tsx")],
    outfile: join(out, "init.global.js"),
    platform: "browser",
    format: "iife",
    globalName: "OrgaWidget",
    target: "es2020",
    minify: true,
    define: {
      "process.env.NODE_ENV": '"production"',
      "process.env": "{}",
      process: "{}",
      global: "window",
    },
  }),
};
for (const [name, result] of Object.entries(builds)) checkInputs(result, name);

const version = (path) => JSON.parse(readFileSync(pkg(join(path, "package.json")), "utf8")).version;
const versions = {
  "@orga-ai/node": version("server/node"),
  "@orga-ai/core": version("client/core"),
  "@orga-ai/react": version("client/react"),
  "@orga-ai/widget": version("client/widget"),
};
writeFileSync(join(out, "versions.json"), JSON.stringify(versions, null, 2) + "\n");
console.log(JSON.stringify(versions));
