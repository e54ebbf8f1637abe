/**
 * `pauseOn.outputMatches` patterns: plain text matches as a case-insensitive substring of a line;
 * `/source/flags` is a regular expression (flags i, m, s, u), tested against each line.
 */
const REGEX_LITERAL = /^\/(.+)\/([a-z]*)$/s;
const ALLOWED_FLAGS = /^[imsu]*$/;

export type LineTest = (line: string) => boolean;

/** What is wrong with a pattern, or undefined when it compiles. */
export function outputPatternProblem(pattern: string): string | undefined {
  try {
    compileOutputPattern(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

export function compileOutputPattern(pattern: string): LineTest {
  const literal = REGEX_LITERAL.exec(pattern);
  if (!literal) {
    const needle = pattern.toLowerCase();
    return (line) => line.toLowerCase().includes(needle);
  }
  const [, source, flags] = literal;
  if (!ALLOWED_FLAGS.test(flags)) throw new Error(`${pattern}: flags may only be i, m, s and u`);
  let regex: RegExp;
  try {
    regex = new RegExp(source, flags);
  } catch (err) {
    throw new Error(`${pattern}: not a valid regular expression (${(err as Error).message})`);
  }
  return (line) => regex.test(line);
}
