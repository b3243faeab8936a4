// Command lines of the benchmark scripts: strict options, --help / -h prints
// the usage, and a mistake prints what is wrong and the usage, exit 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export function usageError(usage: string, problem: string): never {
  console.error(`${problem}\n\n${usage}`);
  process.exit(2);
}

export function benchArgs<const O extends Options>(usage: string, options: O) {
  const config = { options: { ...options, ...HELP }, strict: true, allowPositionals: false } as const;
  let values: ReturnType<typeof parseArgs<typeof config>>['values'];
  try {
    values = parseArgs(config).values;
  } catch (e) {
    usageError(usage, e instanceof Error ? e.message : String(e));
  }
  if ((values as { help?: boolean }).help === true) {
    console.log(usage);
    process.exit(0);
  }
  return values;
}
