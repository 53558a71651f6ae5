// What both demo pages (the room demo and the hub page) do to their DOM the same way.

/** The element with `id`; a page without it is a bug worth an error that names it. */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
};

const TOAST_MS = 4000;
let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** A short notice in the page's `#toast`, hidden again after a few seconds (a newer notice replaces it). */
export function toast(text: string): void {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, TOAST_MS);
}
