/**
 * The URL with its password replaced by ***, fit for logs and error messages. A comma-separated
 * list of URLs (a broker cluster) has each one's masked.
 */
export function redactUrl(url: string): string {
  if (url.includes(',')) return redactUrlsIn(url);
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // The parser may leave a second "user:password@" in the path of a malformed URL.
    return redactUrlsIn(u.toString());
  } catch {
    return '(unparseable URL)';
  }
}

const MASK = '***';

/**
 * `text` with the password of every URL in it masked (`scheme://user:***@host`): any number of
 * URLs, comma-separated lists, URLs inside longer messages or JSON, and URLs too broken to
 * parse (a bad port, a space) alike. The user info runs to the last `@` before a space or a
 * comma, so a password holding an `@` is masked whole; a URL with no password is left as it is.
 */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)([^\s,"']*)@/gi, (whole, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon < 0 ? whole : `${scheme}${userinfo.slice(0, colon)}:${MASK}@`;
  });
}

/**
 * Masks known secret values wherever they appear in a text (tokens, passwords), longest first so
 * that a secret containing another is masked whole. Values shorter than `minLength` are left
 * alone: masking every "abc" would garble a text more than it protects.
 */
export class SecretMasker {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string>, minLength = 6) {
    // Each also as it appears inside a JSON string (a log line): quotes and backslashes escaped.
    const forms = [...secrets].filter((s) => s.length >= minLength).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
    this.secrets = [...new Set(forms)].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  /** The text with every known secret, and every URL password, masked. */
  mask(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(MASK);
    return redactUrlsIn(out);
  }
}

/** The passwords of every URL in `text` (a URL, or a comma-separated list of them), for a SecretMasker. */
export function urlPasswords(text: string): string[] {
  const found: string[] = [];
  text.replace(/[a-z][a-z0-9+.-]*:\/\/([^\s,"']*)@/gi, (whole, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon >= 0) {
      const raw = userinfo.slice(colon + 1);
      found.push(raw);
      try {
        found.push(decodeURIComponent(raw));
      } catch {
        // not percent-encoded properly: the raw form is the one that can appear
      }
    }
    return whole;
  });
  return found;
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
