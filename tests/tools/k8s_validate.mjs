// Validate Kubernetes objects against the API's OpenAPI schemas (npm package
// kubernetes-models, whose classes carry the upstream schemas), with no API server.
//
//     python3 -c 'yaml -> json list' | node k8s_validate.mjs MODULES_DIR
//
// Reads a JSON array of objects on stdin; prints one line per object, "ok KIND NAME" or
// "invalid KIND NAME: errors"; exits 1 if any object is invalid or of an unknown kind.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const docs = JSON.parse(readFileSync(0, "utf8"));
let failed = false;

for (const doc of docs) {
  const [group, version] = doc.apiVersion.includes("/") ? doc.apiVersion.split("/") : ["", doc.apiVersion];
  const file = [modules, "kubernetes-models", group, version, doc.kind + ".js"].filter(Boolean).join("/");
  const what = `${doc.kind} ${doc.metadata?.name}`;
  try {
    const cls = (await import(pathToFileURL(file)))[doc.kind];
    new cls(doc).validate();
    console.log(`ok ${what}`);
  } catch (e) {
    failed = true;
    console.log(`invalid ${what}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
