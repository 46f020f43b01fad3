/*
 * Init script (installed with add_init_script before page scripts run).
 *
 * Wraps grecaptcha.render, grecaptcha.enterprise.render, hcaptcha.render and
 * turnstile.render the moment those globals (or their methods) are assigned,
 * and records each call's container and options (action, cData, chlPageData,
 * callback, ...) in a registry that detect.js reads. Some options, such as a
 * Turnstile challenge page's cData or a callback passed as a function, exist
 * nowhere else. grecaptcha[.enterprise].execute(KEY, {action}) calls are
 * recorded too: a key a page executes is a v3 key. The registry sits under a
 * Symbol, so it is not enumerable and cannot clash with page globals.
 *
 * In auto mode (auto_solve) the helper exposes a binding; this script calls
 * it whenever a widget may have appeared or rendered (a render() call, a
 * captcha API assigned, a widget's container, iframe or field added, a load),
 * at most once per task, so that the helper looks at the page on events
 * instead of polling it.
 */
(() => {
  "use strict";
  const KEY = Symbol.for("vastcaptcha");
  const WRAPPED = Symbol.for("vastcaptcha.wrapped");
  let registry = window[KEY];
  if (!registry) {
    registry = { hooks: [], widgets: Object.create(null), refs: new WeakMap(), nextRef: 1, epoch: 0 };
    Object.defineProperty(window, KEY, { value: registry });
  }
  if (registry.hooked) {
    return;
  }
  registry.hooked = true;

  function resolveContainer(provider, container) {
    if (typeof container !== "string") {
      return container && container.nodeType === 1 ? container : null;
    }
    // Turnstile takes a CSS selector; reCAPTCHA and hCaptcha take an element id.
    return provider === "turnstile" ? document.querySelector(container) : document.getElementById(container);
  }

  function record(provider, container, params, widgetId) {
    const options = {};
    if (params && typeof params === "object") {
      for (const name of Object.keys(params)) {
        options[name] = params[name];
      }
    }
    registry.hooks.push({
      provider: provider,
      container: resolveContainer(provider, container),
      params: options,
      widgetId: widgetId === undefined || widgetId === null ? null : String(widgetId),
    });
  }

  function recordExecute(target, options) {
    // a widget id (number or digits) names a v2 widget, not a key
    if (typeof target !== "string" || /^[0-9]*$/.test(target)) {
      return;
    }
    registry.executes = registry.executes || [];
    registry.executes.push({
      sitekey: target,
      action: options && typeof options.action === "string" ? options.action : null,
    });
  }

  // inject.js marks its own overrides: stored as is, so that it can see
  // that its assignment took
  const INJECTED = Symbol.for("vastcaptcha.override");

  const BINDING = "__vastcaptchaAuto__";
  let notifying = false;
  function notify() {
    // not before the markup is parsed: a scan then could miss what later
    // parts of the page declare (a v3 action in an inline script, say)
    if (notifying || document.readyState === "loading") {
      return;
    }
    notifying = true;
    setTimeout(() => {
      notifying = false;
      const binding = window[BINDING];
      if (typeof binding === "function") {
        try {
          Promise.resolve(binding()).catch(() => {});
        } catch (error) {
          // the helper stopped or the frame is going away
        }
      }
    }, 0);
  }

  const wrappers = {
    render(provider, render) {
      const wrapped = function (container, params) {
        const widgetId = render.apply(this, arguments);
        try {
          record(provider, container, params, widgetId);
        } catch (error) {
          // recording must never break the page's own render call
        }
        notify();
        return widgetId;
      };
      return wrapped;
    },
    execute(provider, execute) {
      if (execute[INJECTED]) {
        return execute;
      }
      return function (target, options) {
        try {
          recordExecute(target, options);
        } catch (error) {
          // recording must never break the page's own execute call
        }
        return execute.apply(this, arguments);
      };
    },
  };

  function wrap(method, provider, fn) {
    if (typeof fn !== "function" || fn[WRAPPED]) {
      return fn;
    }
    const wrapped = wrappers[method](provider, fn);
    if (wrapped !== fn) {
      wrapped[WRAPPED] = true;
    }
    return wrapped;
  }

  // Libraries often create the global first and add methods later, so the
  // method is watched rather than wrapped once.
  function watchMethod(api, method, provider) {
    let current = wrap(method, provider, api[method]);
    notify();
    try {
      Object.defineProperty(api, method, {
        configurable: true,
        enumerable: true,
        get() {
          return current;
        },
        set(next) {
          current = wrap(method, provider, next);
          notify();
        },
      });
    } catch (error) {
      // frozen API object: nothing to hook
    }
  }

  // Calls onSet with the current and every future value of target[name].
  function watchProperty(target, name, onSet) {
    let value = target[name];
    if (value !== undefined) {
      onSet(value);
    }
    try {
      Object.defineProperty(target, name, {
        configurable: true,
        enumerable: true,
        get() {
          return value;
        },
        set(next) {
          value = next;
          onSet(next);
        },
      });
    } catch (error) {
      // a non-configurable property: only the current value is hooked
    }
  }

  function hookApi(provider, api) {
    if (!api || (typeof api !== "object" && typeof api !== "function") || api[WRAPPED]) {
      return;
    }
    try {
      api[WRAPPED] = true;
    } catch (error) {
      return;
    }
    watchMethod(api, "render", provider);
    if (provider === "recaptcha") {
      watchMethod(api, "execute", provider);
      watchProperty(api, "enterprise", (enterprise) => hookApi("recaptcha", enterprise));
    }
  }

  watchProperty(window, "grecaptcha", (api) => hookApi("recaptcha", api));
  watchProperty(window, "hcaptcha", (api) => hookApi("hcaptcha", api));
  watchProperty(window, "turnstile", (api) => hookApi("turnstile", api));

  // A frame that navigates gets a fresh document that nobody watches yet: tell
  // the top frame, so that a helper waiting for a captcha looks again.
  document.addEventListener("DOMContentLoaded", () => {
    notify();
    try {
      window.top.postMessage({ vastcaptcha: "changed" }, "*");
    } catch (error) {
      // detached frame
    }
  });
  window.addEventListener("load", notify);
  // images and frames (a widget's own) that finish loading; load does not bubble
  document.addEventListener(
    "load",
    (event) => {
      const tag = event.target && event.target.tagName;
      if (tag === "IMG" || tag === "IFRAME") {
        notify();
      }
    },
    true
  );

  // Elements that are, or hold, a widget's container, frame or token field.
  const RELEVANT =
    ".g-recaptcha, .h-captcha, .cf-turnstile, [data-sitekey], [data-pkey], " +
    "[data-hcaptcha-widget-id], iframe, textarea, input, img";
  function relevant(node) {
    if (!node || node.nodeType !== 1) {
      return false;
    }
    try {
      return node.matches(RELEVANT) || node.querySelector(RELEVANT) !== null;
    } catch (error) {
      return false;
    }
  }
  new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.type === "attributes" ? relevant(mutation.target) : Array.from(mutation.addedNodes).some(relevant)) {
        notify();
        return;
      }
    }
  }).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["data-sitekey", "data-pkey", "data-hcaptcha-widget-id", "src", "class"],
  });
})();
