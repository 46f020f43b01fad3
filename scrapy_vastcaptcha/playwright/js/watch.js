/*
 * Top frame only. Without an argument: where the page stands now, as
 * {epoch, frames}. With that value as argument (for wait_for_function): true
 * once any frame reported a change since then, or frames came or went.
 *
 * epoch counts the "changed" messages that detect.js and hook.js post from
 * every frame (cross-origin ones too); frames describes the frame tree, which
 * window.frames exposes across origins.
 */
(since) => {
  "use strict";
  const KEY = Symbol.for("vastcaptcha");
  let registry = window[KEY];
  if (!registry) {
    registry = { hooks: [], widgets: Object.create(null), refs: new WeakMap(), nextRef: 1, epoch: 0 };
    Object.defineProperty(window, KEY, { value: registry });
  }
  if (!registry.listening) {
    registry.listening = true;
    window.addEventListener("message", (event) => {
      if (event.data && event.data.vastcaptcha === "changed") {
        registry.epoch += 1;
      }
    });
  }
  function shape(win) {
    let count = 0;
    try {
      count = win.frames.length;
    } catch (error) {
      return "?";
    }
    let text = "";
    for (let index = 0; index < count; index++) {
      text += "[" + shape(win.frames[index]) + "]";
    }
    return text;
  }
  if (!since) {
    return { epoch: registry.epoch, frames: shape(window) };
  }
  return registry.epoch !== since.epoch || shape(window) !== since.frames;
}
