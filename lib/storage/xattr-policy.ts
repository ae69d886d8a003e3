/**
 * Which extended attributes from a layer (PAX `SCHILY.xattr.*` records) are written to disk.
 *
 * - `security.capability`: applied as the bytes say. File capabilities are how images give a
 *   program like ping `cap_net_raw` without setuid; the container's bounding set still limits
 *   what they can grant.
 * - `user.*`: applied; they carry no privilege.
 * - `trusted.*`: refused. Only root on the host may set them, and overlay keeps its own
 *   bookkeeping there (`trusted.overlay.opaque`, `.redirect`, `.origin`...): an image that set
 *   them could forge whiteouts or point a directory at another layer's contents.
 * - every other `security.*` (SELinux labels, IMA/EVM signatures, ...): refused; they belong to
 *   the host's security modules, not to an image.
 * - anything else (`system.*` ACLs, unknown namespaces): refused.
 *
 * A refused attribute is reported in the unpack statistics and logged by the pull.
 */
export type XattrVerdict = { apply: true } | { apply: false; reason: string };

export function xattrVerdict(name: string): XattrVerdict {
  if (name === 'security.capability') return { apply: true };
  if (name.startsWith('user.') && name.length > 'user.'.length) return { apply: true };
  if (name.startsWith('trusted.')) return { apply: false, reason: 'trusted.* attributes belong to the host (overlay keeps its own there)' };
  if (name.startsWith('security.')) return { apply: false, reason: 'security.capability is the only security.* attribute an image may set' };
  return { apply: false, reason: 'only user.* and security.capability attributes are applied' };
}
