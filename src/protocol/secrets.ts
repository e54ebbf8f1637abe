/**
 * Values of environment variables whose names look secret (`API_TOKEN`, `DB_PASSWORD`…) never go
 * into a file the tools write or a message they print: wherever such a value appears in a reason,
 * an error or a message, it is replaced by "***". A step's own output (logs/) and its own data
 * (outputs, TASK_STEP_STATE) are kept as the step wrote them.
 */

export const MASK = '***';
/** Shorter values are not masked: masking "1" or "yes" would garble every message. */
export const MIN_SECRET_LENGTH = 4;
/**
 * The same for the runner's own environment, whose names nobody chose for this task: a
 * `GNOME_KEYRING_…` or `…_KEYBOARD` value is more likely a word or a path than a secret.
 */
const MIN_INHERITED_LENGTH = 8;

const SECRET_NAME = /TOKEN|SECRET|KEY|PASSWORD|PASSWD|CREDENTIAL/i;
export const isSecretName = (name: string) => SECRET_NAME.test(name);

/** The values to mask: the definition's (task and steps), and `env`'s (the runner's own environment, which steps inherit). */
/** The parts of a definition that hold env variables (a TaskDefinition fits): no import of the schemas, which import this. */
export interface EnvHolder {
  env?: Record<string, string>;
  steps: readonly { env?: Record<string, string> }[];
}

export function secretValues(def: EnvHolder | undefined, env: NodeJS.ProcessEnv = {}): string[] {
  const values = new Set<string>();
  const add = (vars: Record<string, string | undefined> | undefined, min = MIN_SECRET_LENGTH) => {
    for (const [name, value] of Object.entries(vars ?? {})) if (value && value.length >= min && isSecretName(name)) values.add(value);
  };
  add(env, MIN_INHERITED_LENGTH);
  add(def?.env);
  for (const step of def?.steps ?? []) add(step.env);
  // Longest first: a secret that contains another is masked whole.
  return [...values].sort((a, b) => b.length - a.length);
}

export type Redact = (text: string) => string;

export const noRedaction: Redact = (text) => text;

/** A function that masks every occurrence of `values` in a text. */
export function redactor(values: string[]): Redact {
  if (!values.length) return noRedaction;
  // Split and join, longest first, not one regular expression: V8 cannot compile one for a value
  // of 60,000 characters (a key file in an env variable), and every message would throw.
  return (text) => values.reduce((t, v) => (t.includes(v) ? t.split(v).join(MASK) : t), text);
}

/** A copy of a JSON-like value with every string masked. */
export function redactDeep<T>(value: T, redact: Redact): T {
  if (redact === noRedaction) return value;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}
