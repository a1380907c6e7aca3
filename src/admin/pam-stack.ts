// sshd's PAM stack as cellsh reads it: every line of a service file and the
// files it pulls in. doctor checks it; apply opens forwarding only where
// pam_cellsh is in it.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Every line of a PAM service file and the files it pulls in (`@include X`,
 *  `include X`, `substack X`), comments and blanks left out, with where it is. */
function pamLines(file: string, seen = new Set<string>()): Array<{ file: string; line: number; text: string }> {
  if (seen.has(file)) return [];
  seen.add(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const found: Array<{ file: string; line: number; text: string }> = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*/, '').trim();
    const pulled = /^@include\s+(\S+)/.exec(line) ?? /^-?\w+\s+(?:include|substack)\s+(\S+)/.exec(line);
    if (pulled) found.push(...pamLines(resolve(dirname(file), pulled[1]), seen));
    else if (line) found.push({ file, line: i + 1, text: line });
  });
  return found;
}

/** Every pam_env line with user_readenv=1 in a PAM service file and the files it pulls in. */
export function pamEnvReaders(file: string): Array<{ file: string; line: number }> {
  return pamLines(file)
    .filter((l) => /\bpam_env\.so\b/.test(l.text) && /\buser_readenv=1\b/.test(l.text))
    .map(({ file: f, line }) => ({ file: f, line }));
}

/** The session lines of a PAM service that load pam_cellsh as required (or requisite), with the module's
 * path. A "-session" line does not count: it skips a missing module, and so would fail open. */
export function pamCellshLines(file: string): Array<{ file: string; line: number; module: string }> {
  return pamLines(file).flatMap((l) => {
    const m = /^session\s+(required|requisite)\s+(\S*pam_cellsh\.so)\b/.exec(l.text);
    return m ? [{ file: l.file, line: l.line, module: m[2]! }] : [];
  });
}
