// Runs @orga-ai/core's own stripEmotionTags (from the current SDK source, unmodified) on texts:
//   node strip_markup.mjs <sdk source folder> <text as JSON>...
// Prints one JSON array: what an app on core >= 1.0.2 displays for each text.
import { join } from "node:path";
import { build } from "esbuild";

const [source, ...texts] = process.argv.slice(2);
const bundle = await build({
  entryPoints: [join(source, "packages/client/core/src/utils/index.ts")],
  bundle: true,
  write: false,
  format: "esm",
  platform: "node",
  logLevel: "error",
});
const url = "data:text/javascript;base64," + Buffer.from(bundle.outputFiles[0].text).toString("base64");
const { stripEmotionTags } = await import(url);
console.log(JSON.stringify(texts.map((text) => stripEmotionTags(JSON.parse(text)))));
