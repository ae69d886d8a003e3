import type { ContainerConfig__Output } from '../../generated/runtime/v1/ContainerConfig.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { ImageRuntimeConfig } from './types.js';

/**
 * Kubernetes' rule: `command` replaces ENTRYPOINT and drops CMD; `args` alone replace CMD;
 * neither keeps both from the image.
 */
export function processArgs(container: ContainerConfig__Output, image: ImageRuntimeConfig): string[] {
  let argv: string[];
  if (container.command.length > 0) argv = [...container.command, ...container.args];
  else if (container.args.length > 0) argv = [...(image.Entrypoint ?? []), ...container.args];
  else argv = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (argv.length === 0) throw new InvalidArgumentError('no command specified: the request has no command or args and the image has no ENTRYPOINT or CMD');
  return argv;
}

/** Defaults, then the image's environment, then the request's, a later key replacing an earlier one in place. */
export function processEnv(defaults: string[], container: ContainerConfig__Output, image: ImageRuntimeConfig): string[] {
  const env = new Map<string, string>();
  const put = (entry: string) => {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (key) env.set(key, eq < 0 ? '' : entry.slice(eq + 1));
  };
  for (const e of defaults) put(e);
  for (const e of image.Env ?? []) put(e);
  for (const kv of container.envs) {
    if (!kv.key) throw new InvalidArgumentError('an environment variable has an empty name');
    // KeyValue.value is a string in CRI; decoded as bytes here, it is UTF-8 either way.
    env.set(kv.key, kv.value.toString());
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

export function processCwd(container: ContainerConfig__Output, image: ImageRuntimeConfig): string {
  const cwd = container.working_dir || image.WorkingDir || '/';
  if (!cwd.startsWith('/')) throw new InvalidArgumentError(`working_dir "${cwd}" must be an absolute path`);
  return cwd;
}
