// Validates an OpenAPI document (a JSON file) against the OpenAPI schema
// of its version with @seriousme/openapi-schema-validator, which also
// resolves every $ref. Run by internal/api's TestOpenAPIValidates:
//
//	node check.mjs FILE
//
// Prints "valid OpenAPI 3.1" and exits 0, or prints the validator's errors
// and exits 1. A document of another version is refused: the API serves 3.1.
import { Validator } from "@seriousme/openapi-schema-validator";

const file = process.argv[2];
if (!file) {
  console.error("usage: node check.mjs FILE");
  process.exit(2);
}
const validator = new Validator();
const res = await validator.validate(file);
if (!res.valid) {
  console.error(`invalid OpenAPI document ${file}:`);
  console.error(JSON.stringify(res.errors, null, 2));
  process.exit(1);
}
if (validator.version !== "3.1") {
  console.error(`${file} is OpenAPI ${validator.version}, want 3.1`);
  process.exit(1);
}
console.log(`valid OpenAPI ${validator.version}`);
