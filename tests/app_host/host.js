// The MCP Apps reference host side, as the view tests drive it: @modelcontextprotocol/ext-apps' own AppBridge over
// its PostMessageTransport, bundled by tests/app_support.py (esbuild) into build/host.js, which host.html loads.
// The view runs in a sandboxed frame (scripts only, an opaque origin); its tools/call requests go to
// window.hostCall, which the test binds to a real MCP client.
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const frame = document.getElementById("view");
// Every message the view sent, as it arrived.
const received = [];
// Tools whose calls the host takes and never answers.
const unanswered = new Set();
let bridge = null;
let context = {};
let reported = 200;

window.received = received;
window.addEventListener("message", (event) => {
  if (event.source === frame.contentWindow) received.push(event.data);
});

// The frame as a host sizes it: a fixed container height (or width) is kept, a maximum is never exceeded, and
// otherwise the frame takes the height the view asked for.
function fit() {
  const dims = context.containerDimensions || {};
  const height = dims.height ?? Math.min(reported, dims.maxHeight ?? Infinity);
  frame.style.height = height + "px";
  const width = dims.width ?? dims.maxWidth;
  frame.style.width = width === undefined ? "100%" : width + "px";
  document.body.classList.toggle("dark", context.theme === "dark");
}

// `silent`: a host that shows the view but never connects the bridge, so nothing the view sends is answered.
window.startView = async (html, toolInput, toolResult, hostContext, silent) => {
  context = hostContext;
  fit();
  // The host takes context updates for the model (text), and keeps the last one in window.modelContext.
  const capabilities = { serverTools: {}, updateModelContext: { text: {} } };
  bridge = new AppBridge(null, { name: "bimpe-test-host", version: "1.0.0" }, capabilities, { hostContext });
  bridge.onupdatemodelcontext = async (params) => {
    window.modelContext = params;
    return {};
  };
  bridge.oncalltool = (params) => {
    if (unanswered.has(params.name)) return new Promise(() => {});
    return window.hostCall(params.name, params.arguments ?? {});
  };
  bridge.addEventListener("sizechange", (size) => {
    if (typeof size.height === "number") reported = size.height;
    fit();
  });
  bridge.addEventListener("initialized", async () => {
    await bridge.sendToolInput({ arguments: toolInput });
    await bridge.sendToolResult(toolResult);
  });
  if (!silent) await bridge.connect(new PostMessageTransport(frame.contentWindow, frame.contentWindow));
  frame.srcdoc = html;
};

// A change of the host context: the bridge sends the view the fields that changed.
window.setHostContext = (changes) => {
  context = { ...context, ...changes };
  fit();
  bridge.setHostContext(context);
};

window.leaveUnanswered = (name) => {
  unanswered.add(name);
};
