/*
 * Detection in one frame. Called with frame.evaluate(source, options), where
 * options = {imageSelector, imageField}. Returns plain records; element
 * references stay in the frame's registry under opaque refs, for inject.js.
 *
 * Also starts a MutationObserver that tells the top frame about changes, so
 * that a helper waiting for a captcha to appear wakes up on events.
 */
(options) => {
  "use strict";
  const KEY = Symbol.for("vastcaptcha");
  let registry = window[KEY];
  if (!registry) {
    registry = { hooks: [], widgets: Object.create(null), refs: new WeakMap(), nextRef: 1, epoch: 0 };
    Object.defineProperty(window, KEY, { value: registry });
  }

  if (!registry.watching) {
    registry.watching = true;
    let queued = false;
    const notify = () => {
      if (queued) {
        return;
      }
      queued = true;
      Promise.resolve().then(() => {
        queued = false;
        try {
          window.top.postMessage({ vastcaptcha: "changed" }, "*");
        } catch (error) {
          // detached frame
        }
      });
    };
    new MutationObserver(notify).observe(document, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-sitekey", "data-hcaptcha-widget-id", "src", "class", "id"],
    });
    window.addEventListener("load", notify);
  }

  const text = (value) => (typeof value === "string" && value !== "" ? value : null);
  const isElement = (value) => Boolean(value) && typeof value === "object" && value.nodeType === 1;

  function refOf(element, fallbackKey) {
    const key = element || fallbackKey;
    if (typeof key === "string") {
      registry.named = registry.named || Object.create(null);
      if (!registry.named[key]) {
        registry.named[key] = "w" + registry.nextRef++;
      }
      return registry.named[key];
    }
    let ref = registry.refs.get(key);
    if (!ref) {
      ref = "w" + registry.nextRef++;
      registry.refs.set(key, ref);
    }
    return ref;
  }

  // Every element matching selector, in the document and in open shadow roots.
  function deepQueryAll(root, selector, found) {
    found = found || [];
    for (const element of root.querySelectorAll(selector)) {
      found.push(element);
    }
    for (const host of root.querySelectorAll("*")) {
      if (host.shadowRoot) {
        deepQueryAll(host.shadowRoot, selector, found);
      }
    }
    return found;
  }

  function parseUrl(src) {
    try {
      return new URL(src, location.href);
    } catch (error) {
      return null;
    }
  }

  function hookFor(provider, container, widgetId) {
    let byContainer = null;
    let byId = null;
    for (const hook of registry.hooks) {
      if (hook.provider !== provider) {
        continue;
      }
      if (container && hook.container === container) {
        byContainer = hook;
      }
      if (widgetId !== null && hook.widgetId === widgetId) {
        byId = hook;
      }
    }
    return { byContainer: byContainer, byId: byId };
  }

  function resolveName(name) {
    let target = window;
    for (const part of name.split(".")) {
      if (target === null || target === undefined) {
        return undefined;
      }
      try {
        target = target[part];
      } catch (error) {
        return undefined;
      }
    }
    return target;
  }

  function callable(value) {
    if (typeof value === "function") {
      return true;
    }
    return typeof value === "string" && value !== "" && typeof resolveName(value) === "function";
  }

  function describe(value) {
    if (typeof value === "string") {
      return value;
    }
    return value.name ? value.name : "<anonymous function>";
  }

  // The lookup order is part of the public contract; see the package docs.
  function findCallback(candidates) {
    for (const [source, value] of candidates) {
      if (callable(value)) {
        return { value: value, info: { source: source, name: describe(value) } };
      }
    }
    return null;
  }

  const widgets = [];

  function add(record, container, fields, callback, fallbackKey) {
    const ref = refOf(container, fallbackKey);
    registry.widgets[ref] = {
      provider: record.provider,
      container: container,
      fields: fields,
      callback: callback ? callback.value : null,
      sitekey: record.sitekey,
      widgetId: record.widgetId,
    };
    record.ref = ref;
    record.callback = callback ? callback.info : null;
    record.fields = fields.map((field) => field.name || field.id || "");
    widgets.push(record);
  }

  // ---- reCAPTCHA -----------------------------------------------------------

  const recaptchaScripts = [];
  for (const script of document.querySelectorAll("script[src]")) {
    const url = parseUrl(script.src);
    if (url && /^\/recaptcha\/(api|enterprise)\.js$/.test(url.pathname)) {
      recaptchaScripts.push(url);
    }
  }
  const renderKeys = new Map();
  for (const url of recaptchaScripts) {
    const render = url.searchParams.get("render");
    if (render && render !== "explicit" && render !== "onload") {
      renderKeys.set(render, url);
    }
  }

  // Actions a page passes to grecaptcha.execute in its own inline scripts:
  // v3 pages often call execute only at submit time, after we solved.
  const executeActions = {};
  const executeCall = /grecaptcha(?:\.enterprise)?\.execute\(\s*(['"])([^'"]+)\1\s*,\s*\{[^}]*?\baction\s*:\s*(['"])([^'"]*)\3/g;
  for (const script of document.querySelectorAll("script:not([src])")) {
    for (const match of (script.textContent || "").matchAll(executeCall)) {
      executeActions[match[2]] = match[4];
    }
  }

  function searchClient(client) {
    // The client object is minified and nested differently in every release:
    // search it breadth-first for the parameters (an object with a sitekey)
    // and the widget's container element.
    let params = null;
    let container = null;
    const seen = new Set();
    const queue = [[client, 0]];
    while (queue.length) {
      const [value, depth] = queue.shift();
      if (!value || typeof value !== "object" || seen.has(value) || value === window) {
        continue;
      }
      seen.add(value);
      if (value.nodeType !== undefined) {
        if (isElement(value) && !container) {
          container = value;
        }
        continue;
      }
      if (!params && typeof value.sitekey === "string") {
        params = value;
      }
      if (depth >= 5) {
        continue;
      }
      for (const name of Object.keys(value)) {
        let child;
        try {
          child = value[name];
        } catch (error) {
          continue;
        }
        if (child && typeof child === "object") {
          queue.push([child, depth + 1]);
        }
      }
    }
    return { params: params, container: container };
  }

  const cfg = window.___grecaptcha_cfg;
  const clients = cfg && cfg.clients && typeof cfg.clients === "object" ? cfg.clients : {};
  const seenContainers = new Set();
  const seenRecaptchaKeys = new Set();
  const grecaptcha = window.grecaptcha;
  const executeReady =
    Boolean(grecaptcha) &&
    (typeof grecaptcha.execute === "function" ||
      Boolean(grecaptcha.enterprise && typeof grecaptcha.enterprise.execute === "function"));

  for (const id of Object.keys(clients)) {
    const { params, container } = searchClient(clients[id]);
    if (!params) {
      continue;
    }
    const numericId = Number(id);
    const textarea =
      document.getElementById(numericId === 0 ? "g-recaptcha-response" : "g-recaptcha-response-" + id) ||
      (container ? container.querySelector("textarea.g-recaptcha-response") : null);
    const box = textarea ? textarea.parentElement : container;
    const anchor = box ? box.querySelector("iframe[src*='/recaptcha/']") : null;
    const anchorUrl = anchor ? parseUrl(anchor.src) : null;
    const sitekey = text(params.sitekey);
    const v3 = numericId >= 100000 || renderKeys.has(sitekey);
    const scriptUrl = renderKeys.get(sitekey) || recaptchaScripts[0] || null;
    const enterprise = anchorUrl
      ? anchorUrl.pathname.indexOf("/enterprise/") >= 0
      : Boolean(scriptUrl && scriptUrl.pathname.endsWith("/enterprise.js"));
    const element = isElement(container) ? container : null;
    if (element) {
      seenContainers.add(element);
    }
    seenRecaptchaKeys.add(sitekey);
    const hooks = hookFor("recaptcha", element, String(id));
    const size = text(params.size) || (anchorUrl ? anchorUrl.searchParams.get("size") : null);
    const record = {
      provider: "recaptcha",
      sitekey: sitekey,
      widgetId: String(id),
      v3: v3,
      invisible: size === "invisible",
      enterprise: enterprise,
      host: (anchorUrl || scriptUrl || { hostname: null }).hostname,
      action:
        text(params.action) ||
        (anchorUrl ? text(anchorUrl.searchParams.get("sa")) : null) ||
        (v3 && sitekey ? text(executeActions[sitekey]) : null),
      cdata: null,
      pageData: null,
      ready: Boolean(textarea) || (v3 && executeReady),
      executeReady: executeReady,
    };
    const callback = findCallback([
      ["data-callback", element ? element.getAttribute("data-callback") : null],
      ["render-option", hooks.byContainer ? hooks.byContainer.params.callback : null],
      ["grecaptcha-cfg", params.callback],
      ["hook-registry", hooks.byId ? hooks.byId.params.callback : null],
    ]);
    add(record, element || textarea, textarea ? [textarea] : [], callback, "recaptcha:" + id);
  }

  // Declared widgets the library has not rendered (yet).
  for (const element of document.querySelectorAll(".g-recaptcha[data-sitekey]")) {
    if (seenContainers.has(element)) {
      continue;
    }
    const sitekey = text(element.getAttribute("data-sitekey"));
    const scriptUrl = recaptchaScripts[0] || null;
    const size = text(element.getAttribute("data-size"));
    seenRecaptchaKeys.add(sitekey);
    add(
      {
        provider: "recaptcha",
        sitekey: sitekey,
        widgetId: null,
        v3: false,
        invisible: size === "invisible",
        enterprise: Boolean(scriptUrl && scriptUrl.pathname.endsWith("/enterprise.js")),
        host: scriptUrl ? scriptUrl.hostname : null,
        action: text(element.getAttribute("data-action")),
        cdata: null,
        pageData: null,
        ready: false,
        executeReady: executeReady,
      },
      element,
      [],
      findCallback([["data-callback", element.getAttribute("data-callback")]])
    );
  }

  // v3 keys loaded with api.js?render=KEY that registered no client: the
  // token only travels through grecaptcha.execute.
  for (const [sitekey, url] of renderKeys) {
    if (seenRecaptchaKeys.has(sitekey)) {
      continue;
    }
    add(
      {
        provider: "recaptcha",
        sitekey: sitekey,
        widgetId: null,
        v3: true,
        invisible: true,
        enterprise: url.pathname.endsWith("/enterprise.js"),
        host: url.hostname,
        action: text(executeActions[sitekey]),
        cdata: null,
        pageData: null,
        ready: executeReady,
        executeReady: executeReady,
      },
      null,
      [],
      null,
      "recaptcha-v3:" + sitekey
    );
  }

  // ---- hCaptcha --------------------------------------------------------------

  const hcaptchaContainers = new Set(document.querySelectorAll(".h-captcha[data-sitekey]"));
  for (const element of document.querySelectorAll("[data-hcaptcha-widget-id]:not(iframe)")) {
    hcaptchaContainers.add(element);
  }
  for (const hook of registry.hooks) {
    if (hook.provider === "hcaptcha" && isElement(hook.container)) {
      hcaptchaContainers.add(hook.container);
    }
  }
  for (const element of hcaptchaContainers) {
    const widgetId = text(element.getAttribute("data-hcaptcha-widget-id"));
    const hooks = hookFor("hcaptcha", element, widgetId);
    const params = (hooks.byContainer || hooks.byId || { params: {} }).params;
    const frame = element.querySelector("iframe[src*='hcaptcha']");
    const frameUrl = frame ? parseUrl(frame.src) : null;
    const fragment = frameUrl ? new URLSearchParams(frameUrl.hash.slice(1)) : null;
    const fields = Array.from(
      element.querySelectorAll("textarea[name='h-captcha-response'], textarea[name='g-recaptcha-response']")
    );
    const size = text(element.getAttribute("data-size")) || text(params.size);
    add(
      {
        provider: "hcaptcha",
        sitekey:
          text(element.getAttribute("data-sitekey")) ||
          text(params.sitekey) ||
          (fragment ? text(fragment.get("sitekey")) : null),
        widgetId: widgetId,
        v3: false,
        invisible: size === "invisible",
        enterprise: false,
        host: frameUrl ? frameUrl.hostname : null,
        action: null,
        cdata: null,
        pageData: null,
        rqdata: text(params.rqdata),
        ready: fields.length > 0,
      },
      element,
      fields,
      findCallback([
        ["data-callback", element.getAttribute("data-callback")],
        ["render-option", hooks.byContainer ? hooks.byContainer.params.callback : null],
        ["hook-registry", hooks.byId ? hooks.byId.params.callback : null],
      ])
    );
  }

  // ---- Turnstile ---------------------------------------------------------------

  const turnstileContainers = new Set(document.querySelectorAll(".cf-turnstile[data-sitekey]"));
  for (const hook of registry.hooks) {
    if (hook.provider === "turnstile" && isElement(hook.container)) {
      turnstileContainers.add(hook.container);
    }
  }
  const turnstileFrames = deepQueryAll(document, "iframe[src*='challenges.cloudflare.com']");
  for (const frame of turnstileFrames) {
    // the widget puts its iframe in a shadow root hosted inside the container
    const root = frame.getRootNode();
    const host = root && root.host ? root.host : frame.parentElement;
    if (host && host.parentElement && !Array.from(turnstileContainers).some((c) => c.contains(host))) {
      turnstileContainers.add(host.parentElement);
    }
  }
  for (const element of turnstileContainers) {
    const frame = turnstileFrames.find((candidate) => {
      const root = candidate.getRootNode();
      return element.contains(root && root.host ? root.host : candidate);
    });
    const widgetId = frame && frame.id ? frame.id : null;
    const hooks = hookFor("turnstile", element, widgetId);
    const params = (hooks.byContainer || hooks.byId || { params: {} }).params;
    const frameUrl = frame ? parseUrl(frame.src) : null;
    // .../turnstile/if/ov2/av0/rcv0/0/<widget id>/<sitekey>/<theme>/...
    const pathKey = frameUrl ? frameUrl.pathname.split("/").find((part) => /^0x[A-Za-z0-9_-]{8,}$/.test(part)) : null;
    const fieldName =
      text(element.getAttribute("data-response-field-name")) ||
      text(params["response-field-name"]) ||
      "cf-turnstile-response";
    const fields = Array.from(element.querySelectorAll("input")).filter((input) => input.name === fieldName);
    add(
      {
        provider: "turnstile",
        sitekey: text(element.getAttribute("data-sitekey")) || text(params.sitekey) || text(pathKey),
        widgetId: widgetId,
        v3: false,
        invisible: false,
        enterprise: false,
        host: frameUrl ? frameUrl.hostname : null,
        action: text(element.getAttribute("data-action")) || text(params.action),
        cdata: text(element.getAttribute("data-cdata")) || text(params.cData),
        pageData: text(params.chlPageData),
        ready: Boolean(frame) || fields.length > 0,
      },
      element,
      fields,
      findCallback([
        ["data-callback", element.getAttribute("data-callback")],
        ["render-option", hooks.byContainer ? hooks.byContainer.params.callback : null],
        ["hook-registry", hooks.byId ? hooks.byId.params.callback : null],
      ])
    );
  }

  // ---- FunCaptcha (Arkose) ---------------------------------------------------------

  for (const element of document.querySelectorAll("[data-pkey]")) {
    const form = element.closest("form");
    const fields = form ? Array.from(form.querySelectorAll("input[name='fc-token']")) : [];
    add(
      {
        provider: "funcaptcha",
        sitekey: text(element.getAttribute("data-pkey")),
        widgetId: null,
        v3: false,
        invisible: false,
        enterprise: false,
        host: null,
        action: null,
        cdata: null,
        pageData: text(element.getAttribute("data-blob")),
        ready: true,
      },
      element,
      fields,
      findCallback([["data-callback", element.getAttribute("data-callback")]])
    );
  }

  // ---- image captcha (only when the caller names it) -----------------------------

  if (options && options.imageSelector) {
    const image = document.querySelector(options.imageSelector);
    if (image) {
      let field = null;
      if (options.imageField) {
        field = document.querySelector(options.imageField);
      } else {
        const scope = image.closest("form") || document;
        field = scope.querySelector("input[type='text'], input:not([type])");
      }
      const loaded = image.tagName !== "IMG" || (image.complete && image.naturalWidth > 0);
      add(
        {
          provider: "image",
          sitekey: null,
          widgetId: null,
          v3: false,
          invisible: false,
          enterprise: false,
          host: null,
          action: null,
          cdata: null,
          pageData: null,
          ready: loaded && Boolean(field),
        },
        image,
        field ? [field] : [],
        null
      );
    }
  }

  return {
    url: location.href,
    userAgent: navigator.userAgent,
    hooked: Boolean(registry.hooked),
    widgets: widgets,
  };
}
