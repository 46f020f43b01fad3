/*
 * Stand-in for Cloudflare Turnstile's api.js (VastCap test kit).
 *
 * Same global, hidden input and iframe as the real widget, which sits in a
 * shadow root here too. It never passes a challenge on its own: clicking its
 * checkbox only yields the worthless token "stand-in-unsolved".
 */
(function () {
  "use strict";

  var UNSOLVED = "stand-in-unsolved";
  var FRAME_BASE = "https://challenges.cloudflare.com/cdn-cgi/challenge-platform/h/b/turnstile/if/ov2/av0/rcv0/0/";

  function findOwnScript() {
    if (document.currentScript) {
      return document.currentScript;
    }
    var scripts = document.querySelectorAll("script[src*='challenges.cloudflare.com/turnstile']");
    return scripts.length ? scripts[scripts.length - 1] : null;
  }

  var script = findOwnScript();
  var src = new URL(
    script ? script.src : "https://challenges.cloudflare.com/turnstile/v0/api.js",
    location.href
  );
  var renderMode = src.searchParams.get("render") || "auto";
  var onloadName = src.searchParams.get("onload");

  var widgets = {};
  var order = [];

  function randomId() {
    var alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    var text = "";
    for (var i = 0; i < 5; i++) {
      text += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
    }
    return "cf-chl-widget-" + text;
  }

  function invoke(callback, value) {
    var fn = typeof callback === "string" ? window[callback] : callback;
    if (typeof fn === "function") {
      fn(value);
    }
  }

  function resolveContainer(container) {
    var element = typeof container === "string" ? document.querySelector(container) : container;
    if (!element || element.nodeType !== 1) {
      throw new Error("[Cloudflare Turnstile] Unable to find a container for " + container);
    }
    return element;
  }

  function render(container, parameters) {
    var element = resolveContainer(container);
    var params = {};
    for (var key in parameters || {}) {
      params[key] = parameters[key];
    }
    if (!params.sitekey) {
      throw new Error("[Cloudflare Turnstile] Invalid or missing type for parameter \"sitekey\"");
    }
    var id = randomId();
    var theme = params.theme || "auto";
    var host = document.createElement("div");
    var shadow = host.attachShadow({ mode: "open" });
    var frame = document.createElement("iframe");
    frame.id = id;
    frame.src = FRAME_BASE + id + "/" + encodeURIComponent(params.sitekey) + "/" + theme + "/fbE/new/normal/auto/";
    frame.title = "Widget containing a Cloudflare security challenge";
    frame.setAttribute("allow", "cross-origin-isolated; fullscreen; autoplay");
    frame.setAttribute("sandbox", "allow-same-origin allow-scripts allow-popups");
    frame.setAttribute("tabindex", "0");
    frame.style.width = "300px";
    frame.style.height = "65px";
    frame.style.border = "none";
    shadow.appendChild(frame);
    element.innerHTML = "";
    element.appendChild(host);
    var input = null;
    if (params["response-field"] !== false && params["response-field"] !== "false") {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = params["response-field-name"] || "cf-turnstile-response";
      input.id = id + "_response";
      element.appendChild(input);
    }
    widgets[id] = { id: id, params: params, element: element, frame: frame, input: input, response: "" };
    order.push(id);
    return id;
  }

  function widgetFor(target) {
    if (target === undefined || target === null) {
      return widgets[order[0]] || null;
    }
    if (widgets[target]) {
      return widgets[target];
    }
    var element = target;
    if (typeof target === "string") {
      try {
        element = document.querySelector(target);
      } catch (error) {
        return null;
      }
    }
    for (var id in widgets) {
      if (widgets[id].element === element) {
        return widgets[id];
      }
    }
    return null;
  }

  function complete(widget, token) {
    widget.response = token;
    if (widget.input) {
      widget.input.value = token;
    }
    invoke(widget.params.callback, token);
  }

  function getResponse(target) {
    var widget = widgetFor(target);
    if (!widget) {
      return undefined;
    }
    return widget.input ? widget.input.value : widget.response;
  }

  function reset(target) {
    var widget = widgetFor(target);
    if (widget) {
      widget.response = "";
      if (widget.input) {
        widget.input.value = "";
      }
      widget.frame.contentWindow.postMessage({ vastcaptchaStandin: "reset" }, "*");
    }
  }

  function remove(target) {
    var widget = widgetFor(target);
    if (widget) {
      widget.element.innerHTML = "";
      delete widgets[widget.id];
      order.splice(order.indexOf(widget.id), 1);
    }
  }

  window.turnstile = {
    render: render,
    execute: function (target, parameters) {
      // the real execute starts a challenge; a stand-in has none to pass
      return widgetFor(target) ? undefined : render(target, parameters);
    },
    getResponse: getResponse,
    reset: reset,
    remove: remove,
    isExpired: function () {
      return false;
    },
    ready: function (callback) {
      setTimeout(callback, 0);
    },
  };

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.vastcaptchaStandin !== "turnstile-checked") {
      return;
    }
    for (var id in widgets) {
      if (widgets[id].frame.contentWindow === event.source) {
        complete(widgets[id], UNSOLVED);
      }
    }
  });

  var DATA_OPTIONS = {
    action: "action",
    cdata: "cData",
    callback: "callback",
    "expired-callback": "expired-callback",
    "error-callback": "error-callback",
    theme: "theme",
    size: "size",
    appearance: "appearance",
    execution: "execution",
    "response-field": "response-field",
    "response-field-name": "response-field-name",
  };

  function autoRender() {
    var elements = document.querySelectorAll(".cf-turnstile[data-sitekey]");
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      if (widgetFor(element)) {
        continue;
      }
      var params = { sitekey: element.getAttribute("data-sitekey") };
      for (var attribute in DATA_OPTIONS) {
        var value = element.getAttribute("data-" + attribute);
        if (value !== null) {
          params[DATA_OPTIONS[attribute]] = value;
        }
      }
      render(element, params);
    }
  }

  function start() {
    if (renderMode !== "explicit") {
      autoRender();
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
