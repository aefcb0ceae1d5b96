// A host on the TypeScript SDK 1.x: spawn the server over stdio, list its tools (which arms the SDK's output-schema
// validation, as in every host), then make each call of the plan and record what the SDK hands back.
//
// Reads a plan as JSON on stdin:
//   {"server": {"command", "args", "env"}, "control": "<sandbox origin>/_sandbox" | null,
//    "calls": [{"tool", "arguments", "fault": <sandbox fault> | null}]}
// Writes one JSON line: {"protocolVersion", "results": [{"result": CallToolResult} | {"thrown": {code, message}}]}
// Before each call the sandbox's faults are cleared and the call's own fault, if any, is set.
import { createRequire } from "node:module";
import { text } from "node:stream/consumers";

// The SDK is installed by .ci/run into .ci/node, not next to this file.
const require = createRequire(new URL("../.ci/node/package.json", import.meta.url));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");

async function control(base, method, fault) {
  const init = { method };
  if (fault) {
    init.headers = { "content-type": "application/json" };
    init.body = JSON.stringify(fault);
  }
  const response = await fetch(`${base}/faults`, init);
  if (!response.ok) throw new Error(`sandbox control ${method} answered ${response.status}`);
}

const plan = JSON.parse(await text(process.stdin));
const transport = new StdioClientTransport({ ...plan.server, stderr: "inherit" });
let protocolVersion = null;
transport.setProtocolVersion = (version) => {
  protocolVersion = version;
};
const client = new Client({ name: "ts-sdk-1x-host", version: "1.0.0" });
await client.connect(transport);
await client.listTools();
const results = [];
for (const call of plan.calls) {
  if (plan.control) {
    await control(plan.control, "DELETE");
    if (call.fault) await control(plan.control, "POST", call.fault);
  }
  try {
    results.push({ result: await client.callTool({ name: call.tool, arguments: call.arguments }) });
  } catch (error) {
    results.push({ thrown: { code: error.code ?? null, message: String(error.message ?? error) } });
  }
}
if (plan.control) await control(plan.control, "DELETE");
await client.close();
process.stdout.write(JSON.stringify({ protocolVersion, results }) + "\n");
