import { parseArgs } from 'node:util';
import { loadConfig, configToToml, ConfigError, DEFAULT_CONFIG_PATH, type Config } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { startDaemon, packageVersion } from '../daemon/index.js';
import { messageOf } from '../errors/index.js';
import { armedFailpoints } from '../failpoints/index.js';
import { CONFIG_FLAGS } from './flags.js';

function usage(): string {
  const lines = [
    'runcri: a Kubernetes container runtime (CRI v1)',
    '',
    'Usage: runcri [command] [flags]',
    '',
    'Commands:',
    '  serve     serve the CRI API on the socket (the default command)',
    '  config    print the effective configuration as TOML',
    '  version   print the version',
    '',
    'Flags (each overrides the config file):',
    `  --config PATH${' '.repeat(18)}config file (default ${DEFAULT_CONFIG_PATH}; read if present)`,
  ];
  for (const f of CONFIG_FLAGS) {
    const name = f.type === 'boolean' ? `--${f.flag}` : `--${f.flag} ${f.type === 'integer' ? 'N' : 'VALUE'}`;
    lines.push(`  ${name.padEnd(31)}${f.help}`);
  }
  lines.push(`  ${'--help, -h'.padEnd(31)}this text`);
  return lines.join('\n');
}

function parse(argv: string[]): { command: string; config: Config } | { command: 'help' } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    config: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const f of CONFIG_FLAGS) options[f.flag] = { type: f.type === 'boolean' ? 'boolean' : 'string', multiple: f.type === 'list' };
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  const command = positionals[0] ?? 'serve';
  if (values.help || command === 'help') return { command: 'help' };
  if (positionals.length > 1) throw new ConfigError('arguments', `unexpected "${positionals.slice(1).join(' ')}"`);
  if (!['serve', 'config', 'version'].includes(command)) throw new ConfigError('command', `unknown command "${command}"`);
  const overrides: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) {
    const value = values[f.flag];
    if (value === undefined) continue;
    if (f.type === 'integer') {
      const n = Number(value);
      if (!Number.isInteger(n)) throw new ConfigError(`--${f.flag}`, `expected an integer, got "${String(value)}"`);
      overrides[f.key] = n;
    } else {
      overrides[f.key] = value;
    }
  }
  const config = command === 'version' ? ({} as Config) : loadConfig({ path: values.config as string | undefined, overrides });
  return { command, config };
}

async function serve(config: Config): Promise<void> {
  const log = createLogger(config.log_level);
  const failpoints = armedFailpoints();
  if (failpoints.length > 0) log.warn({ failpoints }, 'failpoints are armed (RUNCRI_FAILPOINTS): this daemon fails or dies on purpose');
  const daemon = await startDaemon(config, log);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down; containers keep running');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: messageOf(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (err) => log.error({ err: err instanceof Error ? err.stack : String(err) }, 'unhandled rejection'));
}

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`runcri: ${messageOf(err)}\n`);
    return 2;
  }
  switch (parsed.command) {
    case 'help':
      process.stdout.write(`${usage()}\n`);
      return 0;
    case 'version':
      process.stdout.write(`runcri ${packageVersion()}\n`);
      return 0;
    case 'config':
      process.stdout.write(configToToml((parsed as { config: Config }).config));
      return 0;
    default:
      try {
        await serve((parsed as { config: Config }).config);
      } catch (err) {
        process.stderr.write(`runcri: ${messageOf(err)}\n`);
        return 1;
      }
      return -1;
  }
}

// No top-level await: the daemon also ships as one CommonJS bundle (see build/bundle.mjs).
void main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exitCode = code;
});
