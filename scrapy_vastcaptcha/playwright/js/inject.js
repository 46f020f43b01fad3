/*
 * Put a solved token into one widget, found by the ref detect.js gave it.
 * Called with frame.evaluate(source, {ref, token}): the token only ever
 * arrives as data. Writes the widget's own fields (never other widgets'),
 * reads them back, and makes the library's own API answer with the token for
 * pages that ask it rather than read the fields: getResponse (reCAPTCHA,
 * hCaptcha, Turnstile), execute for reCAPTCHA and hCaptcha (resolving with
 * the token and calling the widget's callback, as the libraries do), reset
 * forgetting it. The callback is fired later by fire.js, once every widget of the page
 * holds its token.
 */
(arg) => {
  "use strict";
  const registry = window[Symbol.for("vastcaptcha")];
  const widget = registry ? registry.widgets[arg.ref] : undefined;
  if (!widget) {
    return { error: "the widget is gone (did the frame navigate?)" };
  }
  if (widget.container && !widget.container.isConnected) {
    return { error: "the widget was removed from the page" };
  }
  const token = String(arg.token);

  function setValue(field, value) {
    // The prototype's setter, so that frameworks that wrap .value still see it.
    const proto = field.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    const descriptor = Object.getOwnPropertyDescriptor(proto, "value");
    if (descriptor && descriptor.set) {
      descriptor.set.call(field, value);
    } else {
      field.value = value;
    }
    field.dispatchEvent(new Event("input", { bubbles: true }));
    field.dispatchEvent(new Event("change", { bubbles: true }));
  }

  const written = [];
  let readBack = true;
  for (const field of widget.fields) {
    if (!field.isConnected) {
      continue;
    }
    setValue(field, token);
    written.push(field.name || field.id || "");
    readBack = readBack && field.value === token;
  }
  widget.token = token;
  registry.tokens = registry.tokens || [];
  if (registry.tokens.indexOf(arg.ref) < 0) {
    registry.tokens.push(arg.ref);
  }

  const number = (ref) => Number(String(ref).slice(1)) || 0;

  // The widget of `provider` a page's API call names: a widget id, a site
  // key (reCAPTCHA's execute), the container or a selector of it
  // (Turnstile), or nothing for the first widget, as the libraries do.
  function owner(provider, target) {
    const candidates = registry.tokens
      .slice()
      .sort((a, b) => number(a) - number(b))
      .map((ref) => registry.widgets[ref])
      .filter((entry) => entry && entry.provider === provider && typeof entry.token === "string");
    if (target === undefined || target === null) {
      return candidates[0];
    }
    let element = target && typeof target === "object" && target.nodeType === 1 ? target : null;
    if (!element && provider === "turnstile" && typeof target === "string") {
      try {
        element = document.querySelector(target);
      } catch (error) {
        element = null; // a widget id, not a selector
      }
    }
    return candidates.find(
      (entry) =>
        (entry.widgetId !== null && entry.widgetId === String(target)) ||
        (provider === "recaptcha" && entry.sitekey === target) ||
        (element !== null && entry.container !== null && entry.container.contains(element))
    );
  }

  const MARK = Symbol.for("vastcaptcha.override");
  function override(api, method, make) {
    if (!api || typeof api[method] !== "function") {
      return false;
    }
    if (api[method][MARK]) {
      return true;
    }
    const replacement = make(api[method]);
    replacement[MARK] = true;
    try {
      api[method] = replacement;
    } catch (error) {
      return false;
    }
    return api[method] === replacement;
  }

  function overrideApi(provider, api) {
    override(api, "getResponse", (original) =>
      function (target) {
        const entry = owner(provider, target);
        return entry ? entry.token : original.apply(this, arguments);
      }
    );
    override(api, "reset", (original) =>
      function (target) {
        const entry = owner(provider, target);
        if (entry) {
          delete entry.token;
        }
        return original.apply(this, arguments);
      }
    );
    if (provider === "turnstile") {
      return false;
    }
    return override(api, "execute", (original) =>
      function (target, options) {
        // hCaptcha's execute takes (id, options) or (options)
        if (provider === "hcaptcha" && target && typeof target === "object") {
          options = target;
          target = undefined;
        }
        const entry = owner(provider, target);
        if (!entry) {
          return original.apply(this, arguments);
        }
        for (const field of entry.fields) {
          if (field.isConnected) {
            field.value = entry.token;
          }
        }
        let callback = entry.callback;
        if (typeof callback === "string") {
          callback = callback.split(".").reduce((value, part) => (value == null ? undefined : value[part]), window);
        }
        const token = entry.token;
        if (typeof callback === "function") {
          setTimeout(() => callback(token), 0);
        }
        if (provider === "hcaptcha") {
          return options && options.async ? Promise.resolve({ response: token, key: "" }) : undefined;
        }
        return Promise.resolve(token);
      }
    );
  }

  let executeOverridden = false;
  if (widget.provider === "recaptcha" && window.grecaptcha) {
    executeOverridden = overrideApi("recaptcha", window.grecaptcha);
    executeOverridden = overrideApi("recaptcha", window.grecaptcha.enterprise) || executeOverridden;
  } else if (widget.provider === "hcaptcha" || widget.provider === "turnstile") {
    overrideApi(widget.provider, window[widget.provider]);
  }
  return { error: null, written: written, readBack: readBack, executeOverridden: executeOverridden };
}
