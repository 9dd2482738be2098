/**
 * The root of the pod's `ccmesh` volume (`/ccmesh`, `--volume-root`), closed once the initializer has written into
 * it. An emptyDir's root is writable by everyone (0777; tmpfs makes it 1777; with `fsGroup` the kubelet also makes it
 * group-writable and setgid), so any container mounting the volume writable — `inject` makes every user mount
 * read-only, but a pod injected by hand or an ephemeral container may not be — could rename `/ccmesh/tls` away and
 * put a directory of its own at that name. Afterwards the root is 0755 and belongs to the TLS owner (the sidecar,
 * which writes `/ccmesh/ready` there); nobody else but root with CAP_FOWNER/CAP_DAC_OVERRIDE may rename in it.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { CcmeshError, ErrorCode } from '../lib/errors.js';

/** Mode of the volume root once closed: the owner writes, everyone reads and traverses. */
export const VOLUME_ROOT_MODE = 0o755;

/**
 * Makes `dir` mode {@link VOLUME_ROOT_MODE} and, with `owner`, hands it to that uid (group unchanged). Never through a
 * link: the directory is opened with O_NOFOLLOW and changed through that descriptor. The mode is set first, while the
 * initializer (root without CAP_FOWNER) still owns it. Throws CREDENTIALS_DIR_UNSAFE naming the directory when it
 * can't: the pod would otherwise run with a volume root every container may write.
 */
export async function closeVolumeRoot(dir: string, owner: number | undefined): Promise<void> {
  try {
    const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    try {
      await fh.chmod(VOLUME_ROOT_MODE);
      if (owner !== undefined) await fh.chown(owner, -1);
    } finally {
      await fh.close();
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CcmeshError(ErrorCode.CREDENTIALS_DIR_UNSAFE, `the pod volume root ${dir} can't be closed to other containers (expected a directory, not a link, that this process owns, to make it mode ${VOLUME_ROOT_MODE.toString(8)}${owner === undefined ? '' : ` and hand to uid ${owner}`}): ${why}`, { cause: err });
  }
}
