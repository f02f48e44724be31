const TEXT_INPUT_TYPES = new Set([
  "text",
  "search",
  "email",
  "number",
  "password",
  "tel",
  "url",
  "date",
  "datetime-local",
  "time",
  "month",
  "week",
]);

/** Whether keys pressed on `target` are typing, so that shortcuts must not act on them. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) {
    return false;
  }
  if (target.isContentEditable) {
    return true;
  }
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) {
    return true;
  }
  if (target instanceof HTMLInputElement) {
    return TEXT_INPUT_TYPES.has(target.type);
  }
  return false;
}

/** Whether Space on `target` activates it (a button, link or toggle), so a Space shortcut must not act. */
export function isActivatedBySpace(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) {
    return false;
  }
  if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) {
    return true;
  }
  return target instanceof HTMLInputElement && !TEXT_INPUT_TYPES.has(target.type);
}
