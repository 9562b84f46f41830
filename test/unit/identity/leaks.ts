// Test helper: does a message, a log line or an output show any part of a community key?

/** True when `s` holds any 8 consecutive hex digits of the key part of a community key text. */
export function leaks (s: string, text: string): boolean {
  const body = text.slice(text.indexOf(':') + 1).toLowerCase().slice(0, 64)
  const hay = s.toLowerCase()
  for (let i = 0; i + 8 <= body.length; i++) if (hay.includes(body.slice(i, i + 8))) return true
  return false
}
