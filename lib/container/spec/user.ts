import type { LinuxContainerSecurityContext__Output } from '../../generated/runtime/v1/LinuxContainerSecurityContext.js';
import { InvalidArgumentError } from '../../errors/index.js';
import type { EffectiveUser, RootfsIdentity } from './types.js';

interface PasswdEntry { name: string; uid: number; gid: number }
interface GroupEntry { name: string; gid: number; members: string[] }

const NUMERIC = /^\d+$/;

function parsePasswd(text: string | undefined): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#') || !NUMERIC.test(f[2]!) || !NUMERIC.test(f[3]!)) continue;
    entries.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) });
  }
  return entries;
}

function parseGroup(text: string | undefined): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of (text ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#') || !NUMERIC.test(f[2]!)) continue;
    entries.push({ name: f[0]!, gid: Number(f[2]), members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return entries;
}

function parseId(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(`${what} ${text} is not a valid ID`);
  return n;
}

/**
 * The process identity, by Kubernetes' rules: run_as_username / run_as_user win over the
 * image's USER (`uid`, `name`, `uid:gid`, `name:group`), names resolve in the container's own
 * /etc/passwd and /etc/group, run_as_group overrides the gid, and the user's groups from
 * /etc/group join the request's supplemental groups unless the policy is Strict.
 */
export function resolveUser(sc: LinuxContainerSecurityContext__Output | null | undefined, imageUser: string | undefined, identity: RootfsIdentity): EffectiveUser {
  // A group alone would run as the image's user with another primary group, which the user
  // did not ask for; kubelet's validation and the peers refuse it the same way.
  if (sc?.run_as_group && !sc.run_as_user && !sc.run_as_username) {
    throw new InvalidArgumentError('security_context.run_as_group is set without run_as_user or run_as_username');
  }
  const passwd = parsePasswd(identity.passwd);
  const groups = parseGroup(identity.group);
  let uid: number;
  let gid: number | undefined;
  let userName: string | undefined;

  const byName = (name: string): PasswdEntry => {
    const entry = passwd.find((p) => p.name === name);
    if (!entry) throw new InvalidArgumentError(`user "${name}" not found in the container's /etc/passwd`);
    return entry;
  };

  if (sc?.run_as_username) {
    const entry = byName(sc.run_as_username);
    uid = entry.uid;
    gid = entry.gid;
    userName = entry.name;
  } else if (sc?.run_as_user) {
    uid = parseId(sc.run_as_user.value, 'run_as_user');
  } else {
    const [userPart = '', groupPart] = (imageUser ?? '').split(':', 2);
    if (userPart === '') {
      uid = 0;
    } else if (NUMERIC.test(userPart)) {
      uid = parseId(userPart, 'image USER');
    } else {
      const entry = byName(userPart);
      uid = entry.uid;
      gid = entry.gid;
      userName = entry.name;
    }
    if (groupPart !== undefined && groupPart !== '') {
      if (NUMERIC.test(groupPart)) gid = parseId(groupPart, 'image USER group');
      else {
        const entry = groups.find((g) => g.name === groupPart);
        if (!entry) throw new InvalidArgumentError(`group "${groupPart}" not found in the container's /etc/group`);
        gid = entry.gid;
      }
    }
  }

  const passwdEntry = passwd.find((p) => p.uid === uid);
  userName ??= passwdEntry?.name;
  gid ??= passwdEntry?.gid ?? 0;
  if (sc?.run_as_group) gid = parseId(sc.run_as_group.value, 'run_as_group');

  const all: number[] = [gid];
  const add = (g: number) => {
    if (!all.includes(g)) all.push(g);
  };
  if (sc?.supplemental_groups_policy !== 'Strict' && userName !== undefined) {
    for (const g of groups) if (g.members.includes(userName)) add(g.gid);
  }
  for (const g of sc?.supplemental_groups ?? []) add(parseId(g, 'supplemental group'));
  return { uid, gid, groups: all };
}
