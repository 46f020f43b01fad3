/*
 * Test stand-in for hCaptcha's api.js with other internals than the demo
 * kit's: the widget id is set on the iframe only (never on the container),
 * the iframe and both response textareas sit in a wrapper div, and
 * getResponse answers from the widget's own state. Public side as hCaptcha's:
 * hcaptcha.{render, execute, getResponse, getRespKey, reset, remove},
 * .h-captcha auto-render, ?render=explicit&onload=NAME, callbacks by function
 * or global name, execute(id, {async: true}) resolving {response, key}. Its
 * tokens are worthless.
 */
(function () {
  "use strict";

  var me = document.currentScript;
  var src = new URL(me ? me.src : "https://js.hcaptcha.com/1/api.js", location.href);
  var mode = src.searchParams.get("render") || "onload";
  var onload = src.searchParams.get("onload");
  var widgets = {};
  var order = [];

  function newId() {
    return Math.random().toString(36).slice(2, 12);
  }

  function call(callback, value) {
    var target = typeof callback === "string" ? window[callback] : callback;
    if (typeof target === "function") {
      target(value);
    }
  }

  function area(name, id) {
    var node = document.createElement("textarea");
    node.name = name;
    node.id = name + "-" + id;
    node.style.display = "none";
    return node;
  }

  function render(container, parameters) {
    var host = typeof container === "string" ? document.getElementById(container) : container;
    if (!host || host.nodeType !== 1) {
      throw new Error("[hCaptcha] render: container not found");
    }
    var options = {};
    for (var name in parameters || {}) {
      options[name] = parameters[name];
    }
    if (!options.sitekey) {
      throw new Error("[hCaptcha] render: missing sitekey");
    }
    var id = newId();
    var fragment = new URLSearchParams({ frame: "checkbox", id: id, host: location.hostname, sitekey: options.sitekey });
    var frame = document.createElement("iframe");
    frame.src = "https://newassets.hcaptcha.com/captcha/v1/variant/static/hcaptcha.html#" + fragment;
    frame.setAttribute("data-hcaptcha-widget-id", id);
    frame.setAttribute("data-hcaptcha-response", "");
    frame.style.cssText = "width:303px;height:78px;border:0";
    var wrap = document.createElement("div");
    wrap.appendChild(frame);
    var fields = [area("g-recaptcha-response", id), area("h-captcha-response", id)];
    fields.forEach(function (field) {
      wrap.appendChild(field);
    });
    host.textContent = "";
    host.appendChild(wrap);
    widgets[id] = { id: id, options: options, frame: frame, fields: fields, response: "", pending: [] };
    order.push(id);
    return id;
  }

  function find(id) {
    return widgets[id === undefined || id === null ? order[0] : id] || null;
  }

  function finish(widget) {
    widget.response = "variant-unsolved-" + Math.random().toString(36).slice(2);
    widget.fields.forEach(function (field) {
      field.value = widget.response;
    });
    widget.frame.setAttribute("data-hcaptcha-response", widget.response);
    call(widget.options.callback, widget.response);
    widget.pending.splice(0).forEach(function (resolve) {
      resolve({ response: widget.response, key: "variant-key" });
    });
  }

  window.hcaptcha = {
    render: render,
    execute: function (id, options) {
      if (id && typeof id === "object") {
        options = id;
        id = undefined;
      }
      var widget = find(id);
      if (!widget) {
        throw new Error("[hCaptcha] execute: no widget");
      }
      var done = options && options.async ? new Promise(function (resolve) { widget.pending.push(resolve); }) : undefined;
      setTimeout(function () {
        finish(widget);
      }, 0);
      return done;
    },
    getResponse: function (id) {
      var widget = find(id);
      return widget ? widget.response : "";
    },
    getRespKey: function () {
      return "variant-key";
    },
    reset: function (id) {
      var widget = find(id);
      if (widget) {
        widget.response = "";
        widget.fields.forEach(function (field) {
          field.value = "";
        });
      }
    },
    remove: function (id) {
      var widget = find(id);
      if (widget) {
        widget.frame.parentNode.remove();
        delete widgets[widget.id];
      }
    },
  };

  window.addEventListener("message", function (event) {
    if (!event.data || event.data.vastcaptchaStandin !== "hcaptcha-checked") {
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
      var nodes = document.querySelectorAll(".h-captcha[data-sitekey]");
      for (var i = 0; i < nodes.length; i++) {
        render(nodes[i], {
          sitekey: nodes[i].getAttribute("data-sitekey"),
          callback: nodes[i].getAttribute("data-callback") || undefined,
          size: nodes[i].getAttribute("data-size") || undefined,
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
