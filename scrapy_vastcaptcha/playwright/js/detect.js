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

  // names this document: refs restart in the next one
  if (!registry.document) {
    registry.document = Date.now().toString(36) + "." + Math.random().toString(36).slice(2);
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

  // The lookup order is part of the public contract (CALLBACK_SOURCES in
  // results.py): the container's attribute, the render() call recorded for the
  // container, the widget's reCAPTCHA client, the render() call matched by id.
  function findCallback(element, hooks, clientCallback) {
    const candidates = [
      ["data-callback", element ? element.getAttribute("data-callback") : null],
      ["render-option", hooks && hooks.byContainer ? hooks.byContainer.params.callback : null],
      ["grecaptcha-cfg", clientCallback],
      ["hook-registry", hooks && hooks.byId ? hooks.byId.params.callback : null],
    ];
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
    const previous = registry.widgets[ref];
    registry.widgets[ref] = {
      provider: record.provider,
      container: container,
      fields: fields,
      callback: callback ? callback.value : null,
      sitekey: record.sitekey,
      widgetId: record.widgetId,
    };
    // a token inject.js gave this widget stays: the page's API calls answer with it
    if (previous && typeof previous.token === "string") {
      registry.widgets[ref].token = previous.token;
    }
    record.ref = ref;
    record.callback = callback ? callback.info : null;
    record.fields = fields.map((field) => field.name || field.id || "");
    widgets.push(record);
  }

  // ---- reCAPTCHA -----------------------------------------------------------
  //
  // Three views of the same widgets: the declared containers (.g-recaptcha
  // markup and the containers of recorded render() calls), the library's
  // clients in ___grecaptcha_cfg.clients, and the response textareas it
  // renders. A client is tied to its container by containment, never by
  // identity: releases keep the container itself, an inner div, the iframe's
  // parent, a badge in <body> or only the textarea, at varying depths and
  // under varying minified names. Only raw evidence is reported; which kind a
  // widget is (v2, invisible, v3) is decided in Python by the rules shared
  // with the HTML detector (scrapy_vastcaptcha.evidence).

  const siteKey = (value) => (typeof value === "string" && value.trim() !== "" ? value.trim() : null);

  const recaptchaScripts = [];
  for (const script of document.querySelectorAll("script[src]")) {
    const url = parseUrl(script.src);
    if (url && /^\/recaptcha\/(api|enterprise)\.js$/.test(url.pathname)) {
      recaptchaScripts.push(url);
    }
  }
  const renderKeys = new Map();
  for (const url of recaptchaScripts) {
    const render = siteKey(url.searchParams.get("render"));
    if (render && render !== "explicit" && render !== "onload") {
      renderKeys.set(render, url);
    }
  }

  // Keys (and actions) passed to grecaptcha.execute: in the page's inline
  // scripts (v3 pages often call execute only at submit time, after we
  // solved) and in calls recorded by the init hook.
  const executeKeys = new Set();
  const executeActions = Object.create(null);
  const executeCall = /grecaptcha(?:\.enterprise)?\.execute\(\s*(['"])([^'"]+)\1\s*,\s*\{[^}]*?\baction\s*:\s*(['"])([^'"]*)\3/g;
  for (const script of document.querySelectorAll("script:not([src])")) {
    for (const match of (script.textContent || "").matchAll(executeCall)) {
      const key = siteKey(match[2]);
      if (key) {
        executeKeys.add(key);
        executeActions[key] = match[4];
      }
    }
  }
  for (const call of registry.executes || []) {
    const key = siteKey(call.sitekey);
    if (key) {
      executeKeys.add(key);
      if (text(call.action)) {
        executeActions[key] = call.action;
      }
    }
  }

  function isWindow(value) {
    try {
      return value.window === value;
    } catch (error) {
      return true; // a cross-origin window refuses even this
    }
  }

  const SEARCH_DEPTH = 10;
  const SEARCH_BUDGET = 20000;

  // The client object is minified and nested differently in every release:
  // walk it breadth-first (bounded) for its parameters (the first object
  // with a string sitekey) and every element it references.
  function searchClient(client) {
    let params = null;
    const elements = [];
    const seen = new Set();
    let level = [client];
    let budget = SEARCH_BUDGET;
    for (let depth = 0; depth <= SEARCH_DEPTH && level.length > 0 && budget > 0; depth++) {
      const next = [];
      for (const value of level) {
        if (!value || typeof value !== "object" || seen.has(value) || budget-- <= 0) {
          continue;
        }
        seen.add(value);
        if (isWindow(value)) {
          continue;
        }
        let names;
        try {
          if (value.nodeType !== undefined) {
            if (isElement(value)) {
              elements.push(value);
            }
            continue;
          }
          if (!params && typeof value.sitekey === "string") {
            params = value;
          }
          names = Object.keys(value);
        } catch (error) {
          continue; // a hostile getter or proxy
        }
        for (const name of names) {
          let child;
          try {
            child = value[name];
          } catch (error) {
            continue;
          }
          if (child && typeof child === "object") {
            next.push(child);
          }
        }
      }
      level = next;
    }
    return { params: params, elements: elements };
  }

  const RESPONSE_AREA = "textarea.g-recaptcha-response, textarea[name='g-recaptcha-response']";
  // hCaptcha writes a g-recaptcha-response textarea too, for compatibility
  const inHcaptcha = (element) =>
    Boolean(element.closest(".h-captcha, [data-hcaptcha-widget-id]")) ||
    Boolean(element.parentElement.querySelector("textarea[name='h-captcha-response'], iframe[data-hcaptcha-widget-id]"));

  function responseAreas(root) {
    const found = root.matches(RESPONSE_AREA) ? [root] : Array.from(root.querySelectorAll(RESPONSE_AREA));
    return found.filter((area) => !inHcaptcha(area));
  }

  // The library names the textarea after the client id; a tree holding an
  // element with exactly one response textarea names it too.
  function clientTextarea(id, elements) {
    const byId = document.getElementById(id === "0" ? "g-recaptcha-response" : "g-recaptcha-response-" + id);
    if (byId && byId.tagName === "TEXTAREA" && !inHcaptcha(byId)) {
      return byId;
    }
    for (const element of elements) {
      const areas = responseAreas(element);
      if (areas.length === 1) {
        return areas[0];
      }
    }
    return null;
  }

  const declared = [];
  const declaredElements = new Set();
  function declare(element) {
    if (!declaredElements.has(element)) {
      declaredElements.add(element);
      declared.push(element);
    }
  }
  for (const element of document.querySelectorAll(".g-recaptcha[data-sitekey]")) {
    declare(element);
  }
  for (const hook of registry.hooks) {
    if (hook.provider === "recaptcha" && isElement(hook.container) && hook.container.isConnected) {
      declare(hook.container);
    }
  }

  function depthOf(node) {
    let depth = 0;
    for (let current = node; current; current = current.parentNode) {
      depth += 1;
    }
    return depth;
  }

  // How far apart a declared container and an element of a client are, or
  // -1 when neither holds the other. An ancestor that also holds another
  // declared container (<body>, a form with two widgets) proves nothing.
  function distance(container, node) {
    if (container === node) {
      return 0;
    }
    if (container.contains(node)) {
      return depthOf(node) - depthOf(container);
    }
    if (node.contains(container)) {
      for (const other of declared) {
        if (other !== container && node.contains(other)) {
          return -1;
        }
      }
      return depthOf(container) - depthOf(node);
    }
    return -1;
  }

  function declaredKey(element) {
    const hook = hookFor("recaptcha", element, null).byContainer;
    return siteKey(element.getAttribute("data-sitekey")) || (hook ? siteKey(hook.params.sitekey) : null);
  }

  const cfg = window.___grecaptcha_cfg;
  const clients = cfg && cfg.clients && typeof cfg.clients === "object" ? cfg.clients : {};
  const clientInfos = [];
  for (const id of Object.keys(clients)) {
    const found = searchClient(clients[id]);
    const sitekey = found.params ? siteKey(found.params.sitekey) : null;
    if (!sitekey) {
      continue;
    }
    const textarea = clientTextarea(String(id), found.elements);
    clientInfos.push({
      id: String(id),
      params: found.params,
      sitekey: sitekey,
      elements: found.elements,
      textarea: textarea,
      nodes: textarea ? found.elements.concat([textarea]) : found.elements,
    });
  }

  // Closest pairs first; each container and each client is used once, so
  // one widget is one record.
  const pairs = [];
  declared.forEach((element, di) => {
    const key = declaredKey(element);
    clientInfos.forEach((client, ci) => {
      if (key && key !== client.sitekey) {
        return;
      }
      let best = -1;
      for (const node of client.nodes) {
        const apart = distance(element, node);
        if (apart >= 0 && (best < 0 || apart < best)) {
          best = apart;
        }
      }
      if (best >= 0) {
        pairs.push([best, di, ci]);
      }
    });
  });
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const clientOf = new Map();
  const matchedClients = new Set();
  for (const [, di, ci] of pairs) {
    if (!clientOf.has(di) && !matchedClients.has(ci)) {
      clientOf.set(di, ci);
      matchedClients.add(ci);
    }
  }

  // A container no client is tied to through the DOM (a bound button whose
  // badge went to <body>, in a release that keeps only the badge; a hidden
  // input next to api.js?render=KEY) takes an unmatched client of its site
  // key, in order (the library renders in document order), when the key has
  // as many such clients as such containers.
  const looseContainers = new Map();
  declared.forEach((element, di) => {
    const key = declaredKey(element);
    if (key && !clientOf.has(di) && responseAreas(element).length === 0) {
      looseContainers.set(key, (looseContainers.get(key) || []).concat([di]));
    }
  });
  for (const [key, containers] of looseContainers) {
    const loose = [];
    clientInfos.forEach((client, ci) => {
      if (!matchedClients.has(ci) && client.sitekey === key) {
        loose.push(ci);
      }
    });
    if (loose.length === containers.length) {
      containers.forEach((di, index) => {
        clientOf.set(di, loose[index]);
        matchedClients.add(loose[index]);
      });
    }
  }

  // A g-recaptcha input that is not a submit control is a token field of
  // its own (django-recaptcha's v3 input), empty in the markup
  const ownField = (element) =>
    element.tagName === "INPUT" &&
    ["submit", "button", "image"].indexOf((element.getAttribute("type") || "").toLowerCase()) < 0 &&
    Boolean(element.name) &&
    !element.getAttribute("value");

  const slots = [];
  const claimed = new Set();
  declared.forEach((element, di) => {
    const client = clientOf.has(di) ? clientInfos[clientOf.get(di)] : null;
    const areas = client && client.textarea ? [client.textarea] : responseAreas(element);
    slots.push({ element: element, client: client, areas: areas, own: ownField(element) ? [element] : [] });
    areas.forEach((area) => claimed.add(area));
  });
  clientInfos.forEach((client, ci) => {
    if (matchedClients.has(ci) || (client.textarea && claimed.has(client.textarea))) {
      return;
    }
    slots.push({ element: null, client: client, areas: client.textarea ? [client.textarea] : [], own: [] });
    if (client.textarea) {
      claimed.add(client.textarea);
    }
  });

  const grecaptcha = window.grecaptcha;
  const executeReady =
    Boolean(grecaptcha) &&
    (typeof grecaptcha.execute === "function" ||
      Boolean(grecaptcha.enterprise && typeof grecaptcha.enterprise.execute === "function"));
  const seenRecaptchaKeys = new Set();
  const BADGE = ".grecaptcha-badge";

  for (const slot of slots) {
    const element = slot.element;
    const client = slot.client;
    const params = client ? client.params : {};
    const hooks = hookFor("recaptcha", element, client ? client.id : null);
    const options = (hooks.byContainer || hooks.byId || { params: {} }).params;
    const sitekey = (element ? declaredKey(element) : null) || (client ? client.sitekey : null);
    seenRecaptchaKeys.add(sitekey);
    // the widget's box holds its anchor iframe and its textarea
    const box = slot.areas.length ? slot.areas[0].parentElement : element;
    const anchor = box ? box.querySelector("iframe[src*='/recaptcha/']") : null;
    const anchorUrl = anchor ? parseUrl(anchor.src) : null;
    const badge = box ? box.closest(BADGE) || box.querySelector(BADGE) : null;
    const scriptUrl = renderKeys.get(sitekey) || recaptchaScripts[0] || null;
    const tag = element ? element.tagName.toLowerCase() : "";
    const callback = findCallback(element, hooks, params.callback);
    const attribute = (name) => (element ? text(element.getAttribute(name)) : null);
    add(
      {
        provider: "recaptcha",
        sitekey: sitekey,
        widgetId: client ? client.id : null,
        enterprise: anchorUrl
          ? anchorUrl.pathname.indexOf("/enterprise/") >= 0
          : Boolean(scriptUrl && scriptUrl.pathname.endsWith("/enterprise.js")),
        host: (anchorUrl || scriptUrl || { hostname: null }).hostname,
        cdata: null,
        pageData: null,
        rendered: slot.areas.length > 0,
        executeReady: executeReady,
        evidence: {
          tag: tag,
          inputType: tag === "input" ? element.getAttribute("type") || "text" : null,
          dataSize: attribute("data-size"),
          renderSize: text(options.size),
          clientSize: text(params.size),
          anchorSize: anchorUrl ? text(anchorUrl.searchParams.get("size")) : null,
          badge: Boolean(badge),
          dataAction: attribute("data-action"),
          renderAction: text(options.action),
          clientAction: text(params.action),
          anchorAction: anchorUrl ? text(anchorUrl.searchParams.get("sa")) : null,
          executeAction: sitekey ? text(executeActions[sitekey]) : null,
          isolated: client !== null && Number(client.id) >= 100000,
        },
      },
      element || slot.areas[0] || null,
      slot.areas.concat(slot.own),
      callback,
      "recaptcha:" + (client ? client.id : sitekey)
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
        enterprise: url.pathname.endsWith("/enterprise.js"),
        host: url.hostname,
        cdata: null,
        pageData: null,
        rendered: false,
        executeReady: executeReady,
        evidence: { tag: "", executeAction: text(executeActions[sitekey]) },
      },
      null,
      [],
      null,
      "recaptcha-v3:" + sitekey
    );
  }

  const recaptchaEvidence = { renderKeys: Array.from(renderKeys.keys()), executeKeys: Array.from(executeKeys) };

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
  // Some releases mark only the iframe: its container is the nearest
  // ancestor that also holds the widget's response field.
  for (const frame of document.querySelectorAll("iframe[data-hcaptcha-widget-id]")) {
    if (Array.from(hcaptchaContainers).some((container) => container.contains(frame))) {
      continue;
    }
    let holder = frame.parentElement;
    while (holder && !holder.querySelector("textarea[name='h-captcha-response']")) {
      holder = holder.parentElement;
    }
    if (holder && holder !== document.body && holder !== document.documentElement) {
      hcaptchaContainers.add(holder);
    }
  }
  for (const element of hcaptchaContainers) {
    const frame = element.querySelector("iframe[src*='hcaptcha']");
    const frameUrl = frame ? parseUrl(frame.src) : null;
    const fragment = frameUrl ? new URLSearchParams(frameUrl.hash.slice(1)) : null;
    const widgetId =
      text(element.getAttribute("data-hcaptcha-widget-id")) ||
      (frame ? text(frame.getAttribute("data-hcaptcha-widget-id")) : null) ||
      (fragment ? text(fragment.get("id")) : null);
    const hooks = hookFor("hcaptcha", element, widgetId);
    const params = (hooks.byContainer || hooks.byId || { params: {} }).params;
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
      findCallback(element, hooks, null)
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
    // with the iframe out of sight (a closed shadow root), the widget id is
    // still the response field's id less "_response"
    const fieldId = fields.length && /_response$/.test(fields[0].id) ? fields[0].id.slice(0, -9) : null;
    add(
      {
        provider: "turnstile",
        sitekey: text(element.getAttribute("data-sitekey")) || text(params.sitekey) || text(pathKey),
        widgetId: widgetId || fieldId,
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
      findCallback(element, hooks, null)
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
      findCallback(element, null, null)
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
    document: registry.document,
    recaptcha: recaptchaEvidence,
    widgets: widgets,
  };
}
