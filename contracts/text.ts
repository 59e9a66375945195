/** Text read from policy files and tokens: what no name, path, header value or claim may hold. */

/** Whether a string holds a C0 control character or DEL (a line break, an escape, NUL…). */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
