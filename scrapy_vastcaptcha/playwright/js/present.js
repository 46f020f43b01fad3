/*
 * Whether one widget is still there: frame.evaluate(source, {ref, document}).
 * False once the frame holds another document (it navigated, say after the
 * form was submitted) or the widget's container left the page.
 */
(arg) => {
  "use strict";
  const registry = window[Symbol.for("vastcaptcha")];
  if (!registry || registry.document !== arg.document) {
    return false;
  }
  const widget = registry.widgets[arg.ref];
  return Boolean(widget) && (!widget.container || widget.container.isConnected);
}
