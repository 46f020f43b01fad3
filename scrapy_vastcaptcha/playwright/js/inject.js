/*
 * Put a solved token into one widget, found by the ref detect.js gave it.
 * Called with frame.evaluate(source, {ref, token}): the token only ever
 * arrives as data. Writes the widget's own fields (never other widgets'),
 * reads them back, and for reCAPTCHA makes grecaptcha.execute (and
 * grecaptcha.enterprise.execute) resolve with the token, for pages that ask
 * for it themselves at submit time. The callback is fired later by fire.js,
 * once every widget of the page holds its token.
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

  let executeOverridden = false;
  if (widget.provider === "recaptcha") {
    registry.recaptchaTokens = registry.recaptchaTokens || [];
    registry.recaptchaTokens.push({ sitekey: widget.sitekey, widgetId: widget.widgetId, ref: arg.ref });
    const WRAPPED = Symbol.for("vastcaptcha.execute");
    const lookup = (target) => {
      const entries = registry.recaptchaTokens;
      for (let index = entries.length - 1; index >= 0; index--) {
        const entry = entries[index];
        const match =
          target === undefined ||
          target === null ||
          entry.sitekey === target ||
          (entry.widgetId !== null && entry.widgetId === String(target));
        if (match) {
          return registry.widgets[entry.ref];
        }
      }
      return undefined;
    };
    const override = (api) => {
      if (!api || typeof api.execute !== "function") {
        return false;
      }
      if (api.execute[WRAPPED]) {
        return true;
      }
      const original = api.execute;
      const execute = function (target) {
        const owner = lookup(target);
        if (!owner || typeof owner.token !== "string") {
          return original.apply(this, arguments);
        }
        for (const field of owner.fields) {
          if (field.isConnected) {
            field.value = owner.token;
          }
        }
        return Promise.resolve(owner.token);
      };
      execute[WRAPPED] = true;
      try {
        api.execute = execute;
      } catch (error) {
        return false;
      }
      return api.execute === execute;
    };
    const grecaptcha = window.grecaptcha;
    if (grecaptcha) {
      executeOverridden = override(grecaptcha);
      executeOverridden = override(grecaptcha.enterprise) || executeOverridden;
    }
  }
  return { error: null, written: written, readBack: readBack, executeOverridden: executeOverridden };
}
