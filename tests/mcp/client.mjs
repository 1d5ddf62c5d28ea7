// tracker mcp, driven by the official MCP TypeScript SDK's client over stdio.
// Usage: node client.mjs <tracker binary> <board directory>
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import Ajv from "ajv";

const [tracker, board] = process.argv.slice(2);
const transport = new StdioClientTransport({ command: tracker, args: ["mcp", "-C", board], stderr: "inherit" });
const client = new Client({ name: "tracker-sdk-test", version: "1.0.0" });
await client.connect(transport);
assert.equal(client.getServerVersion().name, "tracker");

const { tools } = await client.listTools();
const ajv = new Ajv({ strict: false, allErrors: true });
const validators = new Map(tools.map((t) => [t.name, ajv.compile(t.outputSchema)]));
for (const name of ["new", "ready", "claim", "show", "set", "done", "log"])
  assert.ok(validators.has(name), `tools/list has ${name}`);

// Calls a tool; checks its structuredContent against the tool's outputSchema and
// that the text says the same.
async function call(name, args) {
  const r = await client.callTool({ name, arguments: args });
  assert.ok(!r.isError, `${name} failed: ${r.content?.[0]?.text}`);
  const validate = validators.get(name);
  assert.ok(validate(r.structuredContent), `${name}: ${ajv.errorsText(validate.errors)}`);
  assert.deepEqual(JSON.parse(r.content[0].text), r.structuredContent);
  return r.structuredContent;
}

const made = await call("new", { name: "Written by the SDK", priority: 2, labels: ["sdk"] });
assert.equal(made.created, true);
const ready = await call("ready", {});
assert.deepEqual(ready.stories[0], { id: made.id, name: "Written by the SDK", stage: "backlog", priority: 2, agent: null });
const claimed = await call("claim", { owner: "sdk-agent", ttl: "10m" });
assert.equal(claimed.id, made.id);
assert.equal(claimed.claim.owner, "sdk-agent");
const shown = await call("show", { id: made.id });
assert.equal(shown.agent, "sdk-agent");
assert.equal(shown.stage, "current");
const set = await call("set", { id: made.id, fields: { priority: 4 } });
assert.deepEqual(set.changes, ["priority 2 -> 4"]);
const done = await call("done", { id: made.id, owner: "sdk-agent" });
assert.equal(done.to, "done");
const log = await call("log", { id: made.id });
assert.deepEqual(log.entries.map((e) => e.action), ["done", "set", "claim", "create"]);

// Without an owner the server acts as its client (clientInfo.name): a claim is the
// client's, and only the holder finishes a claim (exit 3 as a tool error).
const second = await call("new", { name: "Claimed by the client" });
const mine = await call("claim", { id: second.id });
assert.equal(mine.claim.owner, "tracker-sdk-test");
const other = await client.callTool({ name: "done", arguments: { id: second.id, owner: "someone-else" } });
assert.equal(other.isError, true);
assert.equal(JSON.parse(other.content[0].text).code, 3);
assert.match(JSON.parse(other.content[0].text).error, /claimed by tracker-sdk-test/);
assert.equal((await call("done", { id: second.id })).to, "done");

// A business error is a result the model can read; an unknown tool is a protocol error.
const refused = await client.callTool({ name: "show", arguments: { id: 999 } });
assert.equal(refused.isError, true);
assert.equal(JSON.parse(refused.content[0].text).code, 4);
await assert.rejects(client.callTool({ name: "nonesuch", arguments: {} }), /Unknown tool/);

await client.close();
console.log(`ok: ${tools.length} tools; new, ready, claim, show, set, done and log checked against their outputSchema`);
