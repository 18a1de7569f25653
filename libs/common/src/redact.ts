/** The URL with its password replaced by ***, fit for logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Like redactUrl, for text that should be a URL but may not be one ("user:secret@host", a list
 * with a typo): whatever stands before an @ is hidden when it cannot be parsed as a URL.
 */
export function redactUrlLoosely(text: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const redacted = redactUrl(text);
    if (redacted !== '(unparseable URL)') return redacted;
  }
  const at = text.lastIndexOf('@');
  return at >= 0 ? `***${text.slice(at)}` : text;
}
