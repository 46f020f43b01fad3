/*
 * The bytes of an image captcha as a data: URI, or null when the page will not
 * give them (then the caller takes a screenshot of the element instead).
 * frame.evaluate(source, {ref}). The picture is fetched again from the HTTP
 * cache where possible, so the solver sees the original file, not a re-encoding.
 */
async (arg) => {
  "use strict";
  const registry = window[Symbol.for("vastcaptcha")];
  const widget = registry ? registry.widgets[arg.ref] : undefined;
  const element = widget ? widget.container : null;
  if (!element) {
    return null;
  }
  if (element.tagName === "CANVAS") {
    try {
      return element.toDataURL("image/png");
    } catch (error) {
      return null;
    }
  }
  const src = element.currentSrc || element.src;
  if (!src) {
    return null;
  }
  try {
    const response = await fetch(src, { credentials: "include", cache: "force-cache" });
    if (!response.ok) {
      return null;
    }
    const blob = await response.blob();
    return await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(typeof reader.result === "string" ? reader.result : null);
      reader.onerror = () => resolve(null);
      reader.readAsDataURL(blob);
    });
  } catch (error) {
    return null;
  }
}
