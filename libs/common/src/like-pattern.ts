/**
 * A LIKE/ILIKE pattern (PostgreSQL's default escape character, `\`) that matches any text
 * containing `text` as typed: `%`, `_` and `\` in it stand for themselves, not for wildcards.
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
