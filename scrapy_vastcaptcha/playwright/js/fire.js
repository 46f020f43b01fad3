/*
 * Call the callback detect.js found for one widget with its token:
 * frame.evaluate(source, {ref}). A callback given by name is looked up as a
 * (possibly dotted) global now, never evaluated as code.
 */
(arg) => {
  "use strict";
  const registry = window[Symbol.for("vastcaptcha")];
  const widget = registry ? registry.widgets[arg.ref] : undefined;
  if (!widget || typeof widget.token !== "string") {
    return { fired: false, error: "the widget is gone (did the frame navigate?)" };
  }
  let callback = widget.callback;
  let self = window;
  if (typeof callback === "string") {
    let target = window;
    for (const part of callback.split(".")) {
      self = target;
      target = target === null || target === undefined ? undefined : target[part];
    }
    callback = target;
  }
  if (typeof callback !== "function") {
    return { fired: false, error: null };
  }
  try {
    callback.call(self, widget.token);
  } catch (error) {
    return { fired: true, error: String(error && error.message ? error.message : error) };
  }
  return { fired: true, error: null };
}
