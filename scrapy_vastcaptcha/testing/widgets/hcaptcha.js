/*
 * Stand-in for hCaptcha's api.js (VastCap test kit).
 *
 * Same globals, fields and iframe as the real library, so an in-browser solver
 * finds the widget and can inject a token; completing a widget here only ever
 * yields the worthless token "stand-in-unsolved".
 */
(function () {
  "use strict";

  var UNSOLVED = "stand-in-unsolved";
  var ASSETS = "https://newassets.hcaptcha.com/captcha/v1/vastcaptcha-standin/static/hcaptcha.html";

  function findOwnScript() {
    if (document.currentScript) {
      return document.currentScript;
    }
    var scripts = document.querySelectorAll("script[src*='hcaptcha.com']");
    return scripts.length ? scripts[scripts.length - 1] : null;
  }

  var script = findOwnScript();
  var src = new URL(script ? script.src : "https://js.hcaptcha.com/1/api.js", location.href);
  var renderMode = src.searchParams.get("render") || "onload";
  var onloadName = src.searchParams.get("onload");
  var recaptchaCompat = src.searchParams.get("recaptchacompat") !== "off";
  var language = src.searchParams.get("hl") || "en";

  var widgets = {};
  var order = [];

  function randomId() {
    return "0" + Math.random().toString(36).slice(2, 12);
  }

  function invoke(callback, value) {
    var fn = typeof callback === "string" ? window[callback] : callback;
    if (typeof fn === "function") {
      fn(value);
    }
  }

  function hiddenTextarea(name, id) {
    var textarea = document.createElement("textarea");
    textarea.id = name + "-" + id;
    textarea.name = name;
    textarea.style.display = "none";
    return textarea;
  }

  function frameUrl(id, params) {
    var fragment = new URLSearchParams({
      frame: "checkbox",
      id: id,
      host: location.hostname,
      sentry: "true",
      reportapi: "https://accounts.hcaptcha.com",
      recaptchacompat: recaptchaCompat ? "true" : "false",
      custom: "false",
      hl: language,
      tplinks: "on",
      sitekey: params.sitekey,
      theme: params.theme || "light",
      origin: location.origin,
    });
    return ASSETS + "#" + fragment.toString();
  }

  function render(container, parameters) {
    var element = typeof container === "string" ? document.getElementById(container) : container;
    if (!element || element.nodeType !== 1) {
      throw new Error("[hCaptcha] render: invalid container");
    }
    var params = {};
    for (var key in parameters || {}) {
      params[key] = parameters[key];
    }
    if (!params.sitekey) {
      throw new Error("[hCaptcha] render: missing sitekey");
    }
    var id = randomId();
    var frame = document.createElement("iframe");
    frame.src = frameUrl(id, params);
    frame.title = "Widget containing checkbox for hCaptcha security challenge";
    frame.setAttribute("tabindex", "0");
    frame.setAttribute("frameborder", "0");
    frame.setAttribute("scrolling", "no");
    frame.setAttribute("data-hcaptcha-widget-id", id);
    frame.setAttribute("data-hcaptcha-response", "");
    frame.style.width = "303px";
    frame.style.height = "78px";
    var fields = [hiddenTextarea("h-captcha-response", id)];
    if (recaptchaCompat) {
      fields.unshift(hiddenTextarea("g-recaptcha-response", id));
    }
    element.innerHTML = "";
    element.setAttribute("data-hcaptcha-widget-id", id);
    element.appendChild(frame);
    for (var i = 0; i < fields.length; i++) {
      element.appendChild(fields[i]);
    }
    widgets[id] = { id: id, params: params, frame: frame, fields: fields };
    order.push(id);
    return id;
  }

  function widgetFor(id) {
    return widgets[id === undefined || id === null ? order[0] : id] || null;
  }

  function complete(widget, token) {
    for (var i = 0; i < widget.fields.length; i++) {
      widget.fields[i].value = token;
    }
    widget.frame.setAttribute("data-hcaptcha-response", token);
    invoke(widget.params.callback, token);
  }

  function execute(id, options) {
    if (id && typeof id === "object") {
      options = id;
      id = undefined;
    }
    var widget = widgetFor(id);
    if (!widget) {
      throw new Error("[hCaptcha] execute: no widget " + id);
    }
    var finished = new Promise(function (resolve) {
      setTimeout(function () {
        complete(widget, UNSOLVED);
        resolve({ response: UNSOLVED, key: "E0_standin" });
      }, 0);
    });
    return options && options.async ? finished : undefined;
  }

  function getResponse(id) {
    var widget = widgetFor(id);
    return widget ? widget.fields[widget.fields.length - 1].value : "";
  }

  function reset(id) {
    var widget = widgetFor(id);
    if (widget) {
      for (var i = 0; i < widget.fields.length; i++) {
        widget.fields[i].value = "";
      }
      widget.frame.setAttribute("data-hcaptcha-response", "");
      widget.frame.contentWindow.postMessage({ vastcaptchaStandin: "reset" }, "*");
    }
  }

  function remove(id) {
    var widget = widgetFor(id);
    if (widget) {
      widget.frame.remove();
      for (var i = 0; i < widget.fields.length; i++) {
        widget.fields[i].remove();
      }
      delete widgets[widget.id];
      order.splice(order.indexOf(widget.id), 1);
    }
  }

  window.hcaptcha = {
    render: render,
    execute: execute,
    getResponse: getResponse,
    getRespKey: function () {
      return "";
    },
    reset: reset,
    remove: remove,
    setData: function () {},
  };

  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || data.vastcaptchaStandin !== "hcaptcha-checked") {
      return;
    }
    for (var id in widgets) {
      if (widgets[id].frame.contentWindow === event.source) {
        complete(widgets[id], UNSOLVED);
      }
    }
  });

  function autoRender() {
    var elements = document.querySelectorAll(".h-captcha[data-sitekey]");
    var attributes = ["theme", "size", "tabindex", "callback", "expired-callback", "chalexpired-callback", "error-callback", "open-callback", "close-callback"];
    for (var i = 0; i < elements.length; i++) {
      var element = elements[i];
      if (element.getAttribute("data-hcaptcha-widget-id")) {
        continue;
      }
      var params = { sitekey: element.getAttribute("data-sitekey") };
      for (var j = 0; j < attributes.length; j++) {
        var value = element.getAttribute("data-" + attributes[j]);
        if (value !== null) {
          params[attributes[j]] = value;
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
