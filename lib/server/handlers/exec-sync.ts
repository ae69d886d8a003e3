import type { ExecSyncRequest__Output } from '../../generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../../generated/runtime/v1/ExecSyncResponse.js';
import type { CallContext } from '../context.js';

export async function execSync(req: ExecSyncRequest__Output, ctx: CallContext): Promise<ExecSyncResponse> {
  const timeout = Math.max(0, Number(req.timeout || '0'));
  const r = await ctx.services.containers.execSync(req.container_id, req.cmd, timeout, ctx.signal);
  return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
}
