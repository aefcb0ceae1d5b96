// The view's side of MCP Apps, shared by every view (inlined into each page's one script): JSON-RPC over postMessage
// with the host, every request answered, refused, or given up after HOST_WAIT_MS; the host's theme, style variables
// (McpUiStyles) and containerDimensions applied; the view's size reported within them.
const HOST_WAIT_MS = 15000;
const NO_ANSWER = "the host did not answer within " + HOST_WAIT_MS / 1000 + " seconds.";

// `view`: { name, onResult(result), onContext(ctx), onCancelled(params), onBox(box) }, each but name optional.
// Answers { request, notify, start, caps, box }: `start` runs the handshake (resolving to the error, if any).
function connectHost(view) {
  const STYLE_KEY = /^--(color|font|border|shadow)-[a-z0-9-]+$/;
  const host = { caps: {}, box: {}, request, notify, start };
  const pending = new Map();
  let nextId = 1;
  let styled = [];
  const post = (msg) => window.parent.postMessage(msg, "*");
  const call = (fn, arg) => (typeof fn === "function" ? fn(arg) : undefined);

  function notify(method, params) {
    post({ jsonrpc: "2.0", method, params: params || {} });
  }

  function request(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(NO_ANSWER));
      }, HOST_WAIT_MS);
      const settle = (done) => (value) => {
        clearTimeout(timer);
        done(value);
      };
      pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      post({ jsonrpc: "2.0", id, method, params });
    });
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const msg = event.data;
    if (!msg || typeof msg !== "object" || msg.jsonrpc !== "2.0") return;
    if (typeof msg.method === "string") {
      if (msg.id !== undefined && msg.id !== null) answer(msg);
      else if (msg.method === "ui/notifications/tool-result") call(view.onResult, msg.params || {});
      else if (msg.method === "ui/notifications/host-context-changed") applyContext(msg.params || {});
      else if (msg.method === "ui/notifications/tool-cancelled") call(view.onCancelled, msg.params || {});
    } else if (pending.has(msg.id)) {
      const waiter = pending.get(msg.id);
      pending.delete(msg.id);
      const why = msg.error && typeof msg.error.message === "string" ? msg.error.message : "";
      if (msg.error) waiter.reject(new Error(why || "the host refused the request"));
      else waiter.resolve(msg.result || {});
    }
  });

  function answer(msg) {
    if (msg.method === "ui/resource-teardown" || msg.method === "ping") {
      post({ jsonrpc: "2.0", id: msg.id, result: {} });
    } else {
      post({ jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } });
    }
  }

  function applyContext(ctx) {
    const root = document.documentElement;
    if (ctx.theme === "light" || ctx.theme === "dark") root.dataset.theme = ctx.theme;
    if ("styles" in ctx) applyStyles(ctx.styles && ctx.styles.variables);
    if ("containerDimensions" in ctx) fitBox(ctx.containerDimensions);
    call(view.onContext, ctx);
  }

  // The host's style variables on the root, over the view's own values; those it stops sending go back to them.
  function applyStyles(vars) {
    const root = document.documentElement;
    for (const key of styled) root.style.removeProperty(key);
    styled = [];
    if (!vars || typeof vars !== "object") return;
    for (const [key, value] of Object.entries(vars)) {
      if (STYLE_KEY.test(key) && typeof value === "string" && !/url\s*\(/i.test(value)) {
        root.style.setProperty(key, value);
        styled.push(key);
      }
    }
  }

  const pixels = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);

  // containerDimensions: a fixed height the view fills, or a maximum it stays under; the same for the width.
  // Without either the view is as tall as its content.
  function fitBox(dims) {
    const d = dims && typeof dims === "object" ? dims : {};
    const box = {
      height: pixels(d.height), maxHeight: pixels(d.maxHeight), width: pixels(d.width), maxWidth: pixels(d.maxWidth),
    };
    host.box = box;
    const body = document.body;
    body.classList.toggle("bounded", Boolean(box.height || box.maxHeight));
    body.style.height = box.height ? box.height + "px" : "";
    body.style.maxHeight = box.maxHeight && !box.height ? box.maxHeight + "px" : "";
    const width = box.width || box.maxWidth;
    body.style.maxWidth = width ? width + "px" : "";
    call(view.onBox, box);
  }

  function watchSize() {
    let last = "";
    new ResizeObserver(() => {
      const rect = document.documentElement.getBoundingClientRect();
      const box = host.box;
      const size = { width: Math.ceil(rect.width), height: Math.ceil(rect.height) };
      if (box.height || box.maxHeight) size.height = box.height || Math.min(size.height, box.maxHeight);
      if (box.width || box.maxWidth) size.width = box.width || Math.min(size.width, box.maxWidth);
      const key = size.width + "x" + size.height;
      if (key !== last) {
        last = key;
        notify("ui/notifications/size-changed", size);
      }
    }).observe(document.body);
  }

  async function start() {
    let failure = null;
    try {
      const result = await request("ui/initialize", {
        protocolVersion: "2026-01-26",
        appInfo: { name: view.name, version: "1.0.0" },
        appCapabilities: {},
      });
      host.caps = result.hostCapabilities || {};
      applyContext(result.hostContext || {});
    } catch (e) {
      failure = e;
    }
    notify("ui/notifications/initialized", {});
    watchSize();
    return failure;
  }

  return host;
}
