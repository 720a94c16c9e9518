/** A tiny argument parser: positionals, `--flag value`, `--flag=value`, `--no-flag`. */
export interface ParsedArgs {
  readonly positionals: string[];
  readonly flags: Map<string, string | boolean>;
}

/** A command-line mistake: one line for the user, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], booleans: readonly string[] = []): ParsedArgs {
  const positionals: string[] = [];
  const flags = new Map<string, string | boolean>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    if (name.startsWith('no-')) flags.set(name.slice(3), false);
    else if (inline !== undefined) flags.set(name, inline);
    else if (booleans.includes(name)) flags.set(name, true);
    else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
      i++;
    }
  }
  return { positionals, flags };
}

/** A flag as a positive whole number, or the default. */
export function intFlag(args: ParsedArgs, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = args.flags.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new UsageError(`--${name} ${String(raw)}: expected a whole number from 0 to ${max}`);
  return n;
}

export const stringFlag = (args: ParsedArgs, name: string): string | undefined => {
  const v = args.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};
