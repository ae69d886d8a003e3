import type { AttachRequest__Output } from '../../generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../../generated/runtime/v1/AttachResponse.js';
import { requireField } from '../../util/ids.js';
import type { CallContext } from '../context.js';

export async function containerAttach(req: AttachRequest__Output, ctx: CallContext): Promise<AttachResponse> {
  requireField(req.container_id, 'container_id');
  const url = await ctx.services.streaming.attach(req.container_id, { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, tty: req.tty });
  return { url };
}
