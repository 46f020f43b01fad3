/*
 * Test stand-in for Cloudflare Turnstile's api.js with other internals than
 * the demo kit's: the iframe sits in a *closed* shadow root (no script of the
 * page can see it), the response input is wrapped in a div of its own, widget
 * ids look like "cf-chl-widget-xxxxx", and getResponse answers from the
 * widget's own state. Public side as Turnstile's: turnstile.{render, ready,
 * execute, getResponse, reset, remove, isExpired}, .cf-turnstile auto-render,
 * ?render=explicit&onload=NAME, data-* options, response-field-name,
 * callbacks by function or global name. Its tokens are worthless.
 */
(function () {
  "use strict";

  var me = document.currentScript;
  var src = new URL(me ? me.src : "https://challenges.cloudflare.com/turnstile/v0/api.js", location.href);
  var mode = src.searchParams.get("render") || "auto";
  var onload = src.searchParams.get("onload");
  var widgets = {};
  var order = [];

  function call(callback, value) {
    var target = typeof callback === "string" ? window[callback] : callback;
    if (typeof target === "function") {
      target(value);
    }
  }

  function render(container, parameters) {
    var host = typeof container === "string" ? document.querySelector(container) : container;
    if (!host || host.nodeType !== 1) {
      throw new Error("[Cloudflare Turnstile] Unable to find a container");
    }
    var options = {};
    for (var name in parameters || {}) {
      options[name] = parameters[name];
    }
    if (!options.sitekey) {
      throw new Error("[Cloudflare Turnstile] Invalid or missing sitekey");
    }
    var id = "cf-chl-widget-" + Math.random().toString(36).slice(2, 7);
    var shadowHost = document.createElement("div");
    var shadow = shadowHost.attachShadow({ mode: "closed" });
    var frame = document.createElement("iframe");
    frame.id = id;
    frame.src =
      "https://challenges.cloudflare.com/cdn-cgi/challenge-platform/h/g/turnstile/if/ov2/av0/rcv/" +
      id.slice(-5) + "/" + encodeURIComponent(options.sitekey) + "/auto/fbE/new/normal/auto/";
    frame.style.cssText = "width:300px;height:65px;border:none";
    shadow.appendChild(frame);
    host.textContent = "";
    host.appendChild(shadowHost);
    var input = null;
    if (options["response-field"] !== false) {
      var wrap = document.createElement("div");
      input = document.createElement("input");
      input.type = "hidden";
      input.name = options["response-field-name"] || "cf-turnstile-response";
      input.id = id + "_response";
      wrap.appendChild(input);
      host.appendChild(wrap);
    }
    widgets[id] = { id: id, host: host, options: options, frame: frame, input: input, response: "" };
    order.push(id);
    return id;
  }

  function find(target) {
    if (target === undefined || target === null) {
      return widgets[order[0]] || null;
    }
    if (widgets[target]) {
      return widgets[target];
    }
    var node = typeof target === "string" ? document.querySelector(target) : target;
    for (var id in widgets) {
      if (widgets[id].host === node) {
        return widgets[id];
      }
    }
    return null;
  }

  function finish(widget) {
    widget.response = "variant-unsolved-" + Math.random().toString(36).slice(2);
    if (widget.input) {
      widget.input.value = widget.response;
    }
    call(widget.options.callback, widget.response);
  }

  window.turnstile = {
    render: render,
    ready: function (callback) {
      setTimeout(callback, 0);
    },
    execute: function (target) {
      var widget = find(target);
      if (widget) {
        setTimeout(function () {
          finish(widget);
        }, 0);
      }
    },
    getResponse: function (target) {
      var widget = find(target);
      return widget ? widget.response : undefined;
    },
    isExpired: function () {
      return false;
    },
    reset: function (target) {
      var widget = find(target);
      if (widget) {
        widget.response = "";
        if (widget.input) {
          widget.input.value = "";
        }
      }
    },
    remove: function (target) {
      var widget = find(target);
      if (widget) {
        widget.host.textContent = "";
        delete widgets[widget.id];
      }
    },
  };

  window.addEventListener("message", function (event) {
    if (!event.data || event.data.vastcaptchaStandin !== "turnstile-checked") {
      return;
    }
    for (var id in widgets) {
      if (widgets[id].frame.contentWindow === event.source) {
        finish(widgets[id]);
      }
    }
  });

  function start() {
    if (mode !== "explicit") {
      var nodes = document.querySelectorAll(".cf-turnstile[data-sitekey]");
      for (var i = 0; i < nodes.length; i++) {
        var node = nodes[i];
        render(node, {
          sitekey: node.getAttribute("data-sitekey"),
          action: node.getAttribute("data-action") || undefined,
          cData: node.getAttribute("data-cdata") || undefined,
          callback: node.getAttribute("data-callback") || undefined,
          "response-field-name": node.getAttribute("data-response-field-name") || undefined,
        });
      }
    }
    if (onload) {
      call(onload);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
