/*
 * Stand-in for Google's reCAPTCHA api.js and enterprise.js (VastCap test kit).
 *
 * Exposes the same globals and DOM structures as the real library so that an
 * in-browser solver can find widgets and inject tokens, but it can never make
 * a valid token itself: completing a widget here yields "stand-in-unsolved".
 */
(function () {
  "use strict";

  var UNSOLVED = "stand-in-unsolved";
  var VERSION = "vastcaptcha-standin";
  var ISOLATED_BASE = 100000;

  function findOwnScript() {
    if (document.currentScript) {
      return document.currentScript;
    }
    var scripts = document.querySelectorAll("script[src*='/recaptcha/']");
    return scripts.length ? scripts[scripts.length - 1] : null;
  }

  var script = findOwnScript();
  var src = new URL(script ? script.src : "https://www.google.com/recaptcha/api.js", location.href);
  var enterprise = /\/enterprise\.js$/.test(src.pathname);
  var renderMode = src.searchParams.get("render") || "onload";
  var onloadName = src.searchParams.get("onload");
  var language = src.searchParams.get("hl") || "en";
  var anchorPath = enterprise ? "/recaptcha/enterprise/anchor" : "/recaptcha/api2/anchor";

  var cfg = (window.___grecaptcha_cfg = window.___grecaptcha_cfg || {});
  cfg.clients = cfg.clients || {};
  cfg.count = cfg.count || 0;
  cfg.isolated_count = cfg.isolated_count || 0;
  cfg.fns = cfg.fns || [];

  var widgets = {};
  var loaded = false;
  var readyQueue = [];

  function randomName() {
    // short, meaningless keys like the minified real client ("L", "Qx", ...)
    var letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    var name = "";
    var length = 1 + Math.floor(Math.random() * 2);
    for (var i = 0; i < length; i++) {
      name += letters.charAt(Math.floor(Math.random() * letters.length));
    }
    return name;
  }

  function distinctNames(count) {
    var names = [];
    while (names.length < count) {
      var name = randomName();
      if (names.indexOf(name) < 0 && name !== "id") {
        names.push(name);
      }
    }
    return names;
  }

  function randomToken(length) {
    var alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    var text = "";
    for (var i = 0; i < length; i++) {
      text += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
    }
    return text;
  }

  function invoke(callback, value) {
    var fn = typeof callback === "string" ? window[callback] : callback;
    if (typeof fn === "function") {
      fn(value);
    }
  }

  function register(id, params, container) {
    // nested like the real client: clients[id].<a>.<b> holds the parameters
    var names = distinctNames(4);
    var client = { id: id };
    var outer = {};
    outer[names[1]] = params;
    outer[names[2]] = container;
    client[names[0]] = outer;
    client[names[3]] = { element: container, state: 0 };
    cfg.clients[id] = client;
  }

  function anchorUrl(params, size) {
    var query = new URLSearchParams({
      ar: "1",
      k: params.sitekey,
      co: btoa(location.origin + ":" + (location.port || (location.protocol === "https:" ? 443 : 80))),
      hl: language,
      v: VERSION,
      size: size,
      cb: randomToken(12),
    });
    if (params.action) {
      query.set("sa", params.action);
    }
    return src.origin + anchorPath + "?" + query.toString();
  }

  function buildWidget(id, params, size) {
    var box = document.createElement("div");
    box.className = size === "invisible" ? "grecaptcha-badge" : "";
    if (size === "invisible") {
      box.setAttribute("data-style", params.badge || "bottomright");
    }
    box.style.width = size === "invisible" ? "256px" : "304px";
    box.style.height = size === "invisible" ? "60px" : "78px";
    var frame = document.createElement("iframe");
    frame.name = "a-" + randomToken(12);
    frame.title = "reCAPTCHA";
    frame.src = anchorUrl(params, size);
    frame.width = size === "invisible" ? "256" : "304";
    frame.height = size === "invisible" ? "60" : "78";
    frame.setAttribute("role", "presentation");
    frame.setAttribute("frameborder", "0");
    frame.setAttribute("scrolling", "no");
    frame.setAttribute(
      "sandbox",
      "allow-forms allow-popups allow-same-origin allow-scripts allow-top-navigation " +
        "allow-modals allow-popups-to-escape-sandbox allow-storage-access-by-user-activation"
    );
    var textarea = document.createElement("textarea");
    textarea.id = id === 0 ? "g-recaptcha-response" : "g-recaptcha-response-" + id;
    textarea.name = "g-recaptcha-response";
    textarea.className = "g-recaptcha-response";
    textarea.style.display = "none";
    var holder = document.createElement("div");
    holder.appendChild(frame);
    box.appendChild(holder);
    box.appendChild(textarea);
    return { box: box, frame: frame, textarea: textarea };
  }

  function render(container, parameters, isolated) {
    var element = typeof container === "string" ? document.getElementById(container) : container;
    if (!element || element.nodeType !== 1) {
      throw new Error("reCAPTCHA placeholder element must be an element or id");
    }
    var params = {};
    var key;
    for (key in parameters || {}) {
      params[key] = parameters[key];
    }
    if (!params.sitekey) {
      throw new Error("Missing required parameters: sitekey");
    }
    var boundButton = element.tagName === "BUTTON" || element.tagName === "INPUT";
    var size = params.size || (boundButton || isolated ? "invisible" : "normal");
    params.size = size;
    var id = isolated ? ISOLATED_BASE + cfg.isolated_count++ : cfg.count++;
    var parts = buildWidget(id, params, size);
    if (isolated) {
      document.body.appendChild(parts.box);
    } else if (boundButton) {
      // a bound button cannot hold children: the widget goes right after it, inside its form
      element.parentNode.insertBefore(parts.box, element.nextSibling);
      element.addEventListener("click", function (event) {
        event.preventDefault();
        execute(id);
      });
    } else {
      element.innerHTML = "";
      element.appendChild(parts.box);
    }
    var widget = {
      id: id,
      params: params,
      isolated: Boolean(isolated),
      frame: parts.frame,
      textarea: parts.textarea,
    };
    widgets[id] = widget;
    register(id, params, element);
    return id;
  }

  function complete(widget, token) {
    widget.textarea.value = token;
    if (!widget.isolated) {
      invoke(widget.params.callback, token);
    }
  }

  function widgetFor(target) {
    if (target === undefined || target === null) {
      return widgets[0] || widgets[ISOLATED_BASE] || null;
    }
    if (typeof target === "number" || /^[0-9]+$/.test(String(target))) {
      return widgets[Number(target)] || null;
    }
    for (var id in widgets) {
      if (widgets[id].params.sitekey === target) {
        return widgets[id];
      }
    }
    return null;
  }

  function execute(target, options) {
    var widget = widgetFor(target);
    if (!widget && typeof target === "string") {
      widget = widgets[render(document.body, { sitekey: target }, true)];
    }
    if (!widget) {
      return Promise.reject(new Error("Invalid site key or not loaded in api.js: " + target));
    }
    if (options && options.action) {
      widget.params.action = options.action;
    }
    return new Promise(function (resolve) {
      setTimeout(function () {
        if (widget.isolated || widget.params.size === "invisible") {
          complete(widget, UNSOLVED);
        }
        resolve(widget.textarea.value);
      }, 0);
    });
  }

  function getResponse(target) {
    var widget = widgetFor(target);
    return widget ? widget.textarea.value : "";
  }

  function reset(target) {
    var widget = widgetFor(target);
    if (widget) {
      widget.textarea.value = "";
      widget.frame.contentWindow.postMessage({ vastcaptchaStandin: "reset" }, "*");
    }
  }

  function ready(callback) {
    if (loaded) {
      setTimeout(callback, 0);
    } else {
      readyQueue.push(callback);
    }
  }

  var api = {
    ready: ready,
    render: function (container, parameters) {
      return render(container, parameters, false);
    },
    execute: execute,
    getResponse: getResponse,
    reset: reset,
    getPageId: function () {
      return VERSION;
    },
  };

  var root = window.grecaptcha && typeof window.grecaptcha === "object" ? window.grecaptcha : {};
  if (enterprise) {
    root.enterprise = api;
  } else {
    for (var name in api) {
      root[name] = api[name];
    }
  }
  window.grecaptcha = root;

  // the anchor iframe reports a click on its checkbox; only the owner widget completes
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.vastcaptchaStandin !== "recaptcha-checked") {
      return;
    }
    for (var id in widgets) {
      if (widgets[id].frame.contentWindow === event.source) {
        complete(widgets[id], UNSOLVED);
      }
    }
  });

  function autoRender() {
    var elements = document.querySelectorAll(".g-recaptcha[data-sitekey]");
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      if (element.getAttribute("data-vastcaptcha-rendered")) {
        continue;
      }
      element.setAttribute("data-vastcaptcha-rendered", "1");
      var params = { sitekey: element.getAttribute("data-sitekey") };
      var attributes = ["theme", "size", "tabindex", "callback", "expired-callback", "error-callback", "action", "badge"];
      for (var j = 0; j < attributes.length; j++) {
        var value = element.getAttribute("data-" + attributes[j]);
        if (value !== null) {
          params[attributes[j]] = value;
        }
      }
      render(element, params, false);
    }
  }

  function start() {
    if (renderMode === "onload") {
      autoRender();
    } else if (renderMode !== "explicit") {
      // render=SITEKEY: the v3 client, with its badge
      render(document.body, { sitekey: renderMode }, true);
    }
    loaded = true;
    var queued = cfg.fns.splice(0).concat(readyQueue.splice(0));
    for (var i = 0; i < queued.length; i++) {
      setTimeout(queued[i], 0);
    }
    if (onloadName) {
      invoke(onloadName);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
