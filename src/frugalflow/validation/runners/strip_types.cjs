// Strips TypeScript's types with node's own module.stripTypeScriptTypes (node 22.13+), in the
// sandbox: node strip.cjs SOURCE.ts TARGET. When it cannot, prints {"message": ...} and exits 1.
// Written into the scratch directory by frugalflow.validation.javascript; node built-ins only.

const fs = require("node:fs");
const { stripTypeScriptTypes } = require("node:module");
const [source, target] = process.argv.slice(2);
const code = fs.readFileSync(source, "utf8");
const fail = (error) => {
  console.log(JSON.stringify({ message: String((error && error.message) || error) }));
  process.exit(1);
};
let stripped;
try {
  stripped = stripTypeScriptTypes(code, { mode: "strip" }); // keeps every line where it was
} catch (error) {
  if (!error || error.code !== "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX") fail(error);
  try {
    stripped = stripTypeScriptTypes(code, { mode: "transform" }); // enums, namespaces
  } catch (again) {
    fail(again);
  }
}
fs.writeFileSync(target, stripped);
