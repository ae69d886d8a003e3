import type { ExecRequest__Output } from '../../generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../../generated/runtime/v1/ExecResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function containerExec(req: ExecRequest__Output, ctx: CallContext): Promise<ExecResponse> {
  requireField(req.container_id, 'container_id');
  const url = await ctx.services.streaming.exec(req.container_id, req.cmd, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty });
  return { url };
}
