/**
 * The pinned Intel SGX Root CA: the only default trust anchor for PCK chains and for the TCB signing certificate.
 * The root certificate a quote carries is never trusted as such; it must equal this one byte for byte.
 */
import { X509Certificate } from 'node:crypto';

/** Intel SGX Root CA (valid 2018-05-21 .. 2049-12-31; SHA-256 of DER 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3). */
export const INTEL_SGX_ROOT_CA_PEM = `-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`;

/** SHA-256 of the pinned root's DER, lowercase hex; checked at load so an edited constant can't go unnoticed. */
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

let cached: X509Certificate | undefined;

/** The pinned Intel SGX Root CA certificate. */
export function intelSgxRootCa(): X509Certificate {
  if (!cached) {
    const cert = new X509Certificate(INTEL_SGX_ROOT_CA_PEM);
    if (cert.fingerprint256.replace(/:/g, '').toLowerCase() !== INTEL_SGX_ROOT_CA_SHA256) {
      throw new Error('pinned Intel SGX Root CA constant does not match its recorded SHA-256 (source edited?)');
    }
    cached = cert;
  }
  return cached;
}

/** The default anchors for TDX verification: the pinned Intel SGX Root CA only. */
export function defaultTdxAnchors(): readonly X509Certificate[] {
  return [intelSgxRootCa()];
}
