// A client on the TypeScript SDK 1.x that signs in with OAuth client credentials: the server's 401 leads it to the
// protected resource metadata and the provider's token endpoint. It lists the tools (which arms the SDK's
// output-schema validation), calls each one with arguments that work, and writes what it saw.
//
// Reads a plan as JSON on stdin: {"url", "issuer", "clientId", "clientSecret", "scope", "agent", "destination"}.
// Writes one JSON line: {"protocolVersion", "listed": [tool names], "called": [tool names]}; a failed call exits 1.
import { createRequire } from "node:module";
import { text } from "node:stream/consumers";

// The SDK is installed by .ci/run into .ci/node, not next to this file.
const require = createRequire(new URL("../.ci/node/package.json", import.meta.url));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { ClientCredentialsProvider } = require("@modelcontextprotocol/sdk/client/auth-extensions.js");

const plan = JSON.parse(await text(process.stdin));
const authProvider = new ClientCredentialsProvider({
  clientId: plan.clientId,
  clientSecret: plan.clientSecret,
  scope: plan.scope,
  expectedIssuer: plan.issuer,
});
const transport = new StreamableHTTPClientTransport(new URL(plan.url), { authProvider });
const client = new Client({ name: "ts-sdk-1x-oauth", version: "1.0.0" });
await client.connect(transport);
const listed = (await client.listTools()).tools.map((tool) => tool.name);
const called = [];

async function call(name, args) {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name} answered an error: ${JSON.stringify(result.content)}`);
  called.push(name);
  return result.structuredContent;
}

const agent = plan.agent;
await call("list_agents", {});
const calls = (await call("list_calls", { agent_id: agent, limit: 3 })).calls;
const callId = calls[0].id;
await call("show_calls", { agent_id: agent });
await call("get_call", { agent_id: agent, call_id: callId });
await call("get_transcript", { agent_id: agent, call_id: callId });
await call("get_transcripts", { agent_id: agent, call_ids: calls.map((c) => c.id) });
await call("get_agent", { agent_id: agent });
await call("call_stats", { agent_id: agent, since: "7d" });
const placed = await call("place_call", { agent_id: agent, destination: plan.destination, is_test_call: true });
await call("wait_for_call", { agent_id: agent, call_id: placed.call_id, timeout_seconds: 5 });
await client.close();
process.stdout.write(JSON.stringify({ protocolVersion: transport.protocolVersion ?? null, listed, called }) + "\n");
