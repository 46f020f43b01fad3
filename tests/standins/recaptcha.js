/*
 * Test stand-in for reCAPTCHA's api.js / enterprise.js whose client records in
 * ___grecaptcha_cfg.clients are shaped unlike the demo kit's stand-in: each
 * shape mirrors a way a minified release may hold its widget. The shape comes
 * from the script URL's "standin-shape" parameter (default "inner"):
 *
 *   container  the container element two levels down (the demo kit's shape)
 *   inner      only the div holding the anchor iframe, params three levels down
 *   deep       the container seven levels down
 *   array      [iframe, box] in an array, params four levels down
 *   challenge  the challenge holder appended to <body> first, then the container
 *
 * The public side follows Google's: grecaptcha.{ready, render, execute,
 * getResponse, reset}, auto-render of .g-recaptcha, ?render=KEY (v3 client with
 * a badge in <body>), ?render=explicit&onload=NAME, bound buttons (badge in
 * <body>, click runs the challenge), response textareas named after the client
 * id, callbacks by function or global name. getResponse answers from the
 * widget's own state, not from its textarea. It never makes a valid token:
 * whatever completes a widget here gets a worthless one.
 */
(function () {
  "use strict";

  var WORTHLESS = "variant-unsolved-";
  var ISOLATED = 100000;

  var me = document.currentScript;
  var src = new URL(me ? me.src : "https://www.google.com/recaptcha/api.js", location.href);
  var enterprise = src.pathname.slice(-14) === "/enterprise.js";
  var mode = src.searchParams.get("render") || "onload";
  var onload = src.searchParams.get("onload");
  var shape = src.searchParams.get("standin-shape") || "inner";

  var cfg = (window.___grecaptcha_cfg = window.___grecaptcha_cfg || {});
  cfg.clients = cfg.clients || {};
  cfg.count = cfg.count || 0;
  cfg.isolated_count = cfg.isolated_count || 0;
  cfg.fns = cfg.fns || [];

  var byId = {};
  var started = false;
  var waiting = [];
  var serial = 0;

  function scrambled() {
    // minified-looking property names, different on every load
    serial += 1;
    var letters = "QWERTYUIOPASDFGHJKLZXCVBNMqwertyuiopasdfghjklzxcvbnm";
    return letters.charAt(Math.floor(Math.random() * letters.length)) + serial.toString(36);
  }

  function nest(depth, value) {
    var holder = value;
    for (var i = 0; i < depth; i++) {
      var level = {};
      level[scrambled()] = holder;
      holder = level;
    }
    return holder;
  }

  function worthless() {
    return WORTHLESS + Math.random().toString(36).slice(2);
  }

  function call(callback, value) {
    var target = callback;
    if (typeof callback === "string") {
      target = window;
      var parts = callback.split(".");
      for (var i = 0; i < parts.length && target; i++) {
        target = target[parts[i]];
      }
    }
    if (typeof target === "function") {
      target(value);
    }
  }

  // the client record, per shape; parts: container, box, holder, frame, challenge
  function clientRecord(id, options, parts) {
    var client = { id: id };
    if (shape === "container") {
      var outer = {};
      outer[scrambled()] = options;
      outer[scrambled()] = parts.container;
      client[scrambled()] = outer;
    } else if (shape === "deep") {
      client[scrambled()] = nest(1, options);
      client[scrambled()] = nest(6, parts.container);
    } else if (shape === "array") {
      client[scrambled()] = [parts.frame, parts.box];
      client[scrambled()] = nest(3, options);
    } else if (shape === "challenge") {
      client[scrambled()] = nest(1, parts.challenge);
      var both = {};
      both[scrambled()] = options;
      both[scrambled()] = parts.container;
      client[scrambled()] = both;
    } else {
      client[scrambled()] = nest(2, options);
      client[scrambled()] = parts.holder;
    }
    client[scrambled()] = { state: 0, language: "en" };
    return client;
  }

  function anchorSource(options) {
    var query = new URLSearchParams({
      ar: "1",
      k: options.sitekey,
      co: btoa(location.origin + ":443"),
      hl: "en",
      v: "variant",
      size: options.size,
      cb: Math.random().toString(36).slice(2),
    });
    if (options.action) {
      query.set("sa", options.action);
    }
    return src.origin + (enterprise ? "/recaptcha/enterprise/anchor?" : "/recaptcha/api2/anchor?") + query;
  }

  function element(tag, attributes) {
    var node = document.createElement(tag);
    for (var name in attributes) {
      node.setAttribute(name, attributes[name]);
    }
    return node;
  }

  function build(id, options) {
    var invisible = options.size === "invisible";
    var box = element("div", invisible ? { class: "grecaptcha-badge", "data-style": options.badge || "bottomright" } : {});
    box.style.cssText = invisible ? "width:256px;height:60px" : "width:304px;height:78px";
    var holder = element("div", invisible ? { class: "grecaptcha-logo" } : {});
    var frame = element("iframe", {
      title: "reCAPTCHA",
      width: invisible ? "256" : "304",
      height: invisible ? "60" : "78",
      role: "presentation",
      frameborder: "0",
      scrolling: "no",
      src: anchorSource(options),
    });
    frame.name = "a-" + Math.random().toString(36).slice(2);
    holder.appendChild(frame);
    box.appendChild(holder);
    if (invisible) {
      box.appendChild(element("div", { class: "grecaptcha-error" }));
    }
    var area = element("textarea", {
      id: id === 0 ? "g-recaptcha-response" : "g-recaptcha-response-" + id,
      name: "g-recaptcha-response",
      class: "g-recaptcha-response",
    });
    area.style.display = "none";
    box.appendChild(area);
    // the challenge popup lives at the end of <body>, away from the widget
    var challenge = element("div", {});
    challenge.style.cssText = "visibility:hidden;position:absolute;top:-10000px";
    document.body.appendChild(challenge);
    return { box: box, holder: holder, frame: frame, area: area, challenge: challenge };
  }

  function render(container, parameters, isolated) {
    var host = typeof container === "string" ? document.getElementById(container) : container;
    if (!host || host.nodeType !== 1) {
      throw new Error("reCAPTCHA placeholder element must be an element or id");
    }
    var options = {};
    for (var name in parameters || {}) {
      options[name] = parameters[name];
    }
    if (!options.sitekey) {
      throw new Error("Missing required parameters: sitekey");
    }
    var bound = !isolated && (host.tagName === "BUTTON" || host.tagName === "INPUT");
    if (isolated || bound) {
      options.size = "invisible";
    }
    var id = isolated ? ISOLATED + cfg.isolated_count++ : cfg.count++;
    var parts = build(id, options);
    if (isolated || bound) {
      var outside = element("div", {});
      outside.appendChild(parts.box);
      document.body.appendChild(outside);
      parts.container = isolated ? outside : host;
    } else {
      host.textContent = "";
      host.appendChild(parts.box);
      parts.container = host;
    }
    if (bound) {
      host.addEventListener("click", function (event) {
        event.preventDefault();
        execute(id);
      });
    }
    byId[id] = { id: id, options: options, parts: parts, response: "", isolated: isolated };
    cfg.clients[id] = clientRecord(id, options, parts);
    return id;
  }

  function finish(widget) {
    widget.response = worthless();
    widget.parts.area.value = widget.response;
    if (!widget.isolated) {
      call(widget.options.callback, widget.response);
    }
    return widget.response;
  }

  function find(target) {
    if (target === undefined || target === null) {
      return byId[0] || byId[ISOLATED] || null;
    }
    if (byId[target]) {
      return byId[target];
    }
    for (var id in byId) {
      if (byId[id].options.sitekey === target) {
        return byId[id];
      }
    }
    return null;
  }

  function execute(target, options) {
    var widget = find(target);
    if (!widget) {
      return Promise.reject(new Error("Invalid site key or not loaded in api.js: " + target));
    }
    if (options && options.action) {
      widget.options.action = options.action;
    }
    return new Promise(function (resolve) {
      setTimeout(function () {
        resolve(widget.options.size === "invisible" ? finish(widget) : widget.response);
      }, 0);
    });
  }

  function ready(callback) {
    if (started) {
      setTimeout(callback, 0);
    } else {
      waiting.push(callback);
    }
  }

  var api = {
    ready: ready,
    render: function (container, parameters) {
      return render(container, parameters, false);
    },
    execute: execute,
    getResponse: function (target) {
      var widget = find(target);
      return widget ? widget.response : "";
    },
    reset: function (target) {
      var widget = find(target);
      if (widget) {
        widget.response = "";
        widget.parts.area.value = "";
      }
    },
  };
  var root = window.grecaptcha || {};
  if (enterprise) {
    root.enterprise = api;
  } else {
    for (var method in api) {
      root[method] = api[method];
    }
  }
  window.grecaptcha = root;

  window.addEventListener("message", function (event) {
    if (!event.data || event.data.vastcaptchaStandin !== "recaptcha-checked") {
      return;
    }
    for (var id in byId) {
      if (byId[id].parts.frame.contentWindow === event.source) {
        finish(byId[id]);
      }
    }
  });

  function renderDeclared() {
    var nodes = document.querySelectorAll(".g-recaptcha");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      if (node.getAttribute("data-sitekey") === null || node.hasAttribute("data-variant-done")) {
        continue;
      }
      node.setAttribute("data-variant-done", "");
      var options = { sitekey: node.getAttribute("data-sitekey") };
      ["size", "callback", "action", "badge", "theme", "tabindex"].forEach(function (name) {
        var value = node.getAttribute("data-" + name);
        if (value !== null) {
          options[name] = value;
        }
      });
      render(node, options, false);
    }
  }

  function start() {
    if (mode === "onload") {
      renderDeclared();
    } else if (mode !== "explicit") {
      render(document.body, { sitekey: mode.trim(), badge: "bottomright" }, true);
    }
    started = true;
    waiting.splice(0).concat(cfg.fns.splice(0)).forEach(function (callback) {
      setTimeout(callback, 0);
    });
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
