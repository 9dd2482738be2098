#!/usr/bin/env bash
# `npm run demo:attestation`: verify the bundled real evidence with `ccmesh attest verify`, the same command
# operators use, then a simulated platform's evidence. (`npm run demo` runs the whole mesh: `ccmesh demo`.)
set -u
cd "$(dirname "$0")/.."
d=testdata/attestation
run() {
  local title=$1; shift
  printf '\n== %s\n$ ccmesh %s\n' "$title" "$*"
  ./bin/ccmesh "$@"
  printf '(exit %s)\n' "$?"
}
run "AMD SEV-SNP report (Milan, VCEK) — expected: accepted" \
  attest verify --format snp --evidence $d/snp/gsg-milan-v2.report.bin --cert $d/snp/gsg-milan-v2.vcek.der --chain $d/snp/ask_ark_milan.pem --at 2024-01-01T00:00:00Z
run "The same report with one REPORT_DATA bit flipped — expected: rejected" \
  attest verify --format snp --evidence $d/snp/negative/gsg-milan-v2.report.reportdata-bitflip.bin --cert $d/snp/gsg-milan-v2.vcek.der --chain $d/snp/ask_ark_milan.pem --at 2024-01-01T00:00:00Z
run "The genuine report checked against the Genoa chain — expected: rejected" \
  attest verify --format snp --evidence $d/snp/gsg-milan-v2.report.bin --cert $d/snp/gsg-milan-v2.vcek.der --chain $d/snp/ask_ark_genoa.pem --at 2024-01-01T00:00:00Z
run "Intel TDX quote v4 with full collateral — expected: accepted, TCB UpToDate" \
  attest verify --format tdx --evidence $d/tdx/quote-v4-trustee-q4.dat --collateral $d/tdx/collateral --at 2023-07-01T01:00:00Z
run "Intel TDX quote v4 whose platform TCB is below every level — expected: rejected (no matching TCB level)" \
  attest verify --format tdx --evidence $d/tdx/quote-v4-gtg-spr-e4.dat --collateral $d/tdx/collateral --at 2023-07-01T01:00:00Z
sim=$(mktemp -d)
trap 'rm -rf "$sim"' EXIT
printf '\n== A simulated SEV-SNP platform (no hardware here): create it, issue a report, verify it\n'
./bin/ccmesh attest simulate init --out "$sim/platform"
./bin/ccmesh attest issue --tee simulated --sim-dir "$sim/platform" --report-data "$(printf 'c0ffee%0122d' 0)" --out "$sim/report.bin"
run "Simulated evidence against the pinned AMD roots — expected: rejected" \
  attest verify --format snp --evidence "$sim/report.bin" --cert "$sim/report.bin.vcek.der" --chain "$sim/report.bin.chain.pem"
run "Simulated evidence with its ARK named explicitly — expected: accepted (development only)" \
  attest verify --format snp --evidence "$sim/report.bin" --cert "$sim/report.bin.vcek.der" --chain "$sim/report.bin.chain.pem" --root "$sim/platform/ark.pem"
printf '\nDone: the accepted/rejected lines above come from the same verifier the Coordinator uses.\n'
